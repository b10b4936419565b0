"""How far a price profile is from a Nash equilibrium: every player's best-response gain.

A profile ``p`` is an ``epsilon``-Nash equilibrium of the pricing game when no player can raise
its profit by more than ``epsilon`` by changing its own price alone. With exact best responses
(:func:`~prillm.pricing.best_response.best_response`, the certified global optimum along the
player's price) the smallest such ``epsilon`` is computed, not estimated:
:func:`nash_certificate` returns it per player, absolute (USD) and relative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm._jsonable import id_rows
from prillm.equilibrium import Equilibrium, solve_equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT
from prillm.pricing.best_response import best_response
from prillm.pricing.game import PricingGame, relative_gain

__all__ = ["NashCertificate", "nash_certificate"]


@dataclass(frozen=True, eq=False)
class NashCertificate:
    """How far a price profile is from a Nash equilibrium: each player's best-response gain.

    Every profit is evaluated in the true game: the profits at the profile from one certified
    user-side equilibrium (:func:`prillm.solve_equilibrium`), each best response (the
    certified global optimum of the player's profit given the others' prices, by the exact price
    path, :func:`best_response`) at its own certified equilibrium. The profile is an
    ``epsilon``-Nash equilibrium for ``epsilon = max_abs`` (USD): no player can gain more than
    that by changing its price alone.

    Attributes
    ----------
    players
        The players' ids.
    prices, profits
        The profile and each player's profit there (USD).
    best_prices, best_profits
        Each player's best response to the others and its profit (USD).
    certified
        Per player, whether its best response is the proven global optimum
        (:attr:`~prillm.pricing.best_response.BestResponse.certified`). Where it is not, that
        player's epsilon is only a lower bound (its best response may earn more still).
    """

    players: tuple[str, ...]
    prices: np.ndarray
    profits: np.ndarray
    best_prices: np.ndarray
    best_profits: np.ndarray
    certified: np.ndarray

    @property
    def gains(self) -> np.ndarray:
        """``best_profits - profits`` (USD; negative only by round-off)."""
        return self.best_profits - self.profits

    @property
    def epsilon(self) -> np.ndarray:
        """Each player's epsilon, ``max(gain, 0)`` (USD)."""
        return np.maximum(self.gains, 0.0)

    @property
    def relative(self) -> np.ndarray:
        """Each player's epsilon over the larger magnitude of its two profits (0 if both 0)."""
        return np.array(
            [
                relative_gain(float(e), float(a), float(b))
                for e, a, b in zip(self.epsilon, self.best_profits, self.profits, strict=True)
            ]
        )

    @property
    def max_abs(self) -> float:
        """The epsilon of the epsilon-Nash equilibrium (USD)."""
        return float(self.epsilon.max())

    @property
    def max_relative(self) -> float:
        """The largest relative epsilon over the players."""
        return float(self.relative.max())

    @property
    def proven(self) -> bool:
        """Whether every best response is proven, so that :attr:`max_abs` is the epsilon itself
        (otherwise a lower bound on it)."""
        return bool(np.all(self.certified))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation, one entry per player."""
        return {
            "epsilon_abs_usd": self.max_abs,
            "epsilon_relative": self.max_relative,
            "proven": self.proven,
            "players": id_rows(
                self.players,
                price=self.prices,
                profit_usd=self.profits,
                best_response_price=self.best_prices,
                best_response_profit_usd=self.best_profits,
                epsilon_abs_usd=self.epsilon,
                epsilon_relative=self.relative,
                best_response_certified=[bool(c) for c in self.certified],
            ),
        }


def nash_certificate(
    game: PricingGame, prices: Any, eq: Equilibrium | None = None
) -> tuple[NashCertificate, Equilibrium]:
    """Every player's exact best-response gain at a price profile (the epsilon of epsilon-Nash).

    Each player's best response is :func:`best_response` (the certified global optimum of its
    profit given the others' prices, by the exact price path; :attr:`NashCertificate.certified`
    says where it could not be proven); its profit and the profits at the profile are then
    evaluated in the true game (:func:`prillm.solve_equilibrium`).

    Parameters
    ----------
    game
        The game.
    prices
        One price per player, each within the player's bounds (a price outside them is an
        error, not clipped: the certificate is about the profile given).
    eq
        The certified user-side equilibrium at ``prices`` if already known.

    Returns
    -------
    certificate, equilibrium
        The :class:`NashCertificate` and the user-side equilibrium at ``prices``.

    Raises
    ------
    prillm.MarketError
        For the wrong number of prices, or a price that is not a finite number >= 0 or lies
        outside its player's bounds (the message names ``prices[player]``, the value and the
        bounds).

    Examples
    --------
    >>> from prillm.pricing.game import make_game
    >>> from prillm.synthetic import demo_market
    >>> market, prefs = demo_market()
    >>> game = make_game(market, prefs)
    >>> cert, _ = nash_certificate(game, game.start_prices())
    >>> bool(cert.max_relative > 0.1)   # the list prices are far from an equilibrium
    True
    """
    prices = game.check_prices("prices", prices)
    market = game.at(prices)
    if eq is None:
        eq = solve_equilibrium(market, game.prefs)
    profits = game.profits(eq)
    best_p = prices.copy()
    best_v = profits.copy()
    certified = np.ones(game.n_players, dtype=bool)
    for k, j in enumerate(game.players):
        br = best_response(game, prices, k)
        certified[k] = br.certified
        if br.price != prices[k]:
            there = solve_equilibrium(market.with_price(j, br.price), game.prefs, warm_start=eq)
            best_p[k] = br.price
            best_v[k] = (br.price - game.marginal_costs[k]) * there.loads[j] / TOKENS_PER_PRICE_UNIT
    cert = NashCertificate(game.player_ids, prices, profits, best_p, best_v, certified)
    return cert, eq
