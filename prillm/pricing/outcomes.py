"""What a provider or a regulator asks of the pricing game: comparisons and best-response maps.

:func:`compare_outcomes` sets side by side, for the same market,

- the **list prices** (the market as given);
- each player as a **Stackelberg leader** against rivals at their list prices (today's
  :func:`prillm.optimal_price`, Problem 1);
- the **price equilibrium** when every player prices
  (:func:`~prillm.pricing.competition.price_equilibrium`);
- **collusion**: the players' joint-profit-maximising prices
  (:func:`~prillm.pricing.collusion.collusive_prices`, a coordinate-wise optimum, started from
  the list prices and from the equilibrium, the better kept);

with the users' total cost (Eq. 1) and what they pay at each, as tidy records (one dict per
row) for tables.

:func:`best_response_map` draws one player's exact best response as a function of another
player's price, the rest held fixed: on a two-provider market the two maps cross at the pure
equilibria, and a jump of one map across the other is how a pure equilibrium fails to exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm._threads import limit_threads
from prillm._validation import MarketError
from prillm.equilibrium import Equilibrium, solve_equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT
from prillm.pricing import PricingResult, optimal_price
from prillm.pricing.best_response import best_response, switches_hill
from prillm.pricing.collusion import CollusionResult, collusive_prices
from prillm.pricing.competition import PriceEquilibrium, price_equilibrium
from prillm.pricing.game import PricingGame, game_inputs

__all__ = ["BestResponseMap", "Comparison", "best_response_map", "compare_outcomes"]


@dataclass(frozen=True, eq=False)
class BestResponseMap:
    """One player's exact best response as a function of another player's price.

    Attributes
    ----------
    player, other
        Ids of the responding player and of the player whose price varies.
    grid
        The other player's prices.
    prices, profits
        The best response at each grid price and its profit (USD).
    jumps
        ``jumps[i]``: the best response at ``grid[i]`` lies on another local maximum of the
        player's profit than the one at ``grid[i - 1]``
        (:func:`~prillm.pricing.best_response.switches_hill`): the map jumps between the two.
    held
        Player id -> the price held fixed while ``other``'s varies (every player but
        ``other``; the responding player's own entry is its current price, which wins ties).
    start_clipped
        ``None``, or, when the default prices (the list prices) lay outside some players'
        bounds, ``{"given": {player: price}, "used": {player: price}}`` for those players:
        the prices in :attr:`held` are the clipped ones.
    """

    player: str
    other: str
    grid: np.ndarray
    prices: np.ndarray
    profits: np.ndarray
    jumps: np.ndarray
    held: dict[str, float]
    start_clipped: dict[str, Any] | None = None


def best_response_map(
    game: PricingGame, player: str | int, other: str | int, grid: Any, prices: Any = None
) -> BestResponseMap:
    """Player ``player``'s exact best response to each price of ``other`` in ``grid``.

    Parameters
    ----------
    game
        The game (:func:`~prillm.pricing.game.make_game`).
    player, other
        Two distinct players (ids or market positions).
    grid
        Prices of ``other`` (within its bounds), in increasing order.
    prices
        The remaining players' prices (one per player, each within its bounds: a price outside
        them is an error, not clipped; ``other``'s entry is replaced by the grid and not
        checked). Default the list prices, clipped to the bounds; a clip is recorded in
        :attr:`BestResponseMap.start_clipped`.

    Returns
    -------
    BestResponseMap

    Raises
    ------
    prillm.MarketError
        For a provider that is not a player, ``player == other``, a grid that is empty, not
        increasing, or outside ``other``'s bounds, or ``prices`` of the wrong length or outside
        the players' bounds.

    Examples
    --------
    >>> from prillm.pricing.game import make_game
    >>> from prillm.synthetic import demo_market
    >>> market, prefs = demo_market()
    >>> game = make_game(market, prefs, ["mid-llm", "budget-llm"])
    >>> m = best_response_map(game, "budget-llm", "mid-llm", [1.0, 2.0, 3.0])
    >>> bool(np.all(np.diff(m.prices) > 0))   # prices are strategic complements here
    True
    """
    k, o = game.player_index(player), game.player_index(other)
    if k == o:
        raise MarketError(f"other: must differ from the player, got {other!r} twice")
    xs = np.asarray(grid, dtype=float)
    if xs.ndim != 1 or xs.size == 0 or not np.all(np.isfinite(xs)):
        raise MarketError(f"grid: expected a non-empty list of finite prices, got {grid!r}")
    if np.any(np.diff(xs) <= 0):
        raise MarketError("grid: prices must be strictly increasing")
    if xs[0] < game.lower[o] or xs[-1] > game.upper[o]:
        raise MarketError(
            f"grid: prices of {game.player_ids[o]!r} must lie in its bounds "
            f"[{game.lower[o]:g}, {game.upper[o]:g}], got [{xs[0]:g}, {xs[-1]:g}]"
        )
    clipped = None
    if prices is None:
        base, clipped = game.clip_start(game.list_prices())
        if clipped is not None:  # ``other``'s list price is replaced by the grid: not used
            drop = game.player_ids[o]
            clipped = {
                key: {p: v for p, v in side.items() if p != drop} for key, side in clipped.items()
            }
            clipped = clipped if clipped["given"] else None
    else:
        base = game.check_prices("prices", prices, o)
    held = {pid: float(base[i]) for i, pid in enumerate(game.player_ids) if i != o}
    out_p = np.empty(xs.size)
    out_v = np.empty(xs.size)
    jumps = np.zeros(xs.size, dtype=bool)
    previous = None
    with limit_threads():
        for i, x in enumerate(xs):
            base[o] = x
            br = best_response(game, base, k, prune=False)
            out_p[i], out_v[i] = br.price, br.profit
            jumps[i] = previous is not None and switches_hill(previous, br)
            previous = br
    return BestResponseMap(
        game.player_ids[k], game.player_ids[o], xs, out_p, out_v, jumps, held, clipped
    )


@dataclass(frozen=True, eq=False)
class Comparison:
    """List prices, Stackelberg leaders, the price equilibrium and collusion, side by side.

    Attributes
    ----------
    game
        The game compared.
    list_equilibrium
        The users' equilibrium at the list prices.
    leaders
        Player id -> its Stackelberg optimum against rivals at list prices
        (:func:`prillm.optimal_price`, exact).
    equilibrium
        The price equilibrium (check its ``status``).
    collusion
        The players' joint-profit-maximising prices, or ``None`` (see ``collusion_note``).
    collusion_note
        Why collusion is missing (unbounded joint profit), or what was done.
    """

    game: PricingGame
    list_equilibrium: Equilibrium
    leaders: dict[str, PricingResult]
    equilibrium: PriceEquilibrium
    collusion: CollusionResult | None
    collusion_note: str = ""

    def players_table(self) -> list[dict[str, Any]]:
        """One record per player: its price and profit in each scenario."""
        g = self.game
        rows = []
        list_profits = g.profits(self.list_equilibrium)
        for k, pid in enumerate(g.player_ids):
            lead = self.leaders[pid]
            row = {
                "provider": pid,
                "list_price": float(g.market.price[g.players[k]]),
                "list_profit": float(list_profits[k]),
                "stackelberg_price": lead.price,
                "stackelberg_profit": lead.profit,
                "equilibrium_price": float(self.equilibrium.prices[k]),
                "equilibrium_profit": float(self.equilibrium.profits[k]),
            }
            if self.collusion is not None:
                row["collusion_price"] = float(self.collusion.prices[k])
                row["collusion_profit"] = float(self.collusion.profits[k])
            rows.append(row)
        return rows

    def scenarios_table(self) -> list[dict[str, Any]]:
        """One record per scenario: players' joint profit, users' cost and payment, status."""
        g = self.game

        def row(name: str, eq: Equilibrium, status: str) -> dict[str, Any]:
            paid = float(eq.market.price @ eq.loads / TOKENS_PER_PRICE_UNIT)
            tokens = float(eq.loads.sum())
            return {
                "scenario": name,
                "status": status,
                "players_profit": float(g.profits(eq).sum()),
                "users_cost": float(eq.user_costs.sum()),
                "users_payment": paid,
                "mean_price": paid * TOKENS_PER_PRICE_UNIT / tokens if tokens > 0 else math.nan,
            }

        rows = [row("list prices", self.list_equilibrium, "as given")]
        for pid, lead in self.leaders.items():
            rows.append(row(f"{pid} leads (Stackelberg)", lead.equilibrium, "global optimum"))
        rows.append(row("price equilibrium", self.equilibrium.equilibrium, self.equilibrium.status))
        if self.collusion is not None:
            rows.append(row("collusion", self.collusion.equilibrium, self.collusion.status))
        return rows


@game_inputs
def compare_outcomes(
    game: PricingGame,
    *,
    equilibrium: PriceEquilibrium | None = None,
    collusion: bool = True,
    **options: Any,
) -> Comparison:
    """The same market under list prices, Stackelberg leaders, competition and collusion.

    Parameters
    ----------
    market, prefs, players, marginal_costs, p_bounds
        As in :func:`~prillm.pricing.competition.price_equilibrium`.
    equilibrium
        A price equilibrium already computed for exactly these inputs (else computed here).
    collusion
        Also compute the joint-profit-maximising prices (skipped, with a note, when every
        provider colludes without upper bounds: the joint profit is then unbounded).
    **options
        Passed to :func:`~prillm.pricing.competition.price_equilibrium`.

    Returns
    -------
    Comparison

    Examples
    --------
    >>> from prillm.synthetic import demo_market
    >>> market, prefs = demo_market()
    >>> cmp = compare_outcomes(market, prefs, ["mid-llm", "budget-llm"])
    >>> [r["scenario"] for r in cmp.scenarios_table()]   # doctest: +NORMALIZE_WHITESPACE
    ['list prices', 'mid-llm leads (Stackelberg)', 'budget-llm leads (Stackelberg)',
     'price equilibrium', 'collusion']
    """
    market = game.market
    eq_list = solve_equilibrium(market, game.prefs)
    leaders = {}
    for k, pid in enumerate(game.player_ids):
        hi = float(game.upper[k])
        leaders[pid] = optimal_price(
            market,
            game.prefs,
            pid,
            p_max=hi if math.isfinite(hi) else None,
            p_min=float(game.lower[k]),
            marginal_cost=float(game.marginal_costs[k]),
        )
    if equilibrium is None:
        equilibrium = price_equilibrium(game, **options)
    cartel: CollusionResult | None = None
    note = ""
    if collusion:
        try:
            tries = [
                collusive_prices(game),
                collusive_prices(game, start=equilibrium.prices),
            ]
            cartel = max(tries, key=lambda c: c.joint_profit)
            note = "best of two coordinate ascents (from the list prices, from the equilibrium)"
        except MarketError as exc:
            note = str(exc)
    else:
        note = "not computed"
    return Comparison(game, eq_list, leaders, equilibrium, cartel, note)
