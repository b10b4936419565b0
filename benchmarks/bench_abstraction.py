"""Benchmark of the game abstraction (paper Section 5, Table 3, the K sweep).

Run ``python benchmarks/bench_abstraction.py`` (``--quick`` for a short run). Two parts:

1. **Profit on held-out scenarios.** The test split (base days 85-99 of the panel, never seen in
   training) of the scenarios built as the shipped weights' record says (same count and seed).
   For DA (the shipped network), MIN and AVG at ``K = 1..4``, SPITER prices the target in the
   abstracted game; the price is evaluated in the true game and divided by the exact optimum.
   Mean and worst shares are printed, overall and per family, and the goals are checked:
   DA ``K = 2`` mean >= 97 % and worst >= 95 %; DA beats MIN and AVG on mean and worst.
2. **Where abstraction pays.** Generated markets (``prillm.synthetic.plausible_market``) of up
   to 200 users x 500 providers: the exact path on the full market against DA + SPITER and
   DA + exact (``K = 2``), wall times (the abstraction included) and profit shares.

Timings are wall times on whatever machine runs this; on a shared machine they are noisy, so
ratios against the exact path measured in the same run are printed beside them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np

from prillm.abstraction import build_scenarios, load_weights
from prillm.abstraction.evaluation import profit_records, summarise, timing_records

SIZES = [(50, 20), (100, 100), (200, 100), (200, 200), (200, 500)]
QUICK_SIZES = [(50, 20), (100, 100)]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def profits(weights: str | None, limit: int | None) -> tuple[list[dict], bool]:
    net = load_weights(weights)
    meta = net.meta
    scenarios = build_scenarios(meta["scenarios"], meta["seed"])
    test = [s for s in scenarios if s.split == "test"]
    if limit is not None:
        test = test[:limit]
    print(
        f"held-out test split: {len(test)} scenarios (base days 85-99) of the "
        f"{meta['scenarios']} built with seed {meta['seed']}"
    )
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


def timings(sizes: list[tuple[int, int]], n_markets: int, weights: str | None) -> list[dict]:
    net = load_weights(weights)
    rows = timing_records(sizes, n_markets=n_markets, seed=0, weights=net, progress=print)
    out = []
    for n, m in sizes:
        sel = [r for r in rows if (r["users"], r["providers"]) == (n, m)]
        ex = [r for r in sel if r["pipeline"] == "exact"]
        ex_t = float(np.median([r["time_s"] for r in ex]))
        for name in ("exact", "da+spiter", "da+exact"):
            rs = [r for r in sel if r["pipeline"] == name]
            t = float(np.median([r["time_s"] for r in rs]))
            ab = float(np.median([r["abstraction_time_s"] for r in rs]))
            out.append(
                [
                    f"{n}x{m}",
                    name,
                    f"{t * 1e3:.1f}",
                    f"{ab * 1e3:.1f}",
                    f"{t / ex_t:.2f}",
                    f"{np.mean([r['share'] for r in rs]):.4%}",
                    f"{np.min([r['share'] for r in rs]):.4%}",
                    str(int(np.median([r["breakpoints"] for r in ex]))),
                ]
            )
    print(
        "\n"
        + _table(
            [
                "users x providers",
                "pipeline",
                "median ms",
                "of which abstraction",
                "time / exact",
                "mean share",
                "worst share",
                "breakpoints",
            ],
            out,
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="40 test scenarios, small sizes")
    ap.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")
    ap.add_argument("--markets", type=int, default=3, help="markets per size (timing)")
    ap.add_argument("--skip-timing", action="store_true")
    ap.add_argument("--skip-profits", action="store_true")
    ap.add_argument("--json", default=None, help="write all records to this JSON file")
    args = ap.parse_args(argv)
    print(f"Python {platform.python_version()}, {platform.platform()}\n")
    rows, ok = [], True
    if not args.skip_profits:
        rows, ok = profits(args.weights, 40 if args.quick else None)
    trows: list[dict] = []
    if not args.skip_timing:
        sizes = QUICK_SIZES if args.quick else SIZES
        trows = timings(sizes, 1 if args.quick else args.markets, args.weights)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"profits": rows, "timings": trows}, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
