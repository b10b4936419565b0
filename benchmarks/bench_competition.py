"""Benchmark of the price equilibrium among providers (``prillm.pricing.competition``).

Usage::

    python benchmarks/bench_competition.py                # everything (200 x 100 takes a while)
    python benchmarks/bench_competition.py --no-large     # skip the 200-user x 100-provider game
    python benchmarks/bench_competition.py --survey 20    # markets in the convergence survey

What it measures, in one run:

1. **20 x 20 games** (random and OpenRouter-like markets, several seeds): wall time of
   :func:`price_equilibrium` (Gauss-Seidel from the list prices, tol 1e-9) with its rounds,
   exact best responses and status; as references measured in the same run, one exact
   Stackelberg optimum (:func:`prillm.optimal_price`) and one user-side equilibrium, and the
   ratio of the game's time to each. Target: under 1 s.
2. **Pruning**: the best responses of every player at the returned prices, following only the
   part of the price range where a better price can lie against the whole range (same
   answers; pieces followed and the time ratio).
3. **200 x 100**: one game, reported (time, rounds, best responses, status).
4. **Convergence survey**: random markets of 3-5 users x 3-5 providers, Gauss-Seidel from the
   list prices, 150 rounds at most: how many converge, how many cycle (period, kind), how many
   are still moving; repeated with Jacobi and with damping 0.5, and on OpenRouter-like markets.

Timings are wall-clock on whatever machine runs this; compare the ratios.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time

import numpy as np

from prillm import single_threaded_blas, solve_equilibrium
from prillm.pricing import optimal_price
from prillm.pricing.best_response import best_response
from prillm.pricing.competition import price_equilibrium
from prillm.synthetic import plausible_market, random_market


def _timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_20x20(seeds: int) -> None:
    print("== 20 users x 20 providers: price equilibrium (Gauss-Seidel from list prices) ==")
    header = (
        f"{'market':>10} {'seed':>4} {'status':>10} {'rounds':>6} {'BRs':>5} {'time s':>7} "
        f"{'/optimal_price':>14} {'/equilibrium':>12} {'epsilon rel':>11}"
    )
    print(header)
    times = []
    for gen in (random_market, plausible_market):
        for seed in range(seeds):
            market, prefs = gen(np.random.default_rng(seed), 20, 20)
            t_opt = _timed(lambda market=market, prefs=prefs: optimal_price(market, prefs, 0))
            t_eq = _timed(lambda market=market, prefs=prefs: solve_equilibrium(market, prefs))
            t0 = time.perf_counter()
            res = price_equilibrium(market, prefs)
            t = time.perf_counter() - t0
            times.append(t)
            print(
                f"{gen.__name__.split('_')[0]:>10} {seed:>4} {res.status:>10} {res.n_rounds:>6} "
                f"{res.n_best_responses:>5} {t:>7.3f} {t / t_opt:>14.0f} {t / t_eq:>12.0f} "
                f"{res.epsilon_relative:>11.1e}"
            )
    print(f"median {statistics.median(times):.3f} s, max {max(times):.3f} s (target: under 1 s)\n")


def bench_pruning() -> None:
    print("== pruning: best responses of every player at the returned prices ==")
    for gen in (random_market, plausible_market):
        market, prefs = gen(np.random.default_rng(1), 20, 20)
        res = price_equilibrium(market, prefs)
        game, prices = res.game, res.prices
        out = {}
        with single_threaded_blas():
            for prune in (False, True):
                brs = [best_response(game, prices, k, prune=prune) for k in range(20)]
                t = _timed(
                    lambda prune=prune, game=game, prices=prices: [
                        best_response(game, prices, k, prune=prune) for k in range(20)
                    ],
                    repeat=3,
                )
                out[prune] = (t, sum(b.n_pieces for b in brs), [b.profit for b in brs])
        same = np.allclose(out[True][2], out[False][2], rtol=1e-9)
        print(
            f"{gen.__name__:>16}: whole range {out[False][0] * 1e3:.1f} ms / "
            f"{out[False][1]} pieces; pruned {out[True][0] * 1e3:.1f} ms / {out[True][1]} "
            f"pieces; time ratio {out[True][0] / out[False][0]:.2f}; same profits: {same}"
        )
    print()


def bench_large() -> None:
    print("== 200 users x 100 providers ==")
    market, prefs = random_market(np.random.default_rng(0), 200, 100)
    t_opt = _timed(lambda: optimal_price(market, prefs, 0), repeat=3)
    t0 = time.perf_counter()
    res = price_equilibrium(market, prefs)
    t = time.perf_counter() - t0
    pieces = sum(s["pieces"] for s in res.steps)
    print(
        f"status {res.status}, {res.n_rounds} rounds, {res.n_best_responses} best responses "
        f"({pieces} pieces followed), {t:.1f} s = {t / t_opt:.0f} x one optimal_price "
        f"({t_opt * 1e3:.1f} ms); epsilon relative {res.epsilon_relative:.1e}\n"
    )


def survey(n_markets: int) -> None:
    print(f"== convergence survey: {n_markets} markets of 3-5 users x 3-5 providers ==")
    variants = [
        ("random, Gauss-Seidel", random_market, {}),
        ("random, Jacobi", random_market, {"method": "jacobi"}),
        ("random, GS damping 0.5", random_market, {"damping": 0.5}),
        ("OpenRouter-like, GS", plausible_market, {}),
    ]
    for label, gen, opts in variants:
        rng = np.random.default_rng(0)
        counts: collections.Counter[str] = collections.Counter()
        rounds, kinds = [], collections.Counter()
        t0 = time.perf_counter()
        for _ in range(n_markets):
            n, m = int(rng.integers(3, 6)), int(rng.integers(3, 6))
            market, prefs = gen(rng, n, m)
            res = price_equilibrium(market, prefs, max_rounds=150, **opts)
            counts[res.status] += 1
            if res.status == "converged":
                rounds.append(res.n_rounds)
            if res.cycle is not None:
                kinds[f"{res.cycle.kind}, period {res.cycle.period}"] += 1
        r = f"{min(rounds)}-{max(rounds)} rounds" if rounds else "-"
        print(
            f"{label:>24}: converged {counts['converged']} ({r}), cycle {counts['cycle']} "
            f"({dict(kinds)}), not converged {counts['not_converged']}; "
            f"{time.perf_counter() - t0:.1f} s"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="20 x 20 markets per generator")
    parser.add_argument("--survey", type=int, default=20, help="markets in the survey")
    parser.add_argument("--no-large", action="store_true", help="skip 200 x 100")
    args = parser.parse_args()
    bench_20x20(args.seeds)
    bench_pruning()
    survey(args.survey)
    if not args.no_large:
        bench_large()


if __name__ == "__main__":
    main()
