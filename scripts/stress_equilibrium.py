"""Stress the equilibrium solver on random and degenerate markets against an exact oracle.

Every market is solved by :func:`prillm.solve_equilibrium` (cold, warm-started from a wrong
support, and with ``check_nash=True`` as the command line does) and by the rational-arithmetic
oracle of ``tests/oracle.py``. Printed counts:

- ``certified_wrong``: certified, but a flow is further than ``tol`` (relative to its user's
  demand) from the exact equilibrium;
- ``raised``: the solver raised although the exact answer exists (every market here has one);
- ``nash_false_failure``: ``check_nash=True`` (the command line's setting) rejected a market;
- ``warm_changed``: a warm start changed the answer by more than ``tol``;
- ``not_certified_status``: the answer was returned with a "not certified" status (allowed,
  counted);
- ``path_<name>``: markets whose cold solve was settled in ``double``, ``double-double`` or
  ``rational`` arithmetic (:attr:`prillm.Equilibrium.path`), with the cold solve's time on the
  rational path (median and max).

The markets are drawn from one stream, the warm starts from a stream of their own per market,
so that the markets do not depend on the solver's outcomes. ``--kinds`` checks only some kinds
(the others are still drawn, so a kind's markets are the same as in the mixed run).

Usage::

    python scripts/stress_equilibrium.py --markets 100000 --seed 0 [--max-size 30]
    python scripts/stress_equilibrium.py --markets 21000 --seed 0 --kinds wide

The test suite runs a 2,000-market sample of the same generator (tests/test_extreme_scales.py).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prillm import EquilibriumError, Market, Preferences, solve_equilibrium  # noqa: E402
from tests.oracle import exact_equilibrium, flow_error  # noqa: E402

PATHS = ("double", "double-double", "rational")
KINDS = ("balanced", "wide", "huge_capacity", "tiny_capacity", "ties", "monopoly", "one_token")


def random_market(rng: np.random.Generator, kind: str, max_size: int = 30):
    """One random market of a kind (sizes 1..max_size), with its preferences."""
    n = int(rng.integers(1, max_size + 1))
    m = 1 if kind == "monopoly" else int(rng.integers(1, max_size + 1))
    demand = 10.0 ** rng.uniform(0, 6, n) if kind == "wide" else rng.uniform(1e5, 1e6, n)
    if kind == "one_token":
        demand = np.ones(n)
    if rng.random() < 0.1 and n > 1:
        demand[rng.integers(n)] = 0.0
    total = float(demand.sum()) or 1.0
    if kind == "huge_capacity":
        ratio = 10.0 ** rng.uniform(4, 13, m)
    elif kind == "tiny_capacity":
        ratio = 10.0 ** rng.uniform(-3, 0, m)
    elif kind in ("monopoly", "one_token"):
        ratio = 10.0 ** rng.uniform(-3, 13, m)
    else:
        ratio = 10.0 ** rng.uniform(-3, 13, m) if kind == "wide" else rng.uniform(0.5, 3, m)
    capacity = ratio * total
    price = rng.uniform(0.0, 1e4, m) if kind == "wide" else rng.uniform(0.1, 20.0, m)
    latency = rng.uniform(0.0, 2.0, (n, m))
    b = rng.uniform(0.0, 5.0, m)
    if kind == "ties":
        price[:] = price[0]
        latency[:] = latency[0, 0]
        b[:] = b[0]
        capacity[:] = capacity[0]
    w_q = float(10.0 ** rng.uniform(-6, 6)) if kind == "wide" else float(rng.uniform(0.2, 5))
    market = Market(demand=demand, price=price, capacity=capacity, latency=latency)
    prefs = Preferences(w_p=1.0, w_q=w_q, w_d=float(rng.uniform(0, 1)), b=b)
    return market, prefs


def check_market(market, prefs, tol: float = 1e-9, rng: np.random.Generator | None = None):
    """The outcome counts (a Counter) of one market against the oracle."""
    out: Counter = Counter()
    start = time.perf_counter()
    try:
        eq = solve_equilibrium(market, prefs, tol=tol)
    except EquilibriumError:
        out["raised"] += 1
        exact = exact_equilibrium(market, prefs)
        return out, None
    out[f"path_{eq.path}"] += 1
    out[f"seconds_{eq.path}"] = time.perf_counter() - start
    exact = exact_equilibrium(market, prefs, hint=eq.support)
    err = flow_error(eq.flows, exact, market.demand)
    out["worst_error"] = err
    certified = eq.certificate.certified and eq.info.get("status", "certified") == "certified"
    if not certified:
        out["not_certified_status"] += 1
    elif err > tol:
        out["certified_wrong"] += 1
    try:
        solve_equilibrium(market, prefs, tol=tol, check_nash=True)
    except EquilibriumError:
        out["nash_false_failure"] += 1
    if rng is not None:
        wrong = rng.random(market.shape) < 0.5
        try:
            warm = solve_equilibrium(market, prefs, tol=tol, warm_start=wrong)
            if flow_error(warm.flows, exact, market.demand) > tol:
                out["warm_changed"] += 1
        except EquilibriumError:
            out["raised_warm"] += 1
    return out, err


def run(
    markets: int,
    seed: int,
    max_size: int,
    tol: float = 1e-9,
    quiet: bool = False,
    dump: str | None = None,
    kinds: tuple[str, ...] = KINDS,
):
    """Run the stress test; returns the totals (a Counter) and the worst error per kind (and
    over the markets settled on the rational path, ``"rational path"``).

    The totals also hold ``rational_seconds``: the cold solve's time of each market settled on
    the rational path (a list).
    """
    rng = np.random.default_rng(seed)
    totals: Counter = Counter()
    totals["rational_seconds"] = []
    worst: dict[str, float] = dict.fromkeys((*KINDS, "rational path"), 0.0)
    start = time.perf_counter()
    for k in range(markets):
        kind = KINDS[k % len(KINDS)]
        market, prefs = random_market(rng, kind, max_size)
        if kind not in kinds:
            continue
        out, err = check_market(market, prefs, tol, np.random.default_rng((seed, k)))
        totals["markets"] += 1
        for key in ("raised", "certified_wrong", "nash_false_failure", "warm_changed"):
            totals[key] += out[key]
        for path in PATHS:
            totals[f"path_{path}"] += out[f"path_{path}"]
        if out["path_rational"]:
            totals["rational_seconds"].append(out["seconds_rational"])
            worst["rational path"] = max(worst["rational path"], err)
        totals["raised_warm"] += out["raised_warm"]
        totals[f"raised_{kind}"] += out["raised"]
        totals["not_certified_status"] += out["not_certified_status"]
        if err is not None:
            worst[kind] = max(worst[kind], err)
        bad = [key for key in ("certified_wrong", "warm_changed", "nash_false_failure") if out[key]]
        if bad and dump is not None:
            with open(Path(dump) / f"market_{k}.pkl", "wb") as fh:
                pickle.dump((market, prefs), fh)
        if bad and not quiet:
            print(f"market {k} ({kind}, {market.shape}): {', '.join(bad)}; error {err:.3e}",
                  file=sys.stderr)
        if not quiet and totals["markets"] % 1000 == 0:
            shown = {key: v for key, v in totals.items() if key != "rational_seconds"}
            print(f"{k + 1} markets drawn, {time.perf_counter() - start:.0f} s: {shown}",
                  file=sys.stderr)
    return totals, worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-size", type=int, default=30)
    parser.add_argument("--dump", help="folder to pickle each failing market into")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                        help="check only these kinds (all are drawn)")
    args = parser.parse_args(argv)
    totals, worst = run(args.markets, args.seed, args.max_size, dump=args.dump,
                        kinds=tuple(args.kinds))
    print(f"markets: {totals['markets']}")
    for key in ("certified_wrong", "raised", "raised_warm", "nash_false_failure",
                "warm_changed", "not_certified_status"):
        print(f"{key}: {totals[key]}")
    print("raised by kind: " + ", ".join(f"{k} {totals[f'raised_{k}']}" for k in args.kinds))
    print("cold solves by path: " + ", ".join(f"{p} {totals[f'path_{p}']}" for p in PATHS))
    times = totals["rational_seconds"]
    if times:
        print(f"rational path, seconds per cold solve: median {np.median(times):.3f}, "
              f"max {max(times):.3f}")
    print("worst flow error / demand by kind:")
    for kind in (*args.kinds, "rational path"):
        print(f"  {kind}: {worst[kind]:.3e}")
    bad = totals["certified_wrong"] + totals["raised"] + totals["raised_warm"]
    bad += totals["nash_false_failure"] + totals["warm_changed"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
