"""Benchmark of the game abstraction (paper Section 5, Table 3, the K sweep).

Run ``python benchmarks/bench_abstraction.py`` (about 2-3 minutes; ``--quick`` for a short
run). Three parts:

1. **Profit on held-out scenarios.** The test split (base days 85-99 of the panel, never seen in
   training) of the scenarios built as the shipped weights' record says (same count and seed).
   For DA (the shipped network), MIN and AVG at ``K = 1..4``, SPITER prices the target in the
   abstracted game; the price is evaluated in the true game and divided by the exact optimum.
   Mean and worst shares are printed, overall and per family, and the goals are checked:
   DA ``K = 2`` mean >= 97 % and worst >= 95 %; DA beats MIN and AVG on mean and worst.
2. **Where abstraction pays.** Seeded generated markets (``prillm.synthetic.plausible_market``)
   of 20 users x 50 providers up to 200 users x 500 providers: the exact path on the full
   market against SPITER on the full market, DA + SPITER and DA + exact (``K = 2``); wall
   times (the abstraction included, the shortest of ``--repeats`` runs), each one's time over
   the exact path's on the same market, and profit shares of the exact optimum.
3. **Training step.** The curve loss of paper Eq. (7) forward and backward on a batch of
   Economy-8 scenarios x 16 sampled prices, with the abstracted games solved by one batched
   equilibrium call against the per-game engine (``engine="exact"``), and the largest
   difference of their losses and gradients.

Timings are wall times on whatever machine runs this; on a shared machine they are noisy, so
ratios measured in the same run are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from prillm.abstraction import build_scenarios, load_weights
from prillm.abstraction.dataset import SPLIT_DAYS
from prillm.abstraction.evaluation import (
    profit_records,
    summarise,
    timing_records,
    timing_summary,
)

#: (users, providers) of part 2.
SIZES = [(20, 50), (50, 100), (100, 200), (200, 500)]
QUICK_SIZES = [(20, 50), (50, 100)]
#: The test split's base days (the panel has 100 days).
TEST_DAYS = range(SPLIT_DAYS[1], 100)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def profits(
    weights: str | None, limit: int | None, fresh: tuple[int, int] | None = None
) -> tuple[list[dict], bool]:
    net = load_weights(weights)
    meta = net.meta
    if fresh is None:
        scenarios = build_scenarios(meta["scenarios"], meta["seed"])
        test = [s for s in scenarios if s.split == "test"]
        where = f"of the {meta['scenarios']} built with seed {meta['seed']}"
    else:
        # a pool never used to train, select or diagnose: new draws on the test days only
        seed, n = fresh
        test = [s for s in build_scenarios(n, seed, days=TEST_DAYS) if s.n_rivals > 2]
        where = f"(more than two rivals) of a fresh pool of {n} built with seed {seed}"
    if limit is not None:
        test = test[:limit]
    print(f"held-out test split: {len(test)} scenarios (base days 85-99) {where}")
    t0 = time.perf_counter()
    rows = profit_records(test, weights=net)
    print(f"evaluated in {time.perf_counter() - t0:.1f} s\n")
    summary = summarise(rows)
    print(
        _table(
            ["method", "K", "mean share", "worst share", "scenarios"],
            [
                [r["method"], str(r["K"]), f"{r['mean']:.4%}", f"{r['worst']:.4%}", str(r["count"])]
                for r in summary
            ],
        )
    )
    print("\nper family, K = 2 (Economy-8: 7 rivals, Economy-6: 5 rivals; paper Table 3):")
    fam = [r for r in summarise(rows, by=("family", "method", "K")) if r["K"] == 2]
    print(
        _table(
            ["family", "method", "mean share", "worst share", "scenarios"],
            [
                [r["family"], r["method"], f"{r['mean']:.4%}", f"{r['worst']:.4%}", str(r["count"])]
                for r in fam
            ],
        )
    )
    by = {(r["method"], r["K"]): r for r in summary}
    da, mn, av = by[("da", 2)], by[("min", 2)], by[("avg", 2)]
    checks = {
        "DA K=2 mean >= 97 %": da["mean"] >= 0.97,
        "DA K=2 worst >= 95 %": da["worst"] >= 0.95,
        "DA beats MIN on mean and worst (K=2)": da["mean"] > mn["mean"]
        and da["worst"] > mn["worst"],
        "DA beats AVG on mean and worst (K=2)": da["mean"] > av["mean"]
        and da["worst"] > av["worst"],
    }
    print()
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return rows, all(checks.values())


def timings(
    sizes: list[tuple[int, int]], n_markets: int, repeats: int, weights: str | None
) -> list[dict]:
    net = load_weights(weights)
    print(
        f"\nwhere abstraction pays: {n_markets} seeded market(s) per size, "
        f"best of {repeats} run(s) per pipeline"
    )
    rows = timing_records(
        sizes, n_markets=n_markets, seed=0, weights=net, progress=print, repeats=repeats
    )
    print(
        "\n"
        + _table(
            [
                "users x providers",
                "pipeline",
                "median ms",
                "of which abstraction",
                "time / exact (same run)",
                "mean share",
                "worst share",
                "breakpoints",
            ],
            [
                [
                    f"{r['users']}x{r['providers']}",
                    r["pipeline"],
                    f"{r['time_ms']:.1f}",
                    f"{r['abstraction_ms']:.1f}",
                    f"{r['time_over_exact']:.2f}",
                    f"{r['mean_share']:.4%}",
                    f"{r['worst_share']:.4%}",
                    f"{r['breakpoints']:.0f}",
                ]
                for r in timing_summary(rows)
            ],
        )
    )
    return rows


def training_step(n_scenarios: int, n_prices: int, reps: int) -> list[dict]:
    """Eq. (7) forward + backward with the batched and the per-game equilibrium."""
    import torch

    from prillm.abstraction import FEATURE_NAMES, NetworkConfig, ScoreNetwork
    from prillm.abstraction.aggregate import merge_rivals
    from prillm.abstraction.curves import abstract_profits, curve_loss
    from prillm.abstraction.prepare import PreparedScenarios, sample_prices
    from prillm.torch_equilibrium import torch_threads

    data = PreparedScenarios(build_scenarios(n_scenarios, seed=0, families=["Economy-8"]))
    g = next(iter(data.groups.values()))
    torch.manual_seed(0)
    net = ScoreNetwork(NetworkConfig(n_features=len(FEATURE_NAMES)))
    prices_np = sample_prices(g.p_max, n_prices, np.random.default_rng(0))
    prices = torch.as_tensor(prices_np)
    y = torch.as_tensor(g.exact_curves(prices_np))
    print(
        f"\ntraining step: {g.size} Economy-8 scenarios x {n_prices} prices "
        f"({g.size * n_prices} abstracted games of {g.target.demand.shape[1]} users x 3 "
        f"providers, K = 2), Eq. (7) forward + backward, best of {reps}, one torch thread"
    )
    rows, out = [], {}
    for engine in ("exact", "batched"):
        times = []
        for _ in range(reps):
            net.zero_grad()
            with torch_threads(1):
                t0 = time.perf_counter()
                s_sum, s_avg = net(g.features)
                merged, _, _ = merge_rivals(g.rivals, s_sum, s_avg, 2)
                loss = curve_loss(y, abstract_profits(g.target, merged, prices, engine=engine))
                loss.backward()
                times.append(time.perf_counter() - t0)
        grad = torch.cat([q.grad.flatten() for q in net.parameters()])
        out[engine] = (float(loss.detach()), grad)
        rows.append({"engine": engine, "best_s": min(times), "median_s": float(np.median(times))})
    ref = rows[0]["best_s"]
    print(
        _table(
            ["engine", "best ms", "median ms", "time / per-game engine (same run)"],
            [
                [
                    r["engine"],
                    f"{r['best_s'] * 1e3:.1f}",
                    f"{r['median_s'] * 1e3:.1f}",
                    f"{r['best_s'] / ref:.3f}",
                ]
                for r in rows
            ],
        )
    )
    d_loss = abs(out["exact"][0] - out["batched"][0])
    d_grad = float((out["exact"][1] - out["batched"][1]).abs().max())
    scale = float(out["exact"][1].abs().max())
    print(
        f"|loss difference| {d_loss:.2e}; max |gradient difference| {d_grad:.2e} "
        f"(max |gradient| {scale:.2e})"
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="40 test scenarios, two small sizes, one run each"
    )
    ap.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")
    ap.add_argument("--markets", type=int, default=3, help="markets per size (part 2)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per pipeline, best kept")
    ap.add_argument("--skip-profits", action="store_true", help="skip part 1")
    ap.add_argument("--skip-timing", action="store_true", help="skip part 2")
    ap.add_argument("--skip-training", action="store_true", help="skip part 3")
    ap.add_argument("--curves", action="store_true", help="only part 3")
    ap.add_argument(
        "--fresh-pool",
        nargs=2,
        type=int,
        metavar=("SEED", "N"),
        default=None,
        help="part 1 on N new scenarios drawn with SEED on the test days (85-99) instead",
    )
    ap.add_argument("--json", default=None, help="write all records to this JSON file")
    args = ap.parse_args(argv)
    if args.curves:
        args.skip_profits = args.skip_timing = True
    print(f"Python {platform.python_version()}, {platform.platform()}\n")
    t_start = time.perf_counter()
    rows, ok = [], True
    if not args.skip_profits:
        fresh = tuple(args.fresh_pool) if args.fresh_pool else None
        rows, ok = profits(args.weights, 40 if args.quick else None, fresh)
    trows: list[dict] = []
    if not args.skip_timing:
        sizes = QUICK_SIZES if args.quick else SIZES
        n_markets, repeats = (1, 1) if args.quick else (args.markets, args.repeats)
        trows = timings(sizes, n_markets, repeats, args.weights)
    crows: list[dict] = []
    if not args.skip_training:
        crows = training_step(24 if args.quick else 72, 16, 3 if args.quick else 5)
    print(f"\nbenchmark wall time {time.perf_counter() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"profits": rows, "timings": trows, "training_step": crows}, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
