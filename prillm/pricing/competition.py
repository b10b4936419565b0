"""When every provider prices: the price equilibrium of the game among providers.

The paper prices one provider against rivals whose prices are fixed (Problem 1, Eq. 2) and
names "multiple leaders" as future work. Here several providers (the *players*) set their
prices; each maximises its own profit ``(p_j - c_j) F_j(p) / 1e6`` given the others' prices,
the users answering every price profile with their unique equilibrium (Eq. 13).

:func:`price_equilibrium` runs best-response dynamics: each player in turn (Gauss-Seidel) or
all at once (Jacobi) moves to its exact best response (:func:`~prillm.pricing.best_response.
best_response`, the certified global optimum of its profit along its own price), optionally
damped. Every answer carries a :class:`~prillm.pricing.nash.NashCertificate`: each
player's best-response gain at the returned prices, evaluated in the true game, i.e. the
epsilon of an epsilon-Nash equilibrium. The status is

``"converged"``
    the certificate's relative epsilon is at most ``tol``: no player can raise its profit by
    more than that fraction by changing its price alone;
``"cycle"``
    the prices revisit an earlier round's (up to ``cycle_tol``): the dynamics are periodic and
    the returned prices are *not* an equilibrium (their epsilon says by how much);
``"not_converged"``
    still moving after ``max_rounds`` rounds;
``"not_certified"``
    every computed best-response gain is within ``tol``, but some player's best response
    could not be proven the global optimum (its price path failed its checks and the repair
    from certified equilibria did not check out): the epsilon is only a lower bound.

Profits are continuous and piecewise quadratic in a player's own price but need not be
quasi-concave (they can have several local maxima), so a pure equilibrium need not exist, and
best responses can jump from one local maximum to another. A cycle's :class:`Cycle` record says
whether its best responses jump between local maxima of the movers' profits (``"jump"``, or
``"edgeworth"`` when every jump goes up after undercutting steps) or not (``"smooth"``).

:func:`prillm.pricing.respond.respond_to` answers "if this provider moves to this price, what do
the others do?": the mover's price is held fixed and the others play the game among themselves.
Joint-profit maximisation (collusion) is in :mod:`prillm.pricing.collusion`.

References
----------
Eq. (2) Problem 1 for one target; Eq. (13) the user-side equilibrium. Existence of equilibria:
Debreu, Glicksberg and Fan (pure, under quasi-concavity); Glicksberg (mixed, continuous payoffs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm._jsonable import id_rows, json_fields
from prillm._threads import limit_threads
from prillm._validation import MarketError, check_integer
from prillm.equilibrium import Equilibrium
from prillm.market import Market
from prillm.pricing.best_response import BestResponse, best_response
from prillm.pricing.cycles import Cycle, classify_cycle, find_cycle
from prillm.pricing.game import (
    PricingGame,
    UsersOutcome,
    check_game_price,
    clip_note,
    game_inputs,
)
from prillm.pricing.nash import NashCertificate, nash_certificate

__all__ = ["METHODS", "Cycle", "PriceEquilibrium", "check_price", "price_equilibrium"]

#: Best-response schemes.
METHODS = ("gauss-seidel", "jacobi")


@dataclass(frozen=True, eq=False)
class PriceEquilibrium(UsersOutcome):
    """The outcome of best-response dynamics in the pricing game, with its certificate.

    Attributes
    ----------
    game
        The game (market, preferences, players, marginal costs, bounds).
    prices, profits
        The players' prices at the end (USD per million tokens) and their profits (USD),
        evaluated in the true game.
    equilibrium
        The certified user-side equilibrium at those prices (its ``market`` holds every price).
    certificate
        Each player's exact best-response gain at ``prices``: the epsilon (absolute and
        relative, per player).
    status, reason
        ``"converged"``, ``"cycle"``, ``"not_converged"`` or ``"not_certified"``, and why.
    history
        The players' prices at the start of each round and at the end, ``(rounds + 1,
        players)``.
    steps
        One record per best response: ``round``, ``player`` (id), ``from`` (price before),
        ``best`` (the best response), ``to`` (the new price, after damping), ``gain`` (USD),
        ``relative_gain``, ``pieces`` (pieces of the price path followed).
    n_best_responses
        Exact best responses computed, the certificate's included.
    cycle
        The periodic orbit when ``status == "cycle"``.
    method, damping, tol, wall_time
        The scheme, its damping, the tolerance on the relative epsilon, and seconds spent.
    start_clipped
        ``None`` when the dynamics started where asked (``start``, or by default the list
        prices); else the start was outside the bounds and was clipped to them:
        ``{"given": {player: price}, "used": {player: price}}`` for the clipped players (also
        said in ``reason``; ``history[0]`` is the start used).
    """

    game: PricingGame
    prices: np.ndarray
    profits: np.ndarray
    equilibrium: Equilibrium
    certificate: NashCertificate
    status: str
    reason: str
    history: np.ndarray
    steps: list[dict[str, Any]] = field(default_factory=list)
    n_best_responses: int = 0
    cycle: Cycle | None = None
    method: str = "gauss-seidel"
    damping: float = 1.0
    tol: float = 1e-9
    wall_time: float = 0.0
    start_clipped: dict[str, Any] | None = None

    @property
    def player_ids(self) -> tuple[str, ...]:
        """The players' ids."""
        return self.game.player_ids

    @property
    def market(self) -> Market:
        """The market at the returned prices."""
        return self.equilibrium.market

    @property
    def converged(self) -> bool:
        """Whether the returned prices are a certified epsilon-Nash equilibrium (``tol``)."""
        return self.status == "converged"

    @property
    def epsilon(self) -> float:
        """The largest best-response gain at the returned prices (USD)."""
        return self.certificate.max_abs

    @property
    def epsilon_relative(self) -> float:
        """The largest relative best-response gain at the returned prices."""
        return self.certificate.max_relative

    @property
    def n_rounds(self) -> int:
        """Rounds of best responses played."""
        return int(self.history.shape[0] - 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (the per-step records included)."""
        eq = self.equilibrium
        players = list(self.game.players)
        return {
            **json_fields(self, "status", "reason", "method", "damping", "tol"),
            "rounds": self.n_rounds,
            "best_responses": self.n_best_responses,
            "wall_time_s": self.wall_time,
            "epsilon_abs_usd": self.epsilon,
            "epsilon_relative": self.epsilon_relative,
            "players": id_rows(
                self.player_ids,
                price=self.prices,
                marginal_cost=self.game.marginal_costs,
                profit_usd=self.profits,
                load=eq.loads[players],
                share=eq.shares[players],
                best_response_price=self.certificate.best_prices,
                epsilon_abs_usd=self.certificate.epsilon,
                epsilon_relative=self.certificate.relative,
            ),
            "prices": {
                pid: float(eq.market.price[j]) for j, pid in enumerate(eq.market.provider_ids)
            },
            "users_cost_usd": self.users_cost,
            "users_payment_usd": self.users_payment,
            "history": self.history.tolist(),
            "steps": [dict(s) for s in self.steps],
            "cycle": None if self.cycle is None else self.cycle.to_dict(),
            "start_clipped": self.start_clipped,
        }


def _check_options(method: str, damping: Any, max_rounds: Any, tol: Any, cycle_tol: Any) -> None:
    if method not in METHODS:
        raise MarketError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
    for name, value, lo_open in (("damping", damping, 0.0), ("tol", tol, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
            raise MarketError(f"{name}: expected a number, got {value!r}")
        if not math.isfinite(value) or value <= lo_open:
            raise MarketError(f"{name}: must be a finite number > 0, got {value!r}")
    if damping > 1:
        raise MarketError(f"damping: must be in (0, 1], got {damping!r}")
    if isinstance(cycle_tol, bool) or not isinstance(cycle_tol, (int, float, np.floating)):
        raise MarketError(f"cycle_tol: expected a number, got {cycle_tol!r}")
    if not math.isfinite(cycle_tol) or cycle_tol < 0:
        raise MarketError(f"cycle_tol: must be a finite number >= 0, got {cycle_tol!r}")
    check_integer("max_rounds", max_rounds, 1)


def _start(game: PricingGame, start: Any) -> tuple[np.ndarray, dict[str, Any] | None]:
    """The starting prices, clipped to the bounds, and the record of what was clipped."""
    if start is None:
        return game.clip_start(game.list_prices())
    ids = game.player_ids
    if isinstance(start, Mapping):
        prices = game.list_prices()
        for key, v in start.items():
            k = game.player_index(key)
            prices[k] = check_price(f"start[{ids[k]!r}]", v)
        return game.clip_start(prices)
    if isinstance(start, (str, bytes)) or not isinstance(start, (Sequence, np.ndarray)):
        raise MarketError(f"start: expected one price per player or a mapping, got {start!r}")
    values = list(start)
    if len(values) != game.n_players:
        raise MarketError(
            f"start: expected {game.n_players} prices (one per player), got {len(values)}"
        )
    return game.clip_start([check_price(f"start[{ids[k]!r}]", v) for k, v in enumerate(values)])


def check_price(name: str, value: Any) -> float:
    """``value`` as a price: a finite number >= 0 (``MarketError`` naming ``name`` otherwise)."""
    return check_game_price(name, value)


def _step(price: float, br: BestResponse, damping: float, lo: float, hi: float) -> float:
    """The damped move towards a best response, ``p + damping (BR - p)``.

    Both ends lie within ``[lo, hi]``, so the move does too; the clip only removes the round-off
    of the damped step (an ulp), which would otherwise reach outside the bounds.
    """
    if not br.moves:
        return float(price)
    return float(min(max(price + damping * (br.price - price), lo), hi))


def _record(game: PricingGame, rnd: int, br: BestResponse, new: float) -> dict[str, Any]:
    return {
        "round": rnd,
        "player": game.player_ids[br.player],
        "from": br.current_price,
        "best": br.price,
        "to": new,
        "gain": br.gain,
        "relative_gain": br.relative_gain,
        "pieces": br.n_pieces,
    }


@game_inputs
def price_equilibrium(
    game: PricingGame,
    *,
    method: str = "gauss-seidel",
    damping: float = 1.0,
    max_rounds: int = 100,
    tol: float = 1e-9,
    start: Mapping[str, float] | Sequence[float] | None = None,
    cycle_tol: float = 1e-9,
) -> PriceEquilibrium:
    """The price equilibrium among providers by exact best-response dynamics, certified.

    Parameters
    ----------
    market, prefs
        The market (non-players keep its prices) and the users' preferences. A
        :class:`~prillm.pricing.game.PricingGame` may be given as ``market`` instead, with no
        other input: its preferences, players, costs and bounds are then the game's.
    players
        Provider ids (or positions) that set their prices, in the order they move; default all.
    marginal_costs
        A mapping from player id to its cost per million tokens, or one value per player;
        default 0. Profit is ``(p_j - c_j) F_j / 1e6`` USD.
    p_bounds
        ``(lo, hi)`` for every player or a mapping from player id to ``(lo, hi)``; ``hi`` may be
        ``None``: then the range ends where the player loses its last user. Default
        ``(0, None)``.
    method
        ``"gauss-seidel"`` (players move in turn, each seeing the previous moves) or
        ``"jacobi"`` (all move at once against the same prices).
    damping
        In ``(0, 1]``: a moving player goes to ``p + damping (BR - p)``.
    max_rounds
        Rounds of best responses before giving up.
    tol
        The largest relative epsilon accepted as an equilibrium (each player's best-response
        gain over its best-response profit).
    start
        Starting prices (a mapping from player id, or one per player; players left out of a
        mapping start at their list price); default the market's (list) prices. A start
        outside a player's bounds is clipped to them and the result records it
        (:attr:`PriceEquilibrium.start_clipped`, and a clause in ``reason``).
    cycle_tol
        Two rounds' prices closer than ``cycle_tol`` times the largest price count as the same.

    Returns
    -------
    PriceEquilibrium
        Prices, profits, the user-side equilibrium, the certificate (epsilon), the history,
        the status and its reason. A non-equilibrium is never labelled ``"converged"``: that
        status is set from the certificate alone.

    Raises
    ------
    prillm.MarketError
        For invalid players, costs, bounds, starting prices or options (see
        :func:`~prillm.pricing.best_response.make_game`).

    References
    ----------
    Eq. (2) each player's profit given the others' prices; Eq. (13) the users' answer.

    Examples
    --------
    >>> from prillm.synthetic import demo_market
    >>> market, prefs = demo_market()
    >>> res = price_equilibrium(market, prefs)
    >>> res.status, bool(res.epsilon_relative <= 1e-9)
    ('converged', True)
    >>> res.prices.round(3).tolist()
    [4.069, 2.439, 1.459]
    """
    t0 = time.perf_counter()
    _check_options(method, damping, max_rounds, tol, cycle_tol)
    prices, clipped = _start(game, start)
    lo, hi = game.lower, game.upper
    history = [prices.copy()]
    steps: list[dict[str, Any]] = []
    n_br = 0
    status, reason, cycle = "not_converged", "", None
    cert: NashCertificate | None = None
    eq: Equilibrium | None = None
    with limit_threads():
        for rnd in range(1, max_rounds + 1):
            worst = 0.0
            if method == "gauss-seidel":
                for k in range(game.n_players):
                    br = best_response(game, prices, k)
                    new = _step(prices[k], br, damping, lo[k], hi[k])
                    steps.append(_record(game, rnd, br, new))
                    prices[k] = new
                    worst = max(worst, br.relative_gain)
                n_br += game.n_players
            else:
                brs = [best_response(game, prices, k) for k in range(game.n_players)]
                n_br += game.n_players
                new_prices = prices.copy()
                for br in brs:
                    k = br.player
                    new = _step(prices[k], br, damping, lo[k], hi[k])
                    steps.append(_record(game, rnd, br, new))
                    new_prices[k] = new
                    worst = max(worst, br.relative_gain)
                prices = new_prices
            history.append(prices.copy())
            if worst <= tol:
                cert, eq = nash_certificate(game, prices)
                n_br += game.n_players
                if cert.max_relative <= tol:
                    status = "converged"
                    break
            back = find_cycle(history, cycle_tol)
            if back is not None:
                period = len(history) - 1 - back
                cert, eq = nash_certificate(game, prices)
                n_br += game.n_players
                if cert.max_relative <= tol:
                    status = "converged"
                elif period == 1:
                    status = "not_converged"
                    reason = (
                        f"the prices stopped moving (changes below cycle_tol={cycle_tol:g} of "
                        f"the largest price) in round {rnd}, short of an equilibrium"
                    )
                else:
                    kind, jumps = classify_cycle(game, np.array(history), back, method)
                    orbit = np.array(history[back:-1])
                    cycle = Cycle(period, back, orbit, kind, jumps)
                    status = "cycle"
                    reason = (
                        f"round {rnd} returned to the prices of round {back}: best responses "
                        f"cycle with period {period} ({kind}); no equilibrium was reached"
                    )
                break
            cert = None
        if cert is None or eq is None:
            cert, eq = nash_certificate(game, prices)
            n_br += game.n_players
            if cert.max_relative <= tol:
                status = "converged"
            else:
                reason = f"still moving after {max_rounds} rounds"
    # the players whose best response at the returned prices could not be proven
    unproven = ", ".join(
        repr(p) for p, c in zip(game.player_ids, cert.certified, strict=True) if not c
    )
    if status == "converged" and unproven:
        status = "not_certified"
        reason = (
            f"every computed best-response gain is within tol={tol:g} of its profit "
            f"(largest relative epsilon {cert.max_relative:.2e}) after {len(history) - 1} "
            f"rounds, but the best responses of {unproven} could not be proven global optima "
            "(their price paths failed the checks and the repair from certified equilibria "
            "did not check out): the epsilon is a lower bound"
        )
    elif status == "converged":
        reason = (
            f"every player's best-response gain is within tol={tol:g} of its profit "
            f"(largest relative epsilon {cert.max_relative:.2e}) after {len(history) - 1} rounds"
        )
    else:
        reason += (
            f"; at the returned prices the largest relative epsilon is "
            f"{cert.max_relative:.3g} (player {game.player_ids[int(np.argmax(cert.relative))]!r})"
        )
        if unproven:
            reason += (
                f", a lower bound: the best responses of {unproven} could not be proven global "
                "optima"
            )
    if clipped is not None:
        reason += f"; {clip_note(clipped)}"
    return PriceEquilibrium(
        game=game,
        prices=prices,
        profits=cert.profits,
        equilibrium=eq,
        certificate=cert,
        status=status,
        reason=reason,
        history=np.array(history),
        steps=steps,
        n_best_responses=n_br,
        cycle=cycle,
        method=method,
        damping=float(damping),
        tol=float(tol),
        wall_time=time.perf_counter() - t0,
        start_clipped=clipped,
    )
