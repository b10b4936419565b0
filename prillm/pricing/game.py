"""The pricing game among providers: who sets prices, at what cost, within which bounds.

Several providers (the *players*) set their prices at once; the users answer any price profile
``p`` with their unique equilibrium (Theorem 1, Eq. 13) and player ``j`` earns

.. math::

    \\pi_j(p) = (p_j - c_j)\\, F_j^*(p) / 10^6 \\quad \\text{USD},

with ``c_j`` its marginal cost per million tokens. Given the others' prices, ``pi_j`` as a
function of ``p_j`` alone is exactly Problem 1 (Eq. 2) with ``j`` as the target, so a player's
best response is the exact price path of :mod:`prillm.pricing.exact`
(:mod:`prillm.pricing.best_response`).

Price ranges
------------
Player ``j`` chooses ``p_j`` in ``[lo_j, hi_j]``. Without an upper bound, the range is
``[lo_j, inf)``, of which only ``[lo_j, v_j(p_{-j})]`` matters: above the price ``v_j`` at which
``j`` loses its last user (:func:`~prillm.pricing.problem.vanishing_price`, which depends on
the others' prices) its load and profit are zero. A provider that can never lose its users (the
only provider, or ``w_p <= 0``) has an unbounded profit and needs an explicit upper bound.

References
----------
Eq. (2) Problem 1 (one target); Eq. (13) the user-side equilibrium.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from prillm._validation import MarketError, check_number
from prillm.equilibrium import Equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT, Market, Preferences

__all__ = [
    "GAME_INPUTS",
    "PricingGame",
    "UsersOutcome",
    "game_inputs",
    "make_game",
    "relative_gain",
]

#: The inputs that define a pricing game: the parameters of :func:`make_game`, in order.
GAME_INPUTS = ("market", "prefs", "players", "marginal_costs", "p_bounds")

_T = TypeVar("_T")


class UsersOutcome:
    """What the users pay and suffer at an outcome's prices (a mixin of the game's results).

    The class using it has an ``equilibrium`` attribute: the certified user-side equilibrium at
    the outcome's prices.
    """

    equilibrium: Equilibrium

    @property
    def users_cost(self) -> float:
        """The users' total cost of Eq. (1) at the returned prices (USD)."""
        return float(self.equilibrium.user_costs.sum())

    @property
    def users_payment(self) -> float:
        """What the users pay the providers at the returned prices (USD)."""
        eq = self.equilibrium
        return float(eq.market.price @ eq.loads / TOKENS_PER_PRICE_UNIT)


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

    def list_prices(self) -> np.ndarray:
        """The players' market (list) prices, as given (not clipped)."""
        return np.array(self.market.price[list(self.players)], dtype=float)

    def check_prices(self, name: str, prices: Any, skip: int | None = None) -> np.ndarray:
        """``prices`` (one per player) as an array, checked to lie within the players' bounds.

        For prices at which something is evaluated: a price outside a player's bounds is an
        error, never clipped. ``skip`` (a position in :attr:`players`) is not checked.

        Raises
        ------
        prillm.MarketError
            Naming ``name[player]``, the value and the bounds, for a price that is not a finite
            number >= 0 or lies outside ``[lower, upper]``; or for the wrong number of prices.
        """
        values = _price_list(name, prices, self.n_players)
        ids = self.player_ids
        out = np.empty(self.n_players)
        for k, v in enumerate(values):
            if k == skip:
                out[k] = float(v) if _is_number(v) else math.nan
                continue
            p = check_game_price(f"{name}[{ids[k]!r}]", v)
            lo, hi = float(self.lower[k]), float(self.upper[k])
            if not lo <= p <= hi:
                raise MarketError(
                    f"{name}[{ids[k]!r}]: {p!r} is outside the player's bounds [{lo:g}, {hi:g}]"
                )
            out[k] = p
        return out

    def clip_start(self, start: np.ndarray) -> tuple[np.ndarray, dict[str, Any] | None]:
        """A starting profile clipped to the bounds, and the record of what was clipped.

        Returns
        -------
        used, record
            ``start`` clipped to each player's bounds, and ``None`` if nothing was clipped,
            else ``{"given": {player: price}, "used": {player: price}}`` for the clipped
            players (:func:`clip_note` words it for a ``reason``).
        """
        start = np.asarray(start, dtype=float)
        used = self.clip(start)
        moved = np.flatnonzero(used != start)
        if moved.size == 0:
            return used, None
        ids = self.player_ids
        record = {
            "given": {ids[k]: float(start[k]) for k in moved},
            "used": {ids[k]: float(used[k]) for k in moved},
        }
        return used, record

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
            c = check_number(f"marginal_costs[{ids[pos]!r}]", v)
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
            lo = check_number(f"{where}[0] (lower bound)", pair[0])
            if lo < 0:
                raise MarketError(f"{where}: the lower bound must be >= 0, got {pair[0]!r}")
            lower[pos] = lo
            if pair[1] is not None:
                hi = check_number(f"{where}[1] (upper bound)", pair[1])
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


def game_inputs(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Let ``fn(game, *, **options)`` be called with the game's inputs instead of the game.

    The returned function takes the parameters of :func:`make_game` (:data:`GAME_INPUTS`, by
    position or by name) followed by ``fn``'s keyword-only options, builds the game with
    :func:`make_game` and returns ``fn(game, **options)``. A :class:`PricingGame` already built
    may be given as ``market``, with none of the other inputs. :func:`inspect.signature` (and so
    ``help``) shows the full signature.

    Raises
    ------
    prillm.MarketError
        Any error of :func:`make_game`, or other inputs given with a :class:`PricingGame`.
    TypeError
        For arguments the signature does not take, as for any function.
    """
    own = inspect.signature(fn)
    options = list(own.parameters.values())[1:]
    inputs = list(inspect.signature(make_game).parameters.values())
    signature = own.replace(parameters=[*inputs, *options])

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> _T:
        bound = signature.bind(*args, **kwargs)
        given = {name: bound.arguments.pop(name) for name in GAME_INPUTS if name in bound.arguments}
        market = given.pop("market")
        if isinstance(market, PricingGame):
            extra = [name for name, value in given.items() if value is not None]
            if extra:
                raise MarketError(
                    f"{', '.join(extra)}: already part of the PricingGame given as market; "
                    "give the game alone, or the market and its inputs"
                )
            game = market
        else:
            game = make_game(market, **given)
        return fn(game, **bound.kwargs)

    call.__signature__ = signature  # type: ignore[attr-defined]
    return call


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def check_game_price(name: str, value: Any) -> float:
    """``value`` as a price: a finite number >= 0 (``MarketError`` naming ``name`` otherwise)."""
    if not _is_number(value):
        raise MarketError(f"{name}: expected a price, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise MarketError(f"{name}: a price must be finite and >= 0, got {value!r}")
    return v


def _price_list(name: str, prices: Any, n: int) -> list[Any]:
    if isinstance(prices, (str, bytes)) or not isinstance(prices, (Sequence, np.ndarray)):
        raise MarketError(f"{name}: expected one price per player, got {prices!r}")
    values = list(np.asarray(prices).ravel()) if isinstance(prices, np.ndarray) else list(prices)
    if isinstance(prices, np.ndarray) and prices.ndim != 1:
        raise MarketError(f"{name}: expected one price per player, got shape {prices.shape}")
    if len(values) != n:
        raise MarketError(f"{name}: expected {n} prices (one per player), got {len(values)}")
    return values


def clip_note(record: dict[str, Any] | None) -> str:
    """A ``reason`` clause for a start clipped to the bounds (empty when nothing was clipped)."""
    if record is None:
        return ""
    moves = ", ".join(
        f"{pid!r} {given:g} -> {record['used'][pid]:g}" for pid, given in record["given"].items()
    )
    return f"the start was clipped to the bounds ({moves})"


def relative_gain(gain: float, a: float, b: float) -> float:
    """``gain`` over the larger magnitude of the profits ``a`` and ``b`` (0 when both are 0)."""
    scale = max(abs(a), abs(b))
    if scale == 0.0:
        return 0.0 if gain <= 0 else math.inf
    return gain / scale
