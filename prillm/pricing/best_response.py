"""The pricing game among providers: its players, their exact best responses, the Nash gap.

Several providers (the *players*) set their prices at once; the users answer any price profile
``p`` with their unique equilibrium (Theorem 1, Eq. 13) and player ``j`` earns

.. math::

    \\pi_j(p) = (p_j - c_j)\\, F_j^*(p) / 10^6 \\quad \\text{USD},

with ``c_j`` its marginal cost per million tokens. Given the others' prices, ``pi_j`` as a
function of ``p_j`` alone is exactly Problem 1 (Eq. 2) with ``j`` as the target, so a player's
best response is the exact price path of :mod:`prillm.pricing.exact`: a certified global
optimum over the player's price range.

This module holds what every solver of the game shares: :class:`PricingGame` (validated players,
costs and bounds), :func:`best_response` (one player's exact best response, as used inside the
iterations) and :func:`nash_certificate` (every player's best-response gain at a profile,
evaluated in the true game: the epsilon of an epsilon-Nash equilibrium).

Price ranges
------------
Player ``j`` chooses ``p_j`` in ``[lo_j, hi_j]``. Without an upper bound, the range is
``[lo_j, inf)``, of which only ``[lo_j, v_j(p_{-j})]`` matters: above the price ``v_j`` at which
``j`` loses its last user (:func:`~prillm.pricing.problem.vanishing_price`, which depends on
the others' prices) its load and profit are zero. A provider that can never lose its users (the
only provider, or ``w_p <= 0``) has an unbounded profit and needs an explicit upper bound.

References
----------
Eq. (2) Problem 1 (one target); Eq. (12)-(17) the user-side equilibrium.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from prillm._validation import MarketError
from prillm.equilibrium import Equilibrium, solve_equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT, Market, Preferences
from prillm.pricing.exact import price_path
from prillm.pricing.problem import make_problem, vanishing_price

__all__ = [
    "BestResponse",
    "NashCertificate",
    "PricingGame",
    "best_response",
    "make_game",
    "nash_certificate",
    "piece_profit",
    "profit_peaks",
]

#: A player moves only when its best response beats its current profit by more than this
#: fraction of the larger of the two (ties and round-off keep the current price).
MOVE_TOL = 1e-12


@dataclass(frozen=True, eq=False)
class PricingGame:
    """The pricing game: which providers set prices, at what cost, within which bounds.

    Attributes
    ----------
    market, prefs
        The market (non-players keep its prices) and the users' preferences.
    players
        Positions of the providers that set their prices, in the order they move.
    marginal_costs
        ``c_j`` of each player, USD per million tokens (aligned with ``players``).
    lower, upper
        Price bounds of each player; ``upper[k] = inf`` means no bound (the price range ends
        where the player loses its last user, see the module notes).
    """

    market: Market
    prefs: Preferences
    players: tuple[int, ...]
    marginal_costs: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def player_ids(self) -> tuple[str, ...]:
        """The players' provider ids."""
        return tuple(self.market.provider_ids[j] for j in self.players)

    @property
    def n_players(self) -> int:
        """Number of players."""
        return len(self.players)

    def at(self, prices: np.ndarray) -> Market:
        """The market in which the players charge ``prices`` (one per player)."""
        full = np.array(self.market.price, dtype=float)
        full[list(self.players)] = prices
        return self.market.replace(price=full)

    def clip(self, prices: Any) -> np.ndarray:
        """``prices`` (one per player) clipped to each player's bounds."""
        return np.minimum(np.maximum(np.asarray(prices, dtype=float), self.lower), self.upper)

    def start_prices(self) -> np.ndarray:
        """The players' market (list) prices, clipped to their bounds."""
        return self.clip(self.market.price[list(self.players)])

    def profits(self, eq: Equilibrium) -> np.ndarray:
        """Each player's profit (USD) at an equilibrium of this game's market."""
        j = list(self.players)
        price = eq.market.price[j]
        return (price - self.marginal_costs) * eq.loads[j] / TOKENS_PER_PRICE_UNIT

    def player_index(self, provider: str | int) -> int:
        """Position in :attr:`players` of a provider id (or market position).

        Raises
        ------
        prillm.MarketError
            For an unknown provider, or one that is not a player.
        """
        j = self.market.provider_index(provider)
        if j not in self.players:
            raise MarketError(
                f"player: {self.market.provider_ids[j]!r} is not a player; players: "
                + ", ".join(repr(p) for p in self.player_ids)
            )
        return self.players.index(j)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise MarketError(f"{name}: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MarketError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise MarketError(f"{name}: must be finite, got {value!r}")
    return v


def _players(market: Market, players: Any) -> tuple[int, ...]:
    if players is None:
        return tuple(range(market.n_providers))
    if isinstance(players, (str, int, np.integer)):
        players = [players]
    if not isinstance(players, Sequence) and not isinstance(players, np.ndarray):
        raise MarketError(f"players: expected a list of provider ids, got {players!r}")
    out: list[int] = []
    for p in players:
        if isinstance(p, str) and p not in market.provider_index_map:
            raise MarketError(
                f"players: unknown provider id {p!r}; known ids: "
                + ", ".join(repr(q) for q in market.provider_ids[:10])
                + (" ..." if market.n_providers > 10 else "")
            )
        if not isinstance(p, (str, int, np.integer)) or isinstance(p, bool):
            raise MarketError(f"players: expected provider ids, got {p!r}")
        try:
            j = market.provider_index(p)
        except MarketError as exc:
            raise MarketError(f"players: {exc}") from None
        if j in out:
            raise MarketError(f"players: {market.provider_ids[j]!r} is listed twice")
        out.append(j)
    if not out:
        raise MarketError("players: at least one player is needed, got none")
    return tuple(out)


def _per_player(
    name: str, market: Market, players: tuple[int, ...], value: Any
) -> dict[int, Any] | list[Any]:
    """A mapping keyed by player ids (as positions in ``players``) or a per-player sequence."""
    if isinstance(value, Mapping):
        out: dict[int, Any] = {}
        for key, v in value.items():
            if not isinstance(key, str) or key not in market.provider_index_map:
                raise MarketError(f"{name}: unknown provider id {key!r}")
            j = market.provider_index_map[key]
            if j not in players:
                raise MarketError(f"{name}: {key!r} is not a player")
            out[players.index(j)] = v
        return out
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise MarketError(f"{name}: expected a mapping from player ids, got {value!r}")
    values = list(value)
    if len(values) != len(players):
        raise MarketError(
            f"{name}: expected {len(players)} values (one per player), got {len(values)}"
        )
    return values


def make_game(
    market: Market,
    prefs: Preferences | None = None,
    players: Sequence[str | int] | None = None,
    marginal_costs: Mapping[str, float] | Sequence[float] | None = None,
    p_bounds: Any = None,
) -> PricingGame:
    """Validate the pricing game's inputs.

    Parameters
    ----------
    market, prefs
        The market and the users' preferences (``None``: the defaults).
    players
        Provider ids (or positions) that set their prices, in the order they move; default all.
    marginal_costs
        A mapping from player id to ``c_j`` (USD per million tokens; missing players: 0), or one
        value per player; default 0.
    p_bounds
        ``(lo, hi)`` for every player, or a mapping from player id to ``(lo, hi)``; ``hi`` may
        be ``None`` (no upper bound). Default ``(0, None)``.

    Returns
    -------
    PricingGame

    Raises
    ------
    prillm.MarketError
        For an unknown or duplicate player, a cost that is negative or not a finite number,
        bounds that are not numbers, a negative lower bound, an upper bound not above the lower
        one (the bounds exclude every price), or a player with no upper bound whose profit is
        unbounded (it can never lose its users: the only provider, or ``w_p <= 0``).

    Examples
    --------
    >>> from prillm.synthetic import demo_market
    >>> market, prefs = demo_market()
    >>> game = make_game(market, prefs, ["budget-llm", "mid-llm"], {"budget-llm": 0.1})
    >>> game.player_ids, game.marginal_costs.tolist()
    (('budget-llm', 'mid-llm'), [0.1, 0.0])
    """
    if not isinstance(market, Market):
        raise MarketError(f"market: expected a prillm.Market, got {type(market).__name__}")
    prefs = Preferences() if prefs is None else prefs
    if not isinstance(prefs, Preferences):
        raise MarketError(f"prefs: expected prillm.Preferences, got {type(prefs).__name__}")
    w_p = float(prefs.values_for(market)[0])
    idx = _players(market, players)
    k = len(idx)
    ids = [market.provider_ids[j] for j in idx]
    costs = np.zeros(k)
    if marginal_costs is not None:
        given = _per_player("marginal_costs", market, idx, marginal_costs)
        items = given.items() if isinstance(given, dict) else enumerate(given)
        for pos, v in items:
            c = _number(f"marginal_costs[{ids[pos]!r}]", v)
            if c < 0:
                raise MarketError(f"marginal_costs[{ids[pos]!r}]: must be >= 0, got {v!r}")
            costs[pos] = c
    lower = np.zeros(k)
    upper = np.full(k, math.inf)
    if p_bounds is not None:
        if isinstance(p_bounds, Mapping):
            given_b = _per_player("p_bounds", market, idx, p_bounds)
            assert isinstance(given_b, dict)
            pairs = list(given_b.items())
        else:
            pairs = [(pos, p_bounds) for pos in range(k)]
        for pos, pair in pairs:
            where = f"p_bounds[{ids[pos]!r}]"
            if isinstance(pair, (str, bytes)) or not isinstance(pair, (Sequence, np.ndarray)):
                raise MarketError(f"{where}: expected a pair (lo, hi), got {pair!r}")
            if len(pair) != 2:
                raise MarketError(f"{where}: expected a pair (lo, hi), got {pair!r}")
            lo = _number(f"{where}[0] (lower bound)", pair[0])
            if lo < 0:
                raise MarketError(f"{where}: the lower bound must be >= 0, got {pair[0]!r}")
            lower[pos] = lo
            if pair[1] is not None:
                hi = _number(f"{where}[1] (upper bound)", pair[1])
                if hi <= lo:
                    raise MarketError(
                        f"{where}: the upper bound {pair[1]!r} is not above the lower bound "
                        f"{pair[0]!r}: the bounds exclude every price"
                    )
                upper[pos] = hi
    if market.n_providers == 1 or w_p <= 0:
        for pos in np.flatnonzero(~np.isfinite(upper)):
            raise MarketError(
                f"p_bounds[{ids[pos]!r}]: an upper bound is needed: this player never loses its "
                + (
                    "users (it is the only provider)"
                    if market.n_providers == 1
                    else f"users (w_p = {w_p!r} <= 0)"
                )
                + ", so its profit grows without bound"
            )
    costs.setflags(write=False)
    lower.setflags(write=False)
    upper.setflags(write=False)
    return PricingGame(market, prefs, idx, costs, lower, upper)


# ---------------------------------------------------------------------------- best response
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
        Pieces of the path followed (``0`` when no price can beat the current one).
    peaks
        Local maxima ``(price, profit)`` of the player's profit as a function of its own price,
        on the part of the range that was followed (more than one: the profit is not
        quasi-concave there).
    same_hill
        Whether the profit rises monotonically from the current price to the best response;
        ``False`` means the best response *jumps* to another local maximum, across a valley.
    """

    player: int
    price: float
    profit: float
    current_price: float
    current_profit: float
    pieces: int
    peaks: tuple[tuple[float, float], ...]
    same_hill: bool = True

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


def _relative(gain: float, a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    if scale == 0.0:
        return 0.0 if gain <= 0 else math.inf
    return gain / scale


def piece_profit(pieces: Sequence[tuple[float, float, float, float]], price: float, cost: float):
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

    Returns
    -------
    BestResponse
        ``pieces`` counts the pieces followed; ``peaks`` holds the local maxima on the part of
        the range that was followed (which contains the current price and the best response).
    """
    market = game.at(prices)
    j = game.players[k]
    lo, cost = float(game.lower[k]), float(game.marginal_costs[k])
    cur = float(prices[k])
    hi = float(game.upper[k])
    if not math.isfinite(hi):
        hi = vanishing_price(market, game.prefs, j)
        if hi <= lo:  # no load at any admissible price: the profit is 0 everywhere
            return BestResponse(k, cur, 0.0, cur, 0.0, 0, (), True)
    prob = make_problem(market, game.prefs, j, hi, lo, cost)
    scale = prob.d_scale / TOKENS_PER_PRICE_UNIT
    if prob.demand.size == 0:
        return BestResponse(k, cur, 0.0, cur, 0.0, 0, (), True)
    pi_cur = (cur - cost) * prob.load_at(cur)[0] * scale if cur < hi else 0.0
    f_lo = prob.load_at(lo)[0] * scale if prune else 0.0
    p0, p1 = lo, hi
    if prune:
        if pi_cur > 0 and f_lo > 0:
            p0 = max(lo, cost + pi_cur / f_lo)
        if p0 >= hi:  # no price beats the current one
            return BestResponse(k, cur, pi_cur, cur, pi_cur, 0, (), True)
        p1 = cost + 1.6 * (cur - cost) if cur > max(p0, cost) else hi
        p1 = hi if not p0 < p1 < hi else p1
    path = price_path(replace(prob, p_min=p0, p_max=p1))
    pieces = list(path["pieces"])
    best_p, best_v = path["best"]
    if p1 < hi:
        a, b, load0, dload = pieces[-1]
        f1 = max(load0 + (b - a) * dload, 0.0)
        if (hi - cost) * f1 / TOKENS_PER_PRICE_UNIT > max(best_v, pi_cur):
            rest = price_path(replace(prob, p_min=p1, p_max=hi))
            pieces += rest["pieces"]
            if rest["best"][1] > best_v:
                best_p, best_v = rest["best"]
    if pi_cur >= best_v:  # the current price is (one of) the best
        best_p, best_v = cur, pi_cur
    hill = _same_hill(pieces, cost, cur, float(best_p)) if pieces else True
    return BestResponse(
        k,
        float(best_p),
        float(best_v),
        cur,
        float(pi_cur),
        len(pieces),
        profit_peaks(pieces, cost),
        hill,
    )


# ---------------------------------------------------------------------------- certificate
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
    """

    players: tuple[str, ...]
    prices: np.ndarray
    profits: np.ndarray
    best_prices: np.ndarray
    best_profits: np.ndarray

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
                _relative(float(e), float(a), float(b))
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

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation, one entry per player."""
        return {
            "epsilon_abs_usd": self.max_abs,
            "epsilon_relative": self.max_relative,
            "players": [
                {
                    "id": pid,
                    "price": float(self.prices[k]),
                    "profit_usd": float(self.profits[k]),
                    "best_response_price": float(self.best_prices[k]),
                    "best_response_profit_usd": float(self.best_profits[k]),
                    "epsilon_abs_usd": float(self.epsilon[k]),
                    "epsilon_relative": float(self.relative[k]),
                }
                for k, pid in enumerate(self.players)
            ],
        }


def nash_certificate(
    game: PricingGame, prices: Any, eq: Equilibrium | None = None
) -> tuple[NashCertificate, Equilibrium]:
    """Every player's exact best-response gain at a price profile (the epsilon of epsilon-Nash).

    Each player's best response is :func:`best_response` (the certified global optimum of its
    profit given the others' prices, by the exact price path); its profit and the profits at the
    profile are then evaluated in the true game (:func:`prillm.solve_equilibrium`).

    Parameters
    ----------
    game
        The game.
    prices
        One price per player (clipped to the bounds).
    eq
        The certified user-side equilibrium at ``prices`` if already known.

    Returns
    -------
    certificate, equilibrium
        The :class:`NashCertificate` and the user-side equilibrium at ``prices``.

    Examples
    --------
    >>> from prillm.synthetic import demo_market
    >>> market, prefs = demo_market()
    >>> game = make_game(market, prefs)
    >>> cert, _ = nash_certificate(game, game.start_prices())
    >>> bool(cert.max_relative > 0.1)   # the list prices are far from an equilibrium
    True
    """
    prices = game.clip(np.array(prices, dtype=float))
    market = game.at(prices)
    if eq is None:
        eq = solve_equilibrium(market, game.prefs)
    profits = game.profits(eq)
    best_p = prices.copy()
    best_v = profits.copy()
    for k, j in enumerate(game.players):
        br = best_response(game, prices, k)
        if br.price != prices[k]:
            there = solve_equilibrium(market.with_price(j, br.price), game.prefs, warm_start=eq)
            best_p[k] = br.price
            best_v[k] = (br.price - game.marginal_costs[k]) * there.loads[j] / TOKENS_PER_PRICE_UNIT
    cert = NashCertificate(game.player_ids, prices, profits, best_p, best_v)
    return cert, eq
