"""If one provider moves its price, what do the others do?

:func:`respond_to` holds the mover's new price fixed and lets the other players play the
pricing game among themselves (:func:`~prillm.pricing.competition.price_equilibrium`), then
reports the mover's profit before the move, after it if nobody answered, and once the others
have answered.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prillm._jsonable import json_fields
from prillm._validation import MarketError
from prillm.equilibrium import solve_equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT, Market, Preferences
from prillm.pricing.competition import PriceEquilibrium, check_price, price_equilibrium
from prillm.pricing.game import make_game

__all__ = ["Response", "respond_to"]


@dataclass(frozen=True, eq=False)
class Response:
    """How the other players answer one provider's price move (:func:`respond_to`).

    Attributes
    ----------
    mover, price, marginal_cost
        The provider that moves, its new price and its cost per million tokens.
    before
        The mover's profit at the market's prices (USD).
    unanswered
        The mover's profit at its new price if nobody answered (USD).
    answered
        The mover's profit once the others have answered (USD).
    others
        The game among the others, the mover's price held fixed (:class:`PriceEquilibrium`).
    """

    mover: str
    price: float
    marginal_cost: float
    before: float
    unanswered: float
    answered: float
    others: PriceEquilibrium

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return {
            **json_fields(self, "mover", "price", "marginal_cost"),
            "mover_profit_usd": json_fields(self, "before", "unanswered", "answered"),
            "others": self.others.to_dict(),
        }


def respond_to(
    market: Market,
    prefs: Preferences | None,
    mover: str | int,
    price: float,
    players: Sequence[str | int] | None = None,
    marginal_costs: Mapping[str, float] | Sequence[float] | None = None,
    p_bounds: Any = None,
    **options: Any,
) -> Response:
    """If ``mover`` moves to ``price``, what do the other players do?

    The mover's price is held fixed; the other players (``players`` without the mover,
    default every other provider) best-respond in turn until they reach their own price
    equilibrium (:func:`price_equilibrium`, whose ``options`` apply), starting from the
    market's prices.

    Parameters
    ----------
    market, prefs
        The market and the users' preferences.
    mover, price
        The provider that moves and its new price (USD per million tokens).
    players, marginal_costs, p_bounds
        As in :func:`price_equilibrium`; the mover's cost and bounds may be given with them.
    **options
        Passed to :func:`price_equilibrium` (``method``, ``damping``, ``max_rounds``, ...).

    Returns
    -------
    Response

    Raises
    ------
    prillm.MarketError
        For an unknown mover, a price that is negative, not finite or outside the mover's
        bounds, no other player, or any error of :func:`price_equilibrium`.

    Examples
    --------
    >>> from prillm.synthetic import demo_market
    >>> market, prefs = demo_market()
    >>> r = respond_to(market, prefs, "budget-llm", 0.2)
    >>> r.others.status, r.others.player_ids
    ('converged', ('premium-llm', 'mid-llm'))
    """
    try:
        j = market.provider_index(mover)
    except MarketError as exc:
        raise MarketError(f"mover: {exc}") from None
    mover_id = market.provider_ids[j]
    names = list(make_game(market, prefs, players, p_bounds=None).player_ids)
    if mover_id not in names:
        names = [mover_id, *names]
    full = make_game(market, prefs, names, marginal_costs, p_bounds)
    km = full.player_index(mover_id)
    p = check_price(f"price of {mover_id!r}", price)
    lo, hi = float(full.lower[km]), float(full.upper[km])
    if not lo <= p <= hi:
        raise MarketError(
            f"price of {mover_id!r}: {price!r} is outside its bounds [{lo:g}, {hi:g}]"
        )
    others = [k for k in range(full.n_players) if k != km]
    if not others:
        raise MarketError(f"players: no player other than the mover {mover_id!r} to respond")
    cost = float(full.marginal_costs[km])
    moved = market.with_price(j, p)
    res = price_equilibrium(
        moved,
        full.prefs,
        [full.player_ids[k] for k in others],
        [float(full.marginal_costs[k]) for k in others],
        {full.player_ids[k]: (float(full.lower[k]), _hi(full.upper[k])) for k in others},
        **options,
    )
    before = solve_equilibrium(market, full.prefs).loads[j]
    unanswered = solve_equilibrium(moved, full.prefs).loads[j]
    answered = res.equilibrium.loads[j]
    scale = TOKENS_PER_PRICE_UNIT
    return Response(
        mover=mover_id,
        price=p,
        marginal_cost=cost,
        before=float((market.price[j] - cost) * before / scale),
        unanswered=float((p - cost) * unanswered / scale),
        answered=float((p - cost) * answered / scale),
        others=res,
    )


def _hi(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
