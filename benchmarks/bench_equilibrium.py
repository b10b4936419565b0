"""Benchmark: the exact equilibrium against cvxpy + Clarabel and cvxpy + OSQP, in one run.

Two kinds of random markets, each at every size:

- ``current``: congestion binds (``random_market(..., tightness=0.4)``, capacities 0.12-0.6 of a
  fair share), which leaves a large share of the routes unused at 200 x 100 but few at 20 x 20;
- ``sparse``: as real markets, most routes unused (``sparse_market``: prices 0.05-15 USD/M,
  values 0-10, capacities 0.5-3 fair shares; about 90-97 % of the routes unused).

For each size and kind it times

- ``exact cold``      ``solve_equilibrium(market, prefs)`` from scratch;
- ``exact warm``      the same after a 1 % price change of one provider, warm-started from the
                      previous equilibrium (the pricing use case);
- ``clarabel build``  ``equilibrium_reference``: cvxpy problem construction + Clarabel solve;
- ``osqp build``      the same with OSQP (default tolerances);
- ``clarabel loop``   construction + Clarabel solve of the model written the plain way, one
                      quadratic term per provider (how Eq. 5 reads), instead of our vectorised one;
- ``clarabel param``  re-solve of a parameterised (DPP) cvxpy problem built once;
- ``osqp param``      the same with OSQP;

and measures each method's accuracy on the exact solver's support: the relative KKT residual
(see ``prillm.KKTCertificate``) and the largest flow left on a route that should be empty, as a
fraction of the user's demand. Each exact timing is the best of a few back-to-back calls (the
other methods: one call), the median over runs; ratios are against ``exact cold``. Beside the
times it prints the active-set iterations (linear solves) of the exact solver, cold and warm.
Timings on a shared machine are noisy: compare ratios measured in the same run.

Usage::

    python benchmarks/bench_equilibrium.py             # sizes 8x8, 20x20, 50x50, 200x100
    python benchmarks/bench_equilibrium.py --quick     # a fast smoke run
    python benchmarks/bench_equilibrium.py --kinds sparse --sizes 20x20 200x100
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

import numpy as np

import prillm
from prillm import kkt_certificate, solve_equilibrium
from prillm.equilibrium import problem_scales
from prillm.reference import ParametricReference, equilibrium_reference, package_reference
from prillm.synthetic import random_market, sparse_market

SIZES = [(8, 8), (20, 20), (50, 50), (200, 100)]
KINDS = ("sparse", "current")
#: Targets of the sparse markets: clarabel build + solve over exact cold, at residual <= 1e-10.
TARGETS = {(20, 20): 60.0, (200, 100): 120.0}


def _timed(fn: Callable[[], object], best_of: int = 1) -> tuple[float, object]:
    """Wall time of ``fn`` (the best of ``best_of`` back-to-back calls) and its last value."""
    best = float("inf")
    out = None
    for _ in range(best_of):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def draw(kind: str, rng: np.random.Generator, n: int, m: int) -> tuple:
    """A market of the given kind."""
    if kind == "sparse":
        return sparse_market(rng, n, m)
    return random_market(rng, n, m, tightness=0.4)


def per_provider_reference(market: prillm.Market, prefs: prillm.Preferences) -> prillm.Equilibrium:
    """Eq. (13) written term by term, one congestion term per provider (Eq. 5), with Clarabel."""
    import cvxpy as cp

    gc = prillm.game_coefficients(market, prefs)
    n, m = market.shape
    d_scale, c_scale = problem_scales(gc.cost, gc.slope, gc.demand)
    k = gc.slope * d_scale / c_scale
    f = cp.Variable((n, m), nonneg=True)
    objective = cp.sum(cp.multiply(gc.cost / c_scale, f))
    for j in range(m):
        objective += k[j] / 2 * (cp.square(cp.sum(f[:, j])) + cp.sum_squares(f[:, j]))
    con = cp.sum(f, axis=1) == gc.demand / d_scale
    cp.Problem(cp.Minimize(objective), [con]).solve(solver="CLARABEL")
    flows = np.asarray(f.value) * d_scale
    lam = -np.asarray(con.dual_value) * c_scale
    return package_reference(market, prefs, gc.cost, gc.slope, flows, lam, 1e-9, "cvxpy-loop")


def bench_size(
    kind: str, n: int, m: int, n_markets: int, repeats: int, seed: int
) -> dict[str, dict]:
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {}
    resid: dict[str, list[float]] = {}
    stray: dict[str, list[float]] = {}
    iters: list[int] = []
    warm_iters: list[int] = []
    zero_share: list[float] = []
    params = {s: ParametricReference(n, m, solver=s) for s in ("CLARABEL", "OSQP")}
    for _ in range(n_markets):
        market, prefs = draw(kind, rng, n, m)
        moved = market.with_price(0, market.price[0] * 1.01)
        exact = solve_equilibrium(market, prefs)
        iters.append(exact.iterations)
        zero_share.append(float((~exact.support).mean()))
        exact_moved = solve_equilibrium(moved, prefs)
        warm_iters.append(solve_equilibrium(moved, prefs, warm_start=exact).iterations)
        runs: dict[str, Callable[[], object]] = {
            "exact cold": lambda market=market, prefs=prefs: solve_equilibrium(market, prefs),
            "exact warm": lambda moved=moved, prefs=prefs, exact=exact: solve_equilibrium(
                moved, prefs, warm_start=exact
            ),
            "clarabel build": lambda market=market, prefs=prefs: equilibrium_reference(
                market, prefs, solver="CLARABEL"
            ),
            "osqp build": lambda market=market, prefs=prefs: equilibrium_reference(
                market, prefs, solver="OSQP"
            ),
            "clarabel loop": lambda market=market, prefs=prefs: per_provider_reference(
                market, prefs
            ),
        }
        for solver in ("CLARABEL", "OSQP"):
            model = params[solver]
            model.solve(market, prefs)  # compile once; the timed calls re-solve with new data
            runs[f"{solver.lower()} param"] = lambda model=model, moved=moved, prefs=prefs: (
                model.solve(moved, prefs)
            )
        for name, fn in runs.items():
            fast = name.startswith("exact")
            reps = repeats if fast else max(1, repeats // 5)
            for _ in range(reps):
                dt, eq = _timed(fn, best_of=3 if fast else 1)
                times.setdefault(name, []).append(dt)
            truth = exact_moved if name in ("exact warm",) or "param" in name else exact
            cert = kkt_certificate(truth.market, prefs, eq.flows, eq.multipliers, truth.support)
            resid.setdefault(name, []).append(cert.max_residual)
            off = ~truth.support & (truth.market.demand[:, None] > 0)
            rel = eq.flows / np.maximum(truth.market.demand[:, None], 1e-300)
            stray.setdefault(name, []).append(float(rel[off].max()) if off.any() else 0.0)
    base = float(np.median(times["exact cold"]))
    out = {}
    for name, ts in times.items():
        med = float(np.median(ts))
        out[name] = {
            "median_s": med,
            "ratio_to_exact_cold": med / base,
            "max_kkt_residual": float(np.max(resid[name])),
            "max_stray_flow_share": float(np.max(stray[name])),
            "runs": len(ts),
        }
    out["_info"] = {
        "median_iterations": float(np.median(iters)),
        "iterations": iters,
        "median_warm_iterations": float(np.median(warm_iters)),
        "warm_iterations": warm_iters,
        "mean_share_of_unused_routes": float(np.mean(zero_share)),
        "min_share_of_unused_routes": float(np.min(zero_share)),
        "max_share_of_unused_routes": float(np.max(zero_share)),
    }
    return out


def _size(text: str) -> tuple[int, int]:
    n, _, m = text.partition("x")
    return int(n), int(m)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--markets", type=int, default=5, help="random markets per size")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per market (exact)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--sizes", nargs="+", type=_size, help="e.g. 20x20 200x100")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    sizes = args.sizes or ([(8, 8), (20, 20)] if args.quick else SIZES)
    n_markets = 2 if args.quick else args.markets
    repeats = 5 if args.quick else args.repeats
    print(
        f"prillm {prillm.__version__}, numpy {np.__version__}, Python {platform.python_version()}"
        f", {platform.machine()}"
    )
    # warm up: the first cvxpy call imports and compiles much more than the timed calls need
    warm_market, warm_prefs = sparse_market(np.random.default_rng(args.seed), 4, 4)
    for solver in ("CLARABEL", "OSQP"):
        equilibrium_reference(warm_market, warm_prefs, solver=solver)
    per_provider_reference(warm_market, warm_prefs)
    results: dict[str, dict] = {}
    verdicts = []
    for kind in args.kinds:
        for n, m in sizes:
            res = bench_size(kind, n, m, n_markets, repeats, args.seed)
            results[f"{kind} {n}x{m}"] = res
            info = res.pop("_info")
            print(
                f"\n== {kind} markets, {n} users x {m} providers: "
                f"{info['mean_share_of_unused_routes']:.0%} of routes unused "
                f"({info['min_share_of_unused_routes']:.0%}-"
                f"{info['max_share_of_unused_routes']:.0%}) =="
            )
            print(
                f"{'method':<16}{'median':>12}{'x exact':>10}{'KKT resid':>12}{'stray flow':>12}"
                f"{'iterations':>14}"
            )
            for name, r in res.items():
                its = {"exact cold": info["iterations"], "exact warm": info["warm_iterations"]}
                it = " ".join(str(k) for k in its[name]) if name in its else ""
                print(
                    f"{name:<16}{r['median_s'] * 1e3:>10.3f}ms{r['ratio_to_exact_cold']:>10.1f}"
                    f"{r['max_kkt_residual']:>12.1e}{r['max_stray_flow_share']:>12.1e}  {it}"
                )
            res["_info"] = info
            target = TARGETS.get((n, m)) if kind == "sparse" else None
            if target is not None:
                ratio = res["clarabel build"]["ratio_to_exact_cold"]
                ok = ratio >= target and res["exact cold"]["max_kkt_residual"] <= 1e-10
                verdicts.append(
                    f"sparse {n}x{m}: clarabel build / exact cold = {ratio:.0f}x "
                    f"(target >= {target:.0f}x at residual <= 1e-10): {'met' if ok else 'missed'}"
                )
    if verdicts:
        print()
        print("\n".join(verdicts))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
