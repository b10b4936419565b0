"""Measuring the abstraction: profit shares on held-out scenarios, and where it pays in time.

Both functions return tidy records (one dict per row) for tables, the benchmark and the book.

* :func:`profit_records`: for every scenario, abstraction method (DA, MIN, AVG) and ``K``, the
  price the solver finds in the abstracted game, evaluated in the true game, as a share of the
  exact optimum (:func:`prillm.optimal_price` with ``method="exact"``, the certified global
  optimum).
* :func:`timing_records`: on larger generated markets, the time of the exact path on the full
  market against DA + SPITER and DA + exact, with their profit shares.

References
----------
Paper Table 1 and Table 3 (profit as a share of the optimum), Section 6.2 (the impact of
``K``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from prillm.abstraction.core import abstract
from prillm.abstraction.curves import curve_from_pieces
from prillm.abstraction.dataset import SPLITS, Scenario
from prillm.equilibrium import solve_equilibrium
from prillm.pricing import optimal_price
from prillm.pricing.exact import price_path
from prillm.pricing.problem import make_problem
from prillm.synthetic import plausible_market

__all__ = [
    "profit_curves",
    "profit_records",
    "scenario_records",
    "score_records",
    "summarise",
    "timing_records",
]


def scenario_records(scenarios: Sequence[Scenario]) -> list[dict[str, Any]]:
    """One row per family: its size and how many scenarios each split holds."""
    rows: dict[str, dict[str, Any]] = {}
    for sc in scenarios:
        row = rows.setdefault(
            sc.family,
            {
                "family": sc.family,
                "providers": sc.market.n_providers,
                "rivals": sc.n_rivals,
                "users": sc.market.n_users,
                **{k: 0 for k in SPLITS},
            },
        )
        row[sc.split] += 1
    return list(rows.values())


def profit_curves(
    scenario: Scenario,
    methods: Sequence[str] = ("da", "min", "avg"),
    k: int = 2,
    n_points: int = 400,
    weights: Any = None,
) -> dict[str, Any]:
    """The true and the abstracted profit curves of one scenario on a grid of prices.

    Every curve is exact: the price path of each game (the true one and each abstraction) over
    the true game's ``[0, p_max]``, read at ``n_points`` equally spaced prices.

    Returns
    -------
    dict
        ``prices``; ``curves`` (``"true"`` and one per method, USD); ``optimum`` (the exact
        optimal price and profit of the true game); ``argmax`` (method -> the abstracted
        curve's maximiser and the *true* profit there); ``gap`` (method -> the largest
        ``|true - abstracted|`` over the grid, over the optimal profit).
    """
    prob = make_problem(scenario.market, scenario.prefs, scenario.target, None, 0.0, 0.0)
    path = price_path(prob)
    prices = np.linspace(0.0, prob.p_max, n_points)
    true = curve_from_pieces(path["pieces"], prices)
    best_p, best_v = path["best"]
    curves = {"true": true}
    argmax = {}
    gap = {}
    flows = solve_equilibrium(scenario.market, scenario.prefs).flows
    for method in methods:
        ab = abstract(
            scenario.market,
            scenario.prefs,
            scenario.target,
            K=k,
            method=method,
            weights=weights,
            flows=flows,
        )
        sub = make_problem(ab.market, ab.prefs, ab.target, prob.p_max, 0.0, 0.0)
        sub_path = price_path(sub)
        curve = curve_from_pieces(sub_path["pieces"], prices)
        curves[method] = curve
        p_hat = float(sub_path["best"][0])
        argmax[method] = (p_hat, float(curve_from_pieces(path["pieces"], np.array([p_hat]))[0]))
        gap[method] = float(np.max(np.abs(curve - true)) / best_v)
    return {
        "prices": prices,
        "curves": curves,
        "optimum": (float(best_p), float(best_v)),
        "argmax": argmax,
        "gap": gap,
    }


def score_records(scenario: Scenario, k: int = 2, weights: Any = None) -> list[dict[str, Any]]:
    """The rivals of one scenario with their attributes, scores and fate under DA."""
    ab = abstract(scenario.market, scenario.prefs, scenario.target, K=k, weights=weights)
    mkt = scenario.market
    eq = solve_equilibrium(mkt, scenario.prefs)
    b = scenario.prefs.values_for(mkt)[3]
    total = float(mkt.demand.sum())
    rows = []
    for pid in ab.score_avg or {}:
        j = mkt.provider_index(pid)
        rows.append(
            {
                "rival": pid,
                "price": float(mkt.price[j]),
                "value_b": float(b[j]),
                "capacity_share": float(mkt.capacity[j] / mkt.capacity.sum()),
                "traffic_share": float(eq.loads[j] / total) if total > 0 else 0.0,
                "score_sum": ab.score_sum[pid],
                "score_avg": ab.score_avg[pid],
                "fate": "kept" if pid in ab.kept else "merged",
            }
        )
    rows.sort(key=lambda r: -r["score_avg"])
    return rows


def profit_records(
    scenarios: Iterable[Scenario],
    methods: Sequence[str] = ("da", "min", "avg"),
    ks: Sequence[int] = (1, 2, 3, 4),
    solver: str = "spiter",
    weights: Any = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Profit shares of every abstraction method and ``K`` on each scenario.

    Pairs with ``K >=`` the scenario's rivals are skipped (the abstraction is the identity).

    Returns
    -------
    list of dict
        ``scenario`` (position in ``scenarios``), ``family, day, split, target, n_rivals,
        method, K, share`` (profit in the true game over
        the exact optimum), ``price``, ``exact_price``, ``time_s`` (the pipeline's wall time),
        ``exact_time_s``.
    """
    rows = []
    for k_sc, sc in enumerate(scenarios):
        ex = optimal_price(sc.market, sc.prefs, sc.target, method="exact")
        for method in methods:
            for k in ks:
                if k >= sc.n_rivals:
                    continue
                res = optimal_price(
                    sc.market,
                    sc.prefs,
                    sc.target,
                    method="prillm",
                    K=k,
                    solver=solver,
                    abstraction=method,
                    weights=weights,
                )
                rows.append(
                    {
                        "scenario": k_sc,
                        "family": sc.family,
                        "day": sc.day,
                        "split": sc.split,
                        "target": sc.target,
                        "n_rivals": sc.n_rivals,
                        "method": method,
                        "K": k,
                        "share": res.profit / ex.profit if ex.profit > 0 else float("nan"),
                        "price": res.price,
                        "exact_price": ex.price,
                        "time_s": res.wall_time,
                        "exact_time_s": ex.wall_time,
                    }
                )
        if progress is not None:
            progress(k_sc + 1)
    return rows


def summarise(
    records: Sequence[dict[str, Any]], by: Sequence[str] = ("method", "K")
) -> list[dict[str, Any]]:
    """Mean, worst and count of ``share`` per group (NaN shares are left out).

    Examples
    --------
    >>> rows = [{"method": "da", "K": 2, "share": 0.9}, {"method": "da", "K": 2, "share": 1.0}]
    >>> summarise(rows)[0]["mean"], summarise(rows)[0]["worst"]
    (0.95, 0.9)
    """
    groups: dict[tuple, list[float]] = {}
    for r in records:
        if np.isfinite(r["share"]):
            groups.setdefault(tuple(r[k] for k in by), []).append(float(r["share"]))
    out = []
    for key in sorted(groups, key=lambda t: tuple(str(v) for v in t)):
        v = np.array(groups[key])
        out.append(
            {
                **dict(zip(by, key, strict=True)),
                "mean": float(v.mean()),
                "worst": float(v.min()),
                "count": int(v.size),
            }
        )
    return out


def timing_records(
    sizes: Sequence[tuple[int, int]],
    n_markets: int = 3,
    seed: int = 0,
    weights: Any = None,
    k: int = 2,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Exact path on the full market against DA + SPITER and DA + exact, on generated markets.

    Markets come from :func:`prillm.synthetic.plausible_market` (OpenRouter-like magnitudes),
    ``n`` users x ``m`` providers, the target drawn at random; all seeded by ``seed``.

    Returns
    -------
    list of dict
        One row per market and pipeline: ``users, providers, market, pipeline``
        (``exact``, ``da+spiter``, ``da+exact``), ``time_s`` (the method's wall time, the
        abstraction included), ``abstraction_time_s`` (of which the abstraction: the features'
        equilibrium, the network and the aggregation; 0 for ``exact``), ``share`` (profit in
        the true game over the exact optimum),
        ``breakpoints`` (of the exact path on the full market).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for n, m in sizes:
        for t in range(n_markets):
            market, prefs = plausible_market(rng, n, m)
            target = int(rng.integers(m))
            t0 = time.perf_counter()
            ex = optimal_price(market, prefs, target)
            if progress is not None:
                progress(f"{n}x{m} #{t}: exact {time.perf_counter() - t0:.2f} s")
            runs = {"exact": ex}
            for solver in ("spiter", "exact"):
                runs[f"da+{solver}"] = optimal_price(
                    market, prefs, target, method="prillm", K=k, solver=solver, weights=weights
                )
            for name, res in runs.items():
                rows.append(
                    {
                        "users": n,
                        "providers": m,
                        "market": t,
                        "pipeline": name,
                        "time_s": res.wall_time,
                        "abstraction_time_s": res.diagnostics.get("abstraction_time", 0.0),
                        "share": res.profit / ex.profit if ex.profit > 0 else float("nan"),
                        "breakpoints": ex.diagnostics["n_breakpoints"],
                    }
                )
    return rows
