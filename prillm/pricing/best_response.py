"""One player's exact best response in the pricing game, along its own price.

Given the others' prices, a player's profit ``(p_j - c_j) F_j(p) / 1e6`` as a function of its own
price is Problem 1 (Eq. 2) with the player as the target: continuous and piecewise quadratic,
concave on each piece of the equilibrium's price path (the load is affine and non-increasing
there), but not quasi-concave in general. :func:`best_response` follows the path
(:func:`prillm.pricing.exact.price_path`) over the part of the range where a better price can
lie and returns the certified global optimum, the local maxima it saw and whether the best
response jumps across a valley of the profit.

References
----------
Eq. (2) Problem 1; Eq. (12)-(17) the user-side equilibrium and its KKT conditions.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.linalg import LinAlgError

from prillm.market import TOKENS_PER_PRICE_UNIT
from prillm.pricing.critical_cone import PathError
from prillm.pricing.exact import certified_path, price_path
from prillm.pricing.exact import solve as exact_solve
from prillm.pricing.game import PricingGame
from prillm.pricing.game import relative_gain as _relative
from prillm.pricing.problem import make_problem, vanishing_price

__all__ = [
    "MOVE_TOL",
    "BestResponse",
    "best_response",
    "peak_rank",
    "piece_profit",
    "profit_peaks",
    "switches_hill",
]

#: A player moves only when its best response beats its current profit by more than this
#: fraction of the larger of the two (ties and round-off keep the current price).
MOVE_TOL = 1e-12


@dataclass(frozen=True)
class BestResponse:
    """One player's exact best response to the others' prices (inside an iteration).

    Attributes
    ----------
    player
        Position of the player in :attr:`PricingGame.players`.
    price, profit
        The best price over the player's range (the lowest one on ties) and its profit (USD),
        from the exact price path: the certified global optimum.
    current_price, current_profit
        The player's price in the profile and its profit there (from the same path).
    pieces
        The pieces ``(p0, p1, load0, dload)`` of the price path that were followed (empty
        when no price can beat the current one).
    peaks
        Local maxima ``(price, profit)`` of the player's profit as a function of its own price
        over its whole range (more than one: the profit is not quasi-concave there); computed
        only when the whole range was followed (``prune=False``), else empty.
    same_hill
        Whether the profit rises monotonically from the current price to the best response;
        ``False``: the best response lies beyond a valley of the profit.
    cost
        The player's marginal cost (the profit is ``(p - cost) F(p) / 1e6``).
    certified
        Whether :attr:`price` is the proven global optimum: every piece followed passed its
        end checks, or the player's whole range was rebuilt by the exact method
        (:func:`prillm.pricing.exact.solve`: its repair from certified equilibria) and that
        checked out. ``False``: the best price found, not proven best.
    """

    player: int
    price: float
    profit: float
    current_price: float
    current_profit: float
    pieces: tuple[tuple[float, float, float, float], ...]
    peaks: tuple[tuple[float, float], ...]
    same_hill: bool = True
    cost: float = 0.0
    certified: bool = True

    @property
    def n_pieces(self) -> int:
        """Number of pieces of the price path followed."""
        return len(self.pieces)

    def climbs(self, a: float, b: float) -> bool:
        """Whether the profit rises monotonically from price ``a`` to price ``b`` (no valley
        between them); both must lie in the part of the range that was followed."""
        return _same_hill(self.pieces, self.cost, a, b) if self.pieces else True

    @property
    def gain(self) -> float:
        """``profit - current_profit`` (USD): what the player gains by moving."""
        return self.profit - self.current_profit

    @property
    def relative_gain(self) -> float:
        """:attr:`gain` over the larger of the two profits' magnitudes (0 when both are 0)."""
        return _relative(self.gain, self.profit, self.current_profit)

    @property
    def moves(self) -> bool:
        """Whether the gain is more than round-off (:data:`MOVE_TOL`)."""
        return self.relative_gain > MOVE_TOL


def piece_profit(
    pieces: Sequence[tuple[float, float, float, float]], price: float, cost: float
) -> float:
    """Profit (USD) at ``price`` from the pieces of a price path (``(p0, p1, load0, dload)``).

    Beyond the last piece (above the price at which the load vanishes) the load is zero.
    """
    for p0, p1, load0, dload in pieces:
        if price <= p1:
            load = load0 + (max(price, p0) - p0) * dload
            return (price - cost) * max(load, 0.0) / TOKENS_PER_PRICE_UNIT
    return 0.0


def profit_peaks(
    pieces: Sequence[tuple[float, float, float, float]], cost: float, rel: float = 1e-9
) -> tuple[tuple[float, float], ...]:
    """The local maxima of the piecewise-quadratic profit along a price path.

    The load is non-increasing and affine on each piece, so the profit is concave on each
    piece and monotone between consecutive candidate points (piece ends and interior vertices);
    the local maxima of the function are those of the candidate sequence. Neighbouring values
    within ``rel`` of the largest profit are merged (round-off), and only positive maxima count.

    Returns
    -------
    tuple of (price, profit)
        In increasing price order.
    """
    pts: list[tuple[float, float]] = []
    for p0, p1, load0, dload in pieces:
        if p1 <= p0 and pts:
            continue
        pts.append((p0, (p0 - cost) * load0 / TOKENS_PER_PRICE_UNIT))
        if dload < 0:
            v = (cost * dload - load0 + p0 * dload) / (2.0 * dload)
            if p0 < v < p1:
                pts.append((v, (v - cost) * (load0 + (v - p0) * dload) / TOKENS_PER_PRICE_UNIT))
    if pieces:
        p0, p1, load0, dload = pieces[-1]
        pts.append((p1, (p1 - cost) * (load0 + (p1 - p0) * dload) / TOKENS_PER_PRICE_UNIT))
    if not pts:
        return ()
    top = max(v for _, v in pts)
    if top <= 0:
        return ()
    eps = rel * top
    # merge runs of equal values (within eps), then keep runs higher than both neighbours
    runs: list[tuple[float, float]] = []
    for p, v in pts:
        if runs and abs(v - runs[-1][1]) <= eps:
            if v > runs[-1][1]:
                runs[-1] = (p, v)
            continue
        runs.append((p, v))
    peaks = []
    for k, (p, v) in enumerate(runs):
        left = runs[k - 1][1] if k > 0 else -math.inf
        right = runs[k + 1][1] if k + 1 < len(runs) else -math.inf
        if v > left and v > right and v > eps:
            peaks.append((p, v))
    return tuple(peaks)


def _same_hill(
    pieces: Sequence[tuple[float, float, float, float]], cost: float, a: float, b: float
) -> bool:
    """Whether the profit climbs monotonically from price ``a`` to price ``b`` (no valley)."""
    lo, hi = min(a, b), max(a, b)
    pts = [a, b]
    for p0, p1, load0, dload in pieces:
        for p in (p0, p1):
            if lo < p < hi:
                pts.append(p)
        if dload < 0:
            v = (cost * dload - load0 + p0 * dload) / (2.0 * dload)
            if lo < v < hi and p0 <= v <= p1:
                pts.append(v)
    pts.sort(reverse=b < a)
    values = [piece_profit(pieces, p, cost) for p in pts]
    eps = 1e-9 * max(abs(v) for v in values) if values else 0.0
    return all(y >= x - eps for x, y in itertools.pairwise(values))


def best_response(
    game: PricingGame, prices: np.ndarray, k: int, *, prune: bool = True
) -> BestResponse:
    """Player ``k``'s exact best response when the players charge ``prices``.

    The player's profit as a function of its own price is followed exactly along the
    equilibrium path (:func:`prillm.pricing.exact.price_path`); the best point of the path is
    the certified global optimum over ``[lo_k, hi_k]`` (without an upper bound, up to the price
    at which the player loses its last user).

    Only the part of the range where a better price can lie is followed. The load ``F(p)`` is
    non-increasing in the player's own price (chapter 3, exercise "the load never increases
    with the price"), so with ``pi_0`` the current profit:

    * below ``P0 = c + pi_0 / F(lo)`` every price earns ``(p - c) F(p) <= (P0 - c) F(lo) =
      pi_0``: nothing there beats the current price;
    * above any ``P1`` every price earns at most ``(hi - c) F(P1)``: once that is below the best
      profit found on ``[P0, P1]``, nothing above ``P1`` beats it. ``P1`` is tried at
      ``c + 1.6 (p_0 - c)`` first; if the bound fails the path is followed on to ``hi``.

    Parameters
    ----------
    game
        The game.
    prices
        One price per player (within their bounds).
    k
        Position of the player in ``game.players``.
    prune
        Follow only the part of the range where a better price can lie (default); ``False``
        follows the whole range (same answer, for comparison).

    Where a piece followed fails its end checks (or the path cannot be followed in double
    precision: capacities that dwarf the demand), the player's whole range is solved by the
    exact method instead (:func:`prillm.pricing.exact.solve`, which repairs such pieces from
    certified equilibria) and the current profit is evaluated in the true game;
    :attr:`BestResponse.certified` says whether that checked out.

    Returns
    -------
    BestResponse
        ``pieces`` holds the pieces followed (which cover the current price and the best
        response); ``peaks`` the local maxima when ``prune=False``.
    """
    market = game.at(prices)
    j = game.players[k]
    lo, cost = float(game.lower[k]), float(game.marginal_costs[k])
    cur = float(prices[k])
    hi = float(game.upper[k])
    if not math.isfinite(hi):
        hi = vanishing_price(market, game.prefs, j)
        if hi <= lo:  # no load at any admissible price: the profit is 0 everywhere
            return BestResponse(k, cur, 0.0, cur, 0.0, (), (), True, cost)
    prob = make_problem(market, game.prefs, j, hi, lo, cost)
    scale = prob.d_scale / TOKENS_PER_PRICE_UNIT
    if prob.demand.size == 0:
        return BestResponse(k, cur, 0.0, cur, 0.0, (), (), True, cost)
    pi_cur = (cur - cost) * prob.load_at(cur)[0] * scale if cur < hi else 0.0
    f_lo = prob.load_at(lo)[0] * scale if prune else 0.0
    p0, p1 = lo, hi
    if prune:
        if pi_cur > 0 and f_lo > 0:
            p0 = max(lo, cost + pi_cur / f_lo)
        if p0 >= hi:  # no price beats the current one
            return BestResponse(k, cur, pi_cur, cur, pi_cur, (), (), True, cost)
        p1 = cost + 1.6 * (cur - cost) if cur > max(p0, cost) else hi
        p1 = hi if not p0 < p1 < hi else p1
    certified = True
    try:
        path = price_path(replace(prob, p_min=p0, p_max=p1))
        pieces = list(path["pieces"])
        best_p, best_v = path["best"]
        checked = certified_path(path)
        if p1 < hi:
            a, b, load0, dload = pieces[-1]
            f1 = max(load0 + (b - a) * dload, 0.0)
            if (hi - cost) * f1 / TOKENS_PER_PRICE_UNIT > max(best_v, pi_cur):
                rest = price_path(replace(prob, p_min=p1, p_max=hi))
                pieces += rest["pieces"]
                checked = checked and certified_path(rest)
                if rest["best"][1] > best_v:
                    best_p, best_v = rest["best"]
    except (LinAlgError, PathError):  # the path cannot be followed in double precision
        checked = False
    if not checked:
        # the exact method on the whole range: its repair (or rebuild) from certified
        # equilibria, and the current profit in the true game
        best_p, diag = exact_solve(prob, full_path=True)
        best_v = diag["path_profit"]
        pieces = list(diag["pieces"])
        certified = diag["status"] == "global_optimum"
        pi_cur = prob.evaluate(cur)[0] if cur < hi else 0.0
    if pi_cur >= best_v:  # the current price is (one of) the best
        best_p, best_v = cur, pi_cur
    hill = _same_hill(pieces, cost, cur, float(best_p)) if pieces else True
    return BestResponse(
        k,
        float(best_p),
        float(best_v),
        cur,
        float(pi_cur),
        tuple(pieces),
        () if prune else profit_peaks(pieces, cost),
        hill,
        cost,
        certified,
    )


def peak_rank(peaks: Sequence[tuple[float, float]], price: float) -> int:
    """Position (in increasing price) of the local maximum nearest to ``price``."""
    return int(np.argmin([abs(p - price) for p, _ in peaks])) if peaks else 0


def switches_hill(before: BestResponse, after: BestResponse) -> bool:
    """Whether the best response jumped to another local maximum between two profiles.

    ``before`` and ``after`` are the same player's best responses (``prune=False``) at two
    profiles that differ in the others' prices. With the same number (two or more) of local
    maxima at both, the response jumps when its rank among them (lowest price first) changes;
    when local maxima appeared or vanished, when the profit at ``after`` dips between the two
    responses (a valley separates them).
    """
    if not after.peaks or after.price == before.price:
        return False
    if len(before.peaks) == len(after.peaks) >= 2:
        return peak_rank(before.peaks, before.price) != peak_rank(after.peaks, after.price)
    if len(before.peaks) == len(after.peaks) == 1:
        return False
    return not after.climbs(before.price, after.price)
