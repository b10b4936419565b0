"""Why a price is optimal: the exact profit curve of Problem 1 (Eq. 2), taken apart.

:func:`explain_price` solves the target's pricing problem exactly (the price path of
:mod:`prillm.pricing.exact`) and reads off what a person asks about the answer:

* the **profit curve** ``(p - c_s) F_s(p)``, a quadratic between consecutive *breakpoints*, and at
  each breakpoint which users start or stop buying from the target (and which other routes open
  or close); :func:`curve_from_pieces` evaluates it at any prices from the path's pieces (the
  one place this is written: :mod:`prillm.abstraction` samples its training curves with it);
* the **own-price elasticity** of the target's load at the optimum,
  ``e = (dF_s/dp) p / F_s``, from the slope of the affine piece the optimum lies on (left and
  right slopes when it sits on a breakpoint). At an interior optimum with ``c_s = 0``,
  ``F + p F' = 0`` gives ``e = -1`` exactly; with a cost, ``e = -p / (p - c_s)`` (the Lerner rule);
* **which rivals matter**: the change in the target's optimal profit when each rival is removed
  from the market (its users re-route among the others), and optionally any per-rival score
  supplied by the caller (the command line passes the abstraction network's scores, paper
  Section 5.1; this module does not import :mod:`prillm.abstraction`, which sits above it);
* the profit the target would **give up by charging the market's median price**.

References
----------
Eq. (2) Problem 1; Eq. (13) the equilibrium load ``F_s(p)``; Eq. (14)-(17) the KKT system whose
support changes at the breakpoints.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm._jsonable import json_fields
from prillm.equilibrium import solve_equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT, Market, Preferences
from prillm.pricing.optimal import optimal_price

__all__ = [
    "FROM_RESULT",
    "Explanation",
    "curve_from_pieces",
    "explain_price",
    "pieces_array",
    "remove_provider",
]

#: The attributes an :class:`Explanation` takes from the :class:`~prillm.pricing.PricingResult`
#: it explains (its first fields, in order).
FROM_RESULT = ("target", "price", "profit", "load", "status", "p_min", "p_max", "marginal_cost")


def pieces_array(pieces: Sequence[tuple[float, float, float, float]]) -> np.ndarray:
    """The price path's pieces ``(p_start, p_end, load_start, dload)`` as a ``(P, 4)`` array.

    Raises
    ------
    ValueError
        If there is no piece.
    """
    arr = np.asarray(pieces, dtype=float).reshape(-1, 4)
    if arr.shape[0] == 0:
        raise ValueError("pieces: the price path has no pieces")
    return arr


def curve_from_pieces(
    pieces: np.ndarray | Sequence[tuple[float, float, float, float]],
    prices: np.ndarray,
    marginal_cost: float = 0.0,
    *,
    piece: np.ndarray | int | None = None,
    side: str = "right",
) -> np.ndarray:
    """The exact profit (USD) at ``prices`` from the price path's pieces (Eq. 2).

    On the piece ``[a, b]`` containing ``p`` the load is ``F_a + (p - a) dF`` (tokens, Eq. 13
    on a fixed support), so the profit is ``(p - c_s) max(F_a + (p - a) dF, 0) / 1e6``. Prices
    outside the path's range are clipped to it.

    Parameters
    ----------
    pieces
        ``(p_start, p_end, load_start, dload)`` of each piece, in increasing price
        (``diagnostics["pieces"]`` of the exact method).
    prices
        Where to evaluate (any shape).
    marginal_cost
        The target's ``c_s`` (USD per million tokens).
    piece
        The index of the piece each price is evaluated on (broadcast against ``prices``);
        default: the piece that contains it, found by ``side``.
    side
        Which piece a price at a breakpoint is taken on: ``"right"`` the one that starts there,
        ``"left"`` the one that ends there (the path is continuous, so the two agree up to
        round-off).

    Returns
    -------
    numpy.ndarray
        The profits, shaped as ``prices``.

    Raises
    ------
    ValueError
        If there is no piece, ``side`` is unknown or ``piece`` is out of range.

    Examples
    --------
    >>> pieces = [(0.0, 1.0, 2e6, -1e6), (1.0, 2.0, 1e6, -1e6)]
    >>> curve_from_pieces(pieces, np.array([0.5, 1.5])).tolist()
    [0.75, 0.75]
    """
    arr = pieces_array(pieces)
    if side not in ("right", "left"):
        raise ValueError(f"side: expected 'right' or 'left', got {side!r}")
    p = np.clip(np.asarray(prices, dtype=float), arr[0, 0], arr[-1, 1])
    if piece is None:
        k = np.clip(np.searchsorted(arr[:, 0], p, side=side) - 1, 0, arr.shape[0] - 1)
    else:
        k = np.asarray(piece)
        if k.size and (k.min() < 0 or k.max() >= arr.shape[0]):
            raise ValueError(f"piece: expected indices in [0, {arr.shape[0] - 1}], got {piece!r}")
    load = arr[k, 2] + (p - arr[k, 0]) * arr[k, 3]
    return (p - marginal_cost) * np.maximum(load, 0.0) / TOKENS_PER_PRICE_UNIT


@dataclass(frozen=True, eq=False)
class Explanation:
    """The optimal price of one provider and the facts behind it.

    Attributes
    ----------
    target
        The provider that sets its price.
    price, profit, load, status
        The exact optimum of Problem 1 (Eq. 2): price (USD / 1M tokens), profit (USD), the
        target's equilibrium load (tokens) and the certificate's status.
    p_min, p_max, marginal_cost
        The problem that was solved.
    pieces
        ``(p_start, p_end, load_start, dload)`` of every affine piece of ``F_s(p)``.
    breakpoints
        One dict per breakpoint: ``price``, ``profit`` (at that price), ``starts_buying`` and
        ``stops_buying`` (users whose route to the target opens / closes as the price rises),
        ``other_routes_opened`` / ``other_routes_closed`` (``[user, provider]`` pairs).
    elasticity
        ``{"left": e-, "right": e+, "value": e}``: the own-price elasticity at the optimum from
        the slopes of the pieces on either side (equal inside a piece); ``value`` is their mean.
    rivals
        One dict per rival, most important first: ``id``, ``price``, ``share`` (at the optimum),
        ``profit_without`` (the target's optimal profit with that rival removed),
        ``profit_change`` (``profit_without - profit``) and any supplied ``scores``.
    median_price, profit_at_median, loss_at_median
        The market's median list price (all providers, the target's included), the target's
        profit there in the true equilibrium, and what it gives up (``profit -
        profit_at_median``; >= 0 when the median lies within the price bounds).
    """

    target: str
    price: float
    profit: float
    load: float
    status: str
    p_min: float
    p_max: float
    marginal_cost: float
    pieces: list[tuple[float, float, float, float]]
    breakpoints: list[dict[str, Any]]
    elasticity: dict[str, float]
    rivals: list[dict[str, Any]]
    median_price: float
    profit_at_median: float
    loss_at_median: float
    notes: list[str] = field(default_factory=list)

    def profit_curve(self, points_per_piece: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """Prices and exact profits along the path (each piece sampled, its ends included).

        Each piece's samples are evaluated on that piece (:func:`curve_from_pieces`), so a
        breakpoint appears twice, once as the end of a piece and once as the start of the next.
        """
        n = max(points_per_piece, 2)
        p = np.concatenate([np.linspace(p0, p1, n) for p0, p1, _, _ in self.pieces])
        piece = np.repeat(np.arange(len(self.pieces)), n)
        return p, curve_from_pieces(self.pieces, p, self.marginal_cost, piece=piece)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (keys ``price``, ``profit``, ``breakpoints``,
        ``elasticity``, ``rivals`` among others)."""
        return {
            **json_fields(self, *FROM_RESULT, "breakpoints", "pieces", "elasticity", "rivals"),
            "median_price": json_fields(
                self, price="median_price", profit="profit_at_median", loss="loss_at_median"
            ),
            "notes": self.notes,
        }


def remove_provider(
    market: Market, prefs: Preferences, provider: str
) -> tuple[Market, Preferences]:
    """The market without one provider (its users re-route among the others)."""
    keep = [j for j, pid in enumerate(market.provider_ids) if pid != provider]
    w_p, w_q, w_d, b = prefs.values_for(market)
    flows = None if market.observed_flows is None else market.observed_flows[:, keep]
    ids = [market.provider_ids[j] for j in keep]
    reduced = market.replace(
        price=market.price[keep],
        capacity=market.capacity[keep],
        latency=market.latency[:, keep],
        provider_ids=ids,
        observed_flows=flows,
    )
    return reduced, Preferences(w_q=w_q, w_d=w_d, b=b[keep], w_p=w_p, provider_ids=ids)


def _elasticity(
    price: float, load: float, pieces: list[tuple[float, float, float, float]]
) -> dict[str, float]:
    """Own-price elasticity at ``price`` from the slopes of the pieces around it."""
    tol = 1e-12 * max(1.0, abs(price))
    left = right = math.nan
    for p0, p1, _f0, df in pieces:
        if p1 - p0 <= 0:
            continue
        if p0 - tol <= price <= p1 + tol and p0 < price - tol:
            left = df
        if p0 - tol <= price <= p1 + tol and price < p1 - tol:
            right = df
    if math.isnan(left):
        left = right
    if math.isnan(right):
        right = left
    if load <= 0 or math.isnan(left):
        return {"left": math.nan, "right": math.nan, "value": math.nan}
    e_left, e_right = left * price / load, right * price / load
    return {"left": e_left, "right": e_right, "value": 0.5 * (e_left + e_right)}


def _breakpoints(
    raw: list[dict[str, Any]], target: str, marginal_cost: float, pieces: list[Any]
) -> list[dict[str, Any]]:
    out = []
    for bp in raw:
        p = float(bp["price"])
        profit = curve_from_pieces(pieces, np.array(p), marginal_cost, side="left")
        out.append(
            {
                "price": p,
                "profit": float(profit),
                "starts_buying": [u for u, j in bp["entered"] if j == target],
                "stops_buying": [u for u, j in bp["left"] if j == target],
                "other_routes_opened": [[u, j] for u, j in bp["entered"] if j != target],
                "other_routes_closed": [[u, j] for u, j in bp["left"] if j != target],
            }
        )
    return out


def explain_price(
    market: Market,
    prefs: Preferences | None,
    target: str | int,
    *,
    p_max: float | None = None,
    p_min: float = 0.0,
    marginal_cost: float = 0.0,
    scores: Mapping[str, Mapping[str, float]] | None = None,
    remove_rivals: bool = True,
) -> Explanation:
    """The exact optimal price of ``target`` and what drives it (Problem 1, Eq. 2).

    Parameters
    ----------
    market, prefs, target, p_max, p_min, marginal_cost
        As in :func:`~prillm.pricing.optimal_price` (method ``"exact"``).
    scores
        Optional per-rival scores to report (rival id -> ``{name: value}``), e.g. the
        abstraction network's ``score_sum`` / ``score_avg``.
    remove_rivals
        Whether to re-solve the problem once per rival with that rival removed (one exact
        solve each).

    Returns
    -------
    Explanation

    Raises
    ------
    prillm.MarketError
        As :func:`~prillm.pricing.optimal_price`.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> mkt = Market(demand=[1e6, 2e6], price=[1.0, 2.0], capacity=[1e6, 1e6],
    ...              provider_ids=["a", "b"])
    >>> ex = explain_price(mkt, Preferences(w_q=1.0, w_d=0.0), "a")
    >>> round(ex.price, 4), round(ex.elasticity["value"], 6)
    (3.25, -1.0)
    """
    prefs = Preferences() if prefs is None else prefs
    res = optimal_price(
        market,
        prefs,
        target,
        "exact",
        p_max=p_max,
        p_min=p_min,
        marginal_cost=marginal_cost,
        full_path=True,
    )
    s = market.provider_index(res.target)
    d = res.diagnostics
    pieces = [tuple(float(v) for v in piece) for piece in d["pieces"]]
    breakpoints = _breakpoints(d["breakpoints"], res.target, res.marginal_cost, pieces)
    elasticity = _elasticity(res.price, res.load, pieces)
    notes: list[str] = []
    rivals: list[dict[str, Any]] = []
    shares = res.equilibrium.shares
    for j, pid in enumerate(market.provider_ids):
        if j == s:
            continue
        row: dict[str, Any] = {
            "id": pid,
            "price": float(market.price[j]),
            "share": float(shares[j]),
        }
        if remove_rivals:
            reduced, rprefs = remove_provider(market, prefs, pid)
            without = optimal_price(
                reduced,
                rprefs,
                res.target,
                "exact",
                p_max=p_max,
                p_min=p_min,
                marginal_cost=marginal_cost,
            )
            row["profit_without"] = without.profit
            row["profit_change"] = without.profit - res.profit
            row["price_without"] = without.price
        if scores is not None and pid in scores:
            row["scores"] = {k: float(v) for k, v in scores[pid].items()}
        rivals.append(row)
    if remove_rivals:
        rivals.sort(key=lambda r: -abs(r["profit_change"]))
    median = float(np.median(market.price))
    eq_median = solve_equilibrium(market.with_price(s, median), prefs)
    at_median = (median - res.marginal_cost) * float(eq_median.loads[s]) / 1e6
    if not res.p_min <= median <= res.p_max:
        notes.append(
            f"the median price {median:.6g} lies outside the bounds [{res.p_min:.6g}, "
            f"{res.p_max:.6g}]; its profit is evaluated in the equilibrium all the same"
        )
    return Explanation(
        **{name: getattr(res, name) for name in FROM_RESULT},
        pieces=pieces,
        breakpoints=breakpoints,
        elasticity=elasticity,
        rivals=rivals,
        median_price=median,
        profit_at_median=at_median,
        loss_at_median=res.profit - at_median,
        notes=notes,
    )
