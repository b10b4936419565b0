"""Collusion: the prices that maximise the players' joint profit, by exact coordinate ascent.

A regulator's benchmark for a price equilibrium is the cartel: the players choose their prices
together to maximise

.. math::

    J(p) = \\sum_{j \\in \\text{players}} (p_j - c_j) F_j^*(p) / 10^6 \\quad \\text{USD},

the users answering with their equilibrium (Eq. 13), the other providers keeping their prices.

Along one player's price ``p_k`` (the others fixed) the whole equilibrium is piecewise affine
(the price enters only column ``k`` of the costs; see :mod:`prillm.pricing.exact`), so every
load is affine on each piece of the price path and ``J`` is a concave quadratic there (the
coefficient of ``p_k^2`` is the slope of ``F_k``, which is ``<= 0``). :func:`collusive_prices`
maximises ``J`` exactly along one price at a time: the price path gives the pieces, one exact
equilibrium at every breakpoint gives every load on every piece, and each piece's quadratic is
maximised in closed form. Above the price at which ``k`` loses its last user, nothing depends
on ``p_k`` any more, so the path covers every price that matters.

What is proven, and what is not
-------------------------------
Each coordinate step is a certified global maximum of ``J`` along that price. The end point
of the ascent is therefore *coordinate-wise optimal*: no single player's price change can
raise ``J`` by more than the tolerance. That is not a proof of a joint local, let alone
global, maximum: ``J`` is piecewise quadratic and not concave, and at a kink a move of several
prices together can pay when no single one does. The result says ``"coordinate-wise
optimum"``, never more; on two or three players a dense grid over the joint prices is a check
(see the tests and the book).

Demand is inelastic in this model (every user routes all its tokens), so if *every* provider
colludes and no price is capped, raising all prices together raises ``J`` without bound: that
case needs upper bounds and is rejected without them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm._jsonable import id_rows
from prillm._threads import limit_threads
from prillm._validation import MarketError, check_integer
from prillm.equilibrium import Equilibrium, solve_equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT
from prillm.pricing.exact import proven_pieces
from prillm.pricing.game import (
    PricingGame,
    UsersOutcome,
    check_game_price,
    clip_note,
    game_inputs,
)
from prillm.pricing.problem import make_problem, vanishing_price

__all__ = ["CollusionResult", "collusive_prices", "joint_line", "joint_profit"]


@dataclass(frozen=True, eq=False)
class CollusionResult(UsersOutcome):
    """The outcome of exact coordinate ascent on the players' joint profit.

    Attributes
    ----------
    game
        The game (players, costs, bounds).
    prices, profits
        The players' prices and each one's profit (USD) there, in the true game.
    joint_profit
        Their sum (USD).
    equilibrium
        The certified user-side equilibrium at those prices.
    status, reason
        ``"coordinate-wise optimum"`` (a full sweep of exact line maximisations raised the
        joint profit by at most ``tol`` relative: no single price change pays),
        ``"not_certified"`` (the same, but a line search of that sweep rests on a price path
        that could not be proven, :func:`joint_line`) or ``"not_converged"`` (``max_sweeps``
        reached), and why.
    history
        Joint profit after each sweep (the start first).
    sweeps, line_searches
        Sweeps over the players and exact line maximisations done.
    wall_time
        Seconds spent.
    start_clipped
        ``None`` when the ascent started where asked (``start``, or by default the list
        prices); else the start was outside the bounds and was clipped to them:
        ``{"given": {player: price}, "used": {player: price}}`` for the clipped players (also
        said in ``reason``).
    """

    game: PricingGame
    prices: np.ndarray
    profits: np.ndarray
    joint_profit: float
    equilibrium: Equilibrium
    status: str
    reason: str
    history: np.ndarray
    sweeps: int
    line_searches: int
    wall_time: float
    start_clipped: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return {
            "status": self.status,
            "reason": self.reason,
            "joint_profit_usd": self.joint_profit,
            "players": id_rows(self.game.player_ids, price=self.prices, profit_usd=self.profits),
            "users_cost_usd": self.users_cost,
            "users_payment_usd": self.users_payment,
            "sweeps": self.sweeps,
            "line_searches": self.line_searches,
            "history": self.history.tolist(),
            "wall_time_s": self.wall_time,
            "start_clipped": self.start_clipped,
        }


def joint_profit(game: PricingGame, prices: Any) -> tuple[float, Equilibrium]:
    """The players' joint profit (USD) at ``prices`` in the true game, and the equilibrium."""
    eq = solve_equilibrium(game.at(np.asarray(prices, dtype=float)), game.prefs)
    return float(game.profits(eq).sum()), eq


def joint_line(game: PricingGame, prices: np.ndarray, k: int) -> tuple[float, float, int, bool]:
    """Exact maximum of the joint profit along player ``k``'s price, the others fixed.

    Returns
    -------
    price, value, pieces, proven
        The best price (the lowest on ties), the joint profit there (USD, from the path's
        arithmetic), the number of pieces of the path, and whether those pieces are proven
        (:func:`prillm.pricing.exact.proven_pieces`: every piece passed its end checks, or
        was rebuilt from certified equilibria and checked out).
    """
    market = game.at(prices)
    j = game.players[k]
    lo, hi = float(game.lower[k]), float(game.upper[k])
    if not math.isfinite(hi):
        hi = vanishing_price(market, game.prefs, j)
        if hi <= lo:  # k has no load at any admissible price: nothing depends on p_k
            value, _ = joint_profit(game, prices)
            return float(prices[k]), value, 0, True
    prob = make_problem(market, game.prefs, j, hi, lo, 0.0)
    if prob.demand.size == 0:
        return float(prices[k]), 0.0, 0, True
    pieces, proven = proven_pieces(prob)
    players = np.array(game.players)
    margin = market.price[players] - game.marginal_costs  # the others' margins (k's varies)
    ck = float(game.marginal_costs[k])
    scale = prob.d_scale / TOKENS_PER_PRICE_UNIT
    support = None
    ends: list[np.ndarray] = []
    for price in [pieces[0][0], *(b for _, b, _, _ in pieces)]:
        raw = prob.solve(price, support)
        support = raw.support
        ends.append(raw.loads[players] * scale)
    best_p, best_v = float(prices[k]), -math.inf
    for (a, b, _, _), la, lb in zip(pieces, ends[:-1], ends[1:], strict=True):
        if b <= a:
            continue
        cands = [a, b]
        slope = (lb - la) / (b - a)
        # J(p) = sum_{l != k} margin_l (la_l + (p - a) slope_l) + (p - ck) (la_k + (p - a) s_k)
        others = margin.copy()
        others[k] = 0.0
        lin = float(others @ slope)
        sk, lk = float(slope[k]), float(la[k])
        if sk < 0:  # dJ/dp = lin + lk + (p - a) sk + (p - ck) sk = 0
            v = (sk * (a + ck) - lin - lk) / (2.0 * sk)
            if a < v < b:
                cands.append(v)
        for p in sorted(cands):
            val = float(others @ (la + (p - a) * slope) + (p - ck) * (lk + (p - a) * sk))
            if val > best_v:
                best_p, best_v = p, val
    return best_p, best_v, len(pieces), proven


@game_inputs
def collusive_prices(
    game: PricingGame,
    *,
    start: Sequence[float] | None = None,
    max_sweeps: int = 200,
    tol: float = 1e-10,
) -> CollusionResult:
    """The players' joint-profit-maximising prices, by exact coordinate ascent (a cartel).

    Parameters
    ----------
    market, prefs, players, marginal_costs, p_bounds
        As in :func:`~prillm.pricing.competition.price_equilibrium`; non-players keep their
        prices.
    start
        Starting prices, one per player; default the market's (list) prices. A start outside
        a player's bounds is clipped to them and the result records it
        (:attr:`CollusionResult.start_clipped`, and a clause in ``reason``).
        Coordinate ascent finds a coordinate-wise optimum near its start: try several starts
        (e.g. the list prices and the price equilibrium) and keep the best.
    max_sweeps
        Sweeps over the players before giving up.
    tol
        A sweep that raises the joint profit by at most ``tol`` relative ends the ascent.

    Returns
    -------
    CollusionResult
        With ``status == "coordinate-wise optimum"`` when the ascent stopped: each price is the
        exact maximiser of the joint profit given the others (not a proof of a joint optimum;
        see the module notes).

    Raises
    ------
    prillm.MarketError
        For invalid inputs, or when every provider colludes without an upper bound on any
        price (the joint profit is then unbounded: demand is inelastic).

    Examples
    --------
    >>> from prillm.synthetic import demo_market
    >>> market, prefs = demo_market()
    >>> cartel = collusive_prices(market, prefs, ["mid-llm", "budget-llm"])
    >>> cartel.status
    'coordinate-wise optimum'
    """
    t0 = time.perf_counter()
    if game.n_players == game.market.n_providers and not np.isfinite(game.upper).any():
        raise MarketError(
            "p_bounds: every provider colludes and no price has an upper bound; demand is "
            "inelastic in this model, so raising every price together raises the joint "
            "profit without bound (give upper bounds, or leave a provider out)"
        )
    check_integer("max_sweeps", max_sweeps, 1)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < math.inf:
        raise MarketError(f"tol: must be a finite number > 0, got {tol!r}")
    if start is None:
        prices, clipped = game.clip_start(game.list_prices())
    else:
        if isinstance(start, (str, bytes)) or not isinstance(start, (Sequence, np.ndarray)):
            raise MarketError(f"start: expected one price per player, got {start!r}")
        values = list(start)
        if len(values) != game.n_players:
            raise MarketError(
                f"start: expected {game.n_players} prices (one per player), got {len(values)}"
            )
        ids = game.player_ids
        given = [check_game_price(f"start[{ids[k]!r}]", v) for k, v in enumerate(values)]
        prices, clipped = game.clip_start(np.array(given))
    value, _ = joint_profit(game, prices)
    history = [value]
    searches = 0
    status, reason = "not_converged", f"still improving after {max_sweeps} sweeps"
    with limit_threads():
        for sweep in range(1, max_sweeps + 1):
            before = value
            unproven = []  # players whose line search this sweep rests on unproven pieces
            for k in range(game.n_players):
                p, v, _, proven = joint_line(game, prices, k)
                searches += 1
                if not proven:
                    unproven.append(game.player_ids[k])
                if v > value + 1e-12 * max(abs(v), abs(value)):
                    prices[k] = p
                    value = v
            value, _ = joint_profit(game, prices)
            history.append(value)
            if value - before <= tol * max(abs(value), 1e-300):
                status = "coordinate-wise optimum"
                reason = (
                    f"sweep {sweep} raised the joint profit by at most tol={tol:g} relative: "
                    "no single price change pays (a coordinate-wise optimum, not a proven "
                    "joint optimum)"
                )
                if unproven:
                    status = "not_certified"
                    reason = (
                        f"sweep {sweep} raised the joint profit by at most tol={tol:g} "
                        "relative, but the line searches of "
                        f"{', '.join(repr(p) for p in unproven)} rest on price paths that "
                        "failed their checks and could not be repaired from certified "
                        "equilibria: no single price change was found to pay, not proven"
                    )
                break
    value, eq = joint_profit(game, prices)
    if clipped is not None:
        reason += f"; {clip_note(clipped)}"
    return CollusionResult(
        game=game,
        prices=prices,
        profits=game.profits(eq),
        joint_profit=value,
        equilibrium=eq,
        status=status,
        reason=reason,
        history=np.array(history),
        sweeps=len(history) - 1,
        line_searches=searches,
        wall_time=time.perf_counter() - t0,
        start_clipped=clipped,
    )
