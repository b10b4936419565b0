"""The pricing methods of Problem 1 compared on random markets (chapter 4 of the book).

:func:`compare_pricing_methods` draws random markets whose congestion binds
(:func:`prillm.synthetic.random_market`: capacities about half the fair share, many routes
unused), prices provider ``target`` with every method asked, and returns one record per
(market, method): the price, the profit *in the true game* at that price and its ratio to the
exact optimum (computed for every market as the reference), wall time, whether the method
reports success, and the number of breakpoints of the exact path. :func:`summarise_pricing`
reduces the records to one row per (size, method): medians and the worst ratio.
:func:`price_with_methods` prices one given market with every method asked, the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prillm.experiments.tables import group_records
from prillm.market import MarketError
from prillm.pricing import METHODS, optimal_price
from prillm.synthetic import random_market

__all__ = ["check_methods", "compare_pricing_methods", "price_with_methods", "summarise_pricing"]


def check_methods(methods: Sequence[str], options: Mapping[str, Any]) -> None:
    """Every name in ``methods`` and in the keys of ``options`` is a registered pricing method.

    Raises
    ------
    prillm.MarketError
        Naming the first unknown method and the valid ones.
    """
    for name in [*methods, *options]:
        if name not in METHODS:
            raise MarketError(
                f"methods: unknown pricing method {name!r}; valid: {', '.join(METHODS)}"
            )


def _record(res: Any, best: Any) -> dict[str, Any]:
    success = res.diagnostics.get("success")
    return {
        "price": float(res.price),
        "profit": float(res.profit),
        "ratio": float(res.profit / best.profit) if best.profit > 0 else 1.0,
        "price_ratio": float(res.price / best.price) if best.price > 0 else float("nan"),
        "time_ms": 1e3 * float(res.wall_time),
        "success": None if success is None else bool(success),
    }


def price_with_methods(
    market: Any,
    prefs: Any,
    target: int | str,
    methods: Sequence[str] = METHODS,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Price one market with every method, each price measured in the true game.

    Parameters
    ----------
    market, prefs
        The market and the users' preferences.
    target
        The provider that prices (index or id).
    methods
        Names from :data:`prillm.pricing.METHODS`; the exact path is always computed as the
        reference.
    options
        Method name -> options for :func:`prillm.optimal_price`.

    Returns
    -------
    list of dict
        One record per method, in order: ``method``, ``price``, ``profit`` (USD per period, in
        the true game), ``ratio`` (profit over the exact optimum), ``price_ratio`` (price over
        the exact optimal price), ``time_ms`` and ``success`` (``None`` when the method makes
        no report).

    Examples
    --------
    >>> from prillm.synthetic import random_market
    >>> market, prefs = random_market(np.random.default_rng(0), 3, 2)
    >>> rows = price_with_methods(market, prefs, 0, ["exact", "grid"])
    >>> rows[0]["ratio"], rows[1]["ratio"] <= 1 + 1e-9
    (1.0, True)
    """
    opts = dict(options or {})
    check_methods(methods, opts)
    return _price_with(market, prefs, target, methods, opts)[1]


def _price_with(
    market: Any,
    prefs: Any,
    target: int | str,
    methods: Sequence[str],
    opts: Mapping[str, Mapping[str, Any]],
) -> tuple[Any, list[dict[str, Any]]]:
    """The exact result and the records of :func:`price_with_methods` (inputs checked)."""
    best = optimal_price(market, prefs, target)
    rows = []
    for method in methods:
        res = (
            best
            if method == "exact"
            else optimal_price(market, prefs, target, method=method, **opts.get(method, {}))
        )
        rows.append({"method": method, **_record(res, best)})
    return best, rows


def compare_pricing_methods(
    sizes: Sequence[tuple[int, int]],
    methods: Sequence[str],
    *,
    n_markets: int = 5,
    rng: np.random.Generator | int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    target: int = 0,
    tightness: float = 0.5,
) -> list[dict[str, Any]]:
    """Every method on the same random markets, measured in the true game.

    Parameters
    ----------
    sizes
        ``(users, providers)`` of the markets.
    methods
        Names from :data:`prillm.pricing.METHODS` (``"exact"`` is always computed as the
        reference; list it to have its own records).
    n_markets
        Random markets per size.
    rng
        A generator or a seed; the markets are drawn in the order of ``sizes``.
    options
        Method name -> options for :func:`prillm.optimal_price` (e.g.
        ``{"grid": {"n_points": 1000}}``).
    target
        The provider that prices.
    tightness
        Capacity over the fair share (see :func:`prillm.synthetic.random_market`).

    Returns
    -------
    list of dict
        One record per (size, market, method): ``size`` (``"8x8"``), ``users``, ``providers``,
        ``market`` (index within the size), ``method``, ``price`` (USD per 1M tokens),
        ``profit`` (USD per period), ``ratio`` (profit over the exact optimum; 1 when that is
        0), ``price_ratio`` (price over the exact optimal price), ``time_ms``, ``success``
        (the method's own report, ``None`` when it makes none) and
        ``breakpoints`` (of the exact path on that market).

    Raises
    ------
    prillm.MarketError
        For an unknown method (in ``methods`` or ``options``) or a bad size.

    Examples
    --------
    >>> rows = compare_pricing_methods([(3, 2)], ["exact", "grid"], n_markets=1,
    ...                                options={"grid": {"n_points": 200}})
    >>> [(r["method"], r["ratio"] <= 1 + 1e-9) for r in rows]
    [('exact', True), ('grid', True)]
    """
    opts = dict(options or {})
    check_methods(methods, opts)
    for size in sizes:
        if len(size) != 2 or any(
            isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in size
        ):
            raise MarketError(
                f"sizes: expected (users, providers) pairs of positive integers, got {size!r}"
            )
    gen = np.random.default_rng(rng)
    records: list[dict[str, Any]] = []
    for n, m in sizes:
        for k in range(n_markets):
            market, prefs = random_market(gen, n, m, tightness=tightness)
            best, rows = _price_with(market, prefs, target, methods, opts)
            records.extend(
                {
                    "size": f"{n}x{m}",
                    "users": n,
                    "providers": m,
                    "market": k,
                    **row,
                    "breakpoints": int(best.diagnostics["n_breakpoints"]),
                }
                for row in rows
            )
    return records


def summarise_pricing(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (size, method), in the order met: medians of time and ratio, worst ratio.

    Returns
    -------
    list of dict
        ``size``, ``method``, ``markets``, ``time_ms`` (median), ``ratio_median``,
        ``ratio_min``, ``price_ratio_median`` (the method's price over the optimal price),
        ``success`` (how many markets the method reported success on, ``None``
        when it reports nothing) and ``breakpoints`` (median over the markets, of the exact
        path).
    """
    rows = []
    for (size, method), rs in group_records(records, "size", "method").items():
        flags = [r["success"] for r in rs if r["success"] is not None]
        rows.append(
            {
                "size": size,
                "method": method,
                "markets": len(rs),
                "time_ms": statistics.median(r["time_ms"] for r in rs),
                "ratio_median": statistics.median(r["ratio"] for r in rs),
                "ratio_min": min(r["ratio"] for r in rs),
                "price_ratio_median": statistics.median(
                    r.get("price_ratio", float("nan")) for r in rs
                ),
                "success": sum(flags) if flags else None,
                "breakpoints": int(statistics.median(r["breakpoints"] for r in rs)),
            }
        )
    return rows
