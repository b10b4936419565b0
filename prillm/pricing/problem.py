"""Problem 1 (Eq. 2) for one target: validated inputs and the scaled arrays the methods use.

Every method receives a :class:`PricingProblem` and returns a candidate price with diagnostics;
:func:`prillm.pricing.optimal_price` then evaluates that price in the *true* game (an exact
equilibrium by :func:`prillm.solve_equilibrium`) so that methods are compared on equal terms.

Scaling
-------
Methods work on scaled arrays: flows in units of ``max_i D_i`` and costs in units of the largest
cost term of the market over the price range, so that token volumes of 1e3 or 1e13 look alike.
The target's column of the fixed cost is affine in its price:
``c_is(p) = c0_is + w_p p / c_scale`` (Eq. 1, only column ``s`` moves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm._validation import MarketError, check_price
from prillm.equilibrium import Equilibrium, problem_scales, solve_active_set, solve_equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT, Market, Preferences, game_coefficients

__all__ = [
    "PricingProblem",
    "default_p_max",
    "make_problem",
    "maximise_quadratic_piece",
    "vanishing_price",
]


@dataclass(frozen=True, eq=False)
class PricingProblem:
    """Problem 1 (Eq. 2) for one target, with the scaled arrays the methods work on.

    Attributes
    ----------
    market, prefs, target
        The game and the target's position ``s``.
    p_min, p_max, marginal_cost
        Price bounds and the target's marginal cost per million tokens.
    active
        Users with positive demand (the others never carry flow).
    cost0
        Scaled fixed costs of the active users with the target's price set to 0, ``(n_a, m)``.
    demand
        Scaled demand of the active users (``D_i / max D``).
    capa
        Scaled ``K_j = alpha_j / w_q`` (so that the congestion slope is ``1 / capa``).
    dcol
        Scaled cost change of column ``s`` per unit of price (``w_p / c_scale``).
    c_scale, d_scale
        The scales (USD per million tokens; tokens).
    """

    market: Market
    prefs: Preferences
    s: int
    p_min: float
    p_max: float
    marginal_cost: float
    active: np.ndarray
    cost0: np.ndarray
    demand: np.ndarray
    capa: np.ndarray
    dcol: float
    c_scale: float
    d_scale: float

    @property
    def target(self) -> str:
        """The target's provider id."""
        return self.market.provider_ids[self.s]

    @property
    def shape(self) -> tuple[int, int]:
        """``(active users, providers)`` of the scaled problem."""
        return self.cost0.shape  # type: ignore[return-value]

    def start_price(self, price: float | None = None) -> float:
        """``price`` (default: the target's market price) clipped to ``[p_min, p_max]``.

        :meth:`start_clip` says whether it was clipped (:func:`prillm.pricing.optimal_price`
        records it in the result).

        Raises
        ------
        prillm.MarketError
            Naming ``start_price``, for a given price that is not a price in ``[0, 1e6]``.
        """
        p = self.market.price[self.s] if price is None else check_price("start_price", price)
        return float(min(max(p, self.p_min), self.p_max))

    def start_clip(self, price: float | None = None) -> dict[str, float] | None:
        """``None`` if the start ``price`` lies within the bounds, else ``{"given", "used"}``.

        ``used`` is :meth:`start_price`, the start clipped to ``[p_min, p_max]``.
        """
        used = self.start_price(price)
        given = float(self.market.price[self.s] if price is None else price)
        return None if used == given else {"given": given, "used": used}

    def cost_at(self, price: float) -> np.ndarray:
        """Scaled fixed costs when the target charges ``price``."""
        c = self.cost0.copy()
        c[:, self.s] += self.dcol * price
        return c

    def profit_scaled(self, price: float | np.ndarray, load: float | np.ndarray) -> Any:
        """Profit in USD from a price and a *scaled* target load."""
        return (price - self.marginal_cost) * load * self.d_scale / TOKENS_PER_PRICE_UNIT

    def solve(self, price: float, support: np.ndarray | None = None) -> Any:
        """Exact equilibrium of the scaled game at ``price`` (raw engine, warm-startable)."""
        return solve_active_set(self.cost_at(price), 1.0 / self.capa, self.demand, support)

    def load_at(self, price: float, support: np.ndarray | None = None) -> tuple[float, Any]:
        """Scaled target load at ``price`` and the raw equilibrium (for warm starts)."""
        if self.demand.size == 0:
            return 0.0, None
        raw = self.solve(price, support)
        return float(raw.loads[self.s]), raw

    def evaluate(self, price: float) -> tuple[float, Equilibrium]:
        """Profit (USD) and certified equilibrium at ``price`` in the true game (Eq. 2)."""
        eq = solve_equilibrium(self.market.with_price(self.s, price), self.prefs)
        profit = (price - self.marginal_cost) * float(eq.loads[self.s]) / TOKENS_PER_PRICE_UNIT
        return profit, eq


def make_problem(
    market: Market,
    prefs: Preferences | None,
    target: str | int,
    p_max: float | None,
    p_min: float,
    marginal_cost: float,
) -> PricingProblem:
    """Validate the inputs of Problem 1 and build the scaled problem.

    Raises
    ------
    prillm.MarketError
        For an unknown target, a bound or marginal cost that is not a price in
        ``[0, 1e6]`` USD per million tokens (:func:`prillm._validation.check_price`; ``p_max``
        must be positive), or ``p_max <= p_min``.
    """
    if not isinstance(market, Market):
        raise MarketError(f"market: expected a prillm.Market, got {type(market).__name__}")
    prefs = Preferences() if prefs is None else prefs
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        s = market.provider_index(int(target))
    elif isinstance(target, str):
        if target not in market.provider_index_map:
            raise MarketError(
                f"target: unknown provider id {target!r}; known ids: "
                + ", ".join(repr(p) for p in market.provider_ids[:10])
                + (" ..." if market.n_providers > 10 else "")
            )
        s = market.provider_index_map[target]
    else:
        raise MarketError(f"target: expected a provider id or position, got {target!r}")
    p_min = check_price("p_min", p_min)
    cm = check_price("marginal_cost", marginal_cost)
    gc = game_coefficients(market, prefs)
    w_p = float(prefs.values_for(market)[0])
    if p_max is None:
        p_max_v = default_p_max(market, prefs, s, p_min)
    else:
        p_max_v = check_price("p_max", p_max, positive=True)
        if p_max_v <= p_min:
            raise MarketError(f"p_max: must be greater than p_min={p_min!r}, got {p_max!r}")
    active = gc.demand > 0
    cost0 = np.array(gc.cost[active], dtype=float)
    cost0[:, s] -= w_p * market.price[s]
    d = gc.demand[active]
    # costs over the whole price range bound the cost scale (only column s moves)
    span = float(np.abs(cost0).max()) + abs(w_p) * max(p_max_v, p_min) if d.size else 1.0
    d_scale, c_scale = problem_scales(cost0, gc.slope, gc.demand, span)
    return PricingProblem(
        market=market,
        prefs=prefs,
        s=s,
        p_min=p_min,
        p_max=p_max_v,
        marginal_cost=cm,
        active=active,
        cost0=cost0 / c_scale,
        demand=d / d_scale,
        capa=c_scale / (gc.slope * d_scale),
        dcol=w_p / c_scale,
        c_scale=c_scale,
        d_scale=d_scale,
    )


def vanishing_price(market: Market, prefs: Preferences | None, target: str | int) -> float:
    """The lowest price at which the target's equilibrium load is zero (``inf`` if none).

    With the target removed, the rivals' equilibrium gives each user's multiplier
    ``lambda_i``; the target is unused exactly when ``c_is(p) >= lambda_i`` for every user with
    demand (Eq. 16 with ``F_s = 0``), i.e. for ``p >= max_i (lambda_i - w_d d_is + b_s) / w_p``.
    Returns ``inf`` if the target is the only provider or ``w_p <= 0`` (demand is inelastic,
    so a monopolist never loses its load). ``target`` is a provider id or position.

    Examples
    --------
    Alone, the rival carries 3e6 tokens; the larger user's marginal cost there is
    ``2 + (3e6 + 2e6) / 1e6 = 7`` USD per million tokens, the price at which the target is
    abandoned:

    >>> from prillm import Market, Preferences
    >>> mkt = Market(demand=[1e6, 2e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    >>> round(vanishing_price(mkt, Preferences(w_q=1.0, w_d=0.0), 0), 9)
    7.0
    """
    prefs = Preferences() if prefs is None else prefs
    s = market.provider_index(target)
    w_p, _, _, _ = prefs.values_for(market)
    gc = game_coefficients(market, prefs)
    active = gc.demand > 0
    if market.n_providers == 1 or w_p <= 0:
        return math.inf
    if not active.any():
        return 0.0
    keep = np.arange(market.n_providers) != s
    raw = solve_active_set(gc.cost[active][:, keep], gc.slope[keep], gc.demand[active])
    fixed = gc.cost[active, s] - w_p * market.price[s]
    return float(np.max((raw.multipliers - fixed) / w_p))


def default_p_max(market: Market, prefs: Preferences, s: int, p_min: float) -> float:
    """Default upper price bound.

    The price at which the target's load vanishes (:func:`vanishing_price`): above it the
    profit is zero, so nothing is lost. If that price is not above ``p_min`` (the target has no
    demand at any admissible price) or is infinite (a monopolist), fall back to ten times the
    highest price in the market (at least 1 USD per million tokens, and above ``p_min``).
    """
    pv = vanishing_price(market, prefs, s)
    if math.isfinite(pv) and pv > p_min:
        return pv
    return max(10.0 * float(market.price.max()), 1.0, 2.0 * p_min + 1.0)


def maximise_quadratic_piece(
    prob: PricingProblem, lo: float, hi: float, load_lo: float, dload: float
) -> tuple[float, float]:
    """Exact maximiser of ``(p - c_s) (load_lo + (p - lo) dload)`` on ``[lo, hi]`` (scaled load).

    Returns ``(price, profit in USD)``; on ties the lowest price wins.
    """
    cands = [lo, hi]
    if dload < 0:
        # d/dp: load_lo + (p - lo) dload + (p - c) dload = 0
        pv = (prob.marginal_cost * dload - load_lo + lo * dload) / (2.0 * dload)
        if lo < pv < hi:
            cands.insert(1, pv)
    best_p, best_v = lo, -math.inf
    for p in cands:
        v = prob.profit_scaled(p, load_lo + (p - lo) * dload)
        if v > best_v:
            best_p, best_v = p, v
    return best_p, float(best_v)
