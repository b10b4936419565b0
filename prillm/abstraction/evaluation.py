"""Measuring the abstraction: profit shares on held-out scenarios, and where it pays in time.

Both functions return tidy records (one dict per row) for tables, the benchmark and the book.

* :func:`profit_records`: for every scenario, abstraction method (DA, MIN, AVG) and ``K``, the
  price the solver finds in the abstracted game, evaluated in the true game, as a share of the
  exact optimum (:func:`prillm.optimal_price` with ``method="exact"``, the certified global
  optimum).
* :func:`timing_records`: on larger generated markets, the time of the exact path on the full
  market against SPITER on the full market, DA + SPITER and DA + exact, with their profit
  shares; :func:`timing_summary` reduces them to one row per size and pipeline, with each
  pipeline's time over the exact path's *on the same market* (ratios measured in one run, so
  that a loaded machine slows both sides alike).

References
----------
Paper Table 1 and Table 3 (profit as a share of the optimum), Section 6.2 (the impact of
``K``).
"""

from __future__ import annotations

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
    "timing_summary",
]

#: The pipelines of :func:`timing_records`: the exact path and SPITER on the full market, and
#: DA (``K`` rivals) followed by SPITER or by the exact path on the abstracted game.
PIPELINES = ("exact", "spiter", "da+spiter", "da+exact")


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


def _run_pipeline(market: Any, prefs: Any, target: int, name: str, k: int, weights: Any) -> Any:
    if name in ("exact", "spiter"):
        return optimal_price(market, prefs, target, method=name)
    solver = name.split("+", 1)[1]
    return optimal_price(
        market, prefs, target, method="prillm", K=k, solver=solver, weights=weights
    )


def timing_records(
    sizes: Sequence[tuple[int, int]],
    n_markets: int = 3,
    seed: int = 0,
    weights: Any = None,
    k: int = 2,
    progress: Callable[[str], None] | None = None,
    pipelines: Sequence[str] = PIPELINES,
    repeats: int = 1,
) -> list[dict[str, Any]]:
    """The exact path on the full market against the other pipelines, on generated markets.

    Markets come from :func:`prillm.synthetic.plausible_market` (OpenRouter-like magnitudes),
    ``n`` users x ``m`` providers for each ``(n, m)`` of ``sizes``, the target drawn at random;
    all seeded by ``seed``. Before the first market every pipeline runs once on a small market
    (imports and first-call set-up are not timed). Every pipeline's price is evaluated in the
    true game (as :func:`prillm.optimal_price` always does).

    Parameters
    ----------
    sizes
        ``(users, providers)`` pairs.
    n_markets
        Markets per size.
    seed
        Seeds the markets and the targets.
    weights
        DA's weights (a file or a :class:`~prillm.abstraction.network.ScoreNetwork`; default:
        the shipped ones). Pass a loaded network so that loading it is not timed.
    k
        Rivals kept by DA.
    progress
        Optional callable receiving one line per market.
    pipelines
        Any of :data:`PIPELINES`; ``"exact"`` is always run (it is the reference).
    repeats
        Each pipeline runs this many times on each market; the shortest wall time is kept
        (the least disturbed by other work on the machine).

    Returns
    -------
    list of dict
        One row per market and pipeline: ``users, providers, market, pipeline``, ``time_s``
        (the method's wall time, the abstraction included), ``abstraction_time_s`` (of which the
        abstraction: the features' equilibrium, the network and the aggregation; 0 without
        DA), ``time_over_exact`` (``time_s`` over the exact path's on the same market),
        ``share`` (profit in the true game over the exact optimum), ``breakpoints`` (of the
        exact path on the full market).

    Raises
    ------
    ValueError
        For an unknown pipeline or ``repeats < 1``.
    """
    unknown = [p for p in pipelines if p not in PIPELINES]
    if unknown:
        raise ValueError(f"pipelines: unknown {unknown}; choose from {PIPELINES}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats: expected a positive integer, got {repeats!r}")
    names = ["exact", *(p for p in pipelines if p != "exact")]
    warm_market, warm_prefs = plausible_market(np.random.default_rng(12345), 4, 5)
    for name in names:
        _run_pipeline(warm_market, warm_prefs, 0, name, k, weights)
    rng = np.random.default_rng(seed)
    rows = []
    for n, m in sizes:
        for t in range(n_markets):
            market, prefs = plausible_market(rng, n, m)
            target = int(rng.integers(m))
            runs = {}
            for name in names:
                tries = [
                    _run_pipeline(market, prefs, target, name, k, weights) for _ in range(repeats)
                ]
                runs[name] = min(tries, key=lambda r: r.wall_time)
            ex = runs["exact"]
            if progress is not None:
                progress(
                    f"{n} users x {m} providers #{t}: "
                    + ", ".join(f"{k_} {r.wall_time:.3f} s" for k_, r in runs.items())
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
                        "time_over_exact": res.wall_time / ex.wall_time,
                        "share": res.profit / ex.profit if ex.profit > 0 else float("nan"),
                        "breakpoints": ex.diagnostics["n_breakpoints"],
                    }
                )
    return rows


def timing_summary(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per size and pipeline of :func:`timing_records`' records.

    Returns
    -------
    list of dict
        ``users, providers, pipeline, markets``, ``time_ms`` and ``abstraction_ms`` (medians
        over the markets), ``time_over_exact`` (median over the markets of the per-market
        ratio), ``mean_share`` and ``worst_share`` (NaN shares left out), ``breakpoints``
        (median), in the order the sizes and pipelines first appear.

    Examples
    --------
    >>> rows = [
    ...     {"users": 2, "providers": 3, "pipeline": p, "time_s": t, "abstraction_time_s": 0.0,
    ...      "time_over_exact": t / 0.2, "share": s, "breakpoints": 4}
    ...     for p, t, s in [("exact", 0.2, 1.0), ("da+spiter", 0.1, 0.98)]
    ... ]
    >>> [(r["pipeline"], r["time_over_exact"], r["worst_share"]) for r in timing_summary(rows)]
    [('exact', 1.0, 1.0), ('da+spiter', 0.5, 0.98)]
    """
    groups: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["users"], r["providers"], r["pipeline"]), []).append(r)
    out = []
    for (n, m, name), rs in groups.items():
        shares = np.array([r["share"] for r in rs], dtype=float)
        shares = shares[np.isfinite(shares)]
        out.append(
            {
                "users": n,
                "providers": m,
                "pipeline": name,
                "markets": len(rs),
                "time_ms": 1e3 * float(np.median([r["time_s"] for r in rs])),
                "abstraction_ms": 1e3 * float(np.median([r["abstraction_time_s"] for r in rs])),
                "time_over_exact": float(np.median([r["time_over_exact"] for r in rs])),
                "mean_share": float(shares.mean()) if shares.size else float("nan"),
                "worst_share": float(shares.min()) if shares.size else float("nan"),
                "breakpoints": float(np.median([r["breakpoints"] for r in rs])),
            }
        )
    return out
