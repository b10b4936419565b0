"""Periodic orbits of best-response dynamics in the pricing game, and what drives them.

Best responses in the pricing game need not settle: a player whose profit has two local maxima
(a low price that serves many users and a high one that serves a loyal few) switches between
them as the others' prices cross the point where the two peaks tie, and its best-response map
is discontinuous there. The others' answers follow, and the dynamics can return to a profile
they visited. :func:`find_cycle` detects the return; :func:`classify_cycle` says whether some
player's best response jumps from one local maximum of its profit to another within the orbit
(``"jump"``, or the textbook ``"edgeworth"`` cycle when every jump goes up and the jumpers come
down continuously) or not (``"smooth"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm._threads import limit_threads
from prillm.pricing.best_response import best_response, switches_hill
from prillm.pricing.game import PricingGame

__all__ = ["Cycle", "classify_cycle", "find_cycle", "seen_profile"]


@dataclass(frozen=True)
class Cycle:
    """A periodic orbit of the best-response dynamics.

    Attributes
    ----------
    period
        Rounds per period.
    first_round
        The round whose prices the dynamics returned to.
    prices
        The players' prices at the start of each round of one period, ``(period, players)``.
    kind
        ``"jump"``: some player's best response jumps between local maxima of its profit (its
        best-response map is discontinuous there) and the others' answers follow;
        ``"edgeworth"``: the textbook Edgeworth cycle, the jumps all go *up* and the jumping
        players come down by undercutting steps on one hill; ``"smooth"``: no best response
        leaves the local maximum its player was climbing (unstable, not discontinuous,
        responses).
    jumps
        One record per jump in the orbit: ``round``, ``player``, ``from`` and ``to`` (its best
        responses at the round before and at this one).
    """

    period: int
    first_round: int
    prices: np.ndarray
    kind: str
    jumps: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return {
            "period": self.period,
            "first_round": self.first_round,
            "kind": self.kind,
            "prices": self.prices.tolist(),
            "jumps": [dict(s) for s in self.jumps],
        }


def find_cycle(history: list[np.ndarray], cycle_tol: float) -> int | None:
    """The latest earlier round whose prices the last round's are within ``cycle_tol`` of.

    Distances are the largest price difference, relative to the largest price seen.
    """
    last = history[-1]
    scale = max(float(np.abs(np.array(history)).max()), 1e-300)
    for r in range(len(history) - 2, -1, -1):
        if float(np.abs(history[r] - last).max()) <= cycle_tol * scale:
            return r
    return None


def seen_profile(history: np.ndarray, rnd: int, k: int, method: str) -> np.ndarray:
    """The prices player ``k`` answered in round ``rnd`` (1-based): in Gauss-Seidel, the
    players before it have already moved in that round; in Jacobi, nobody has."""
    prices = np.array(history[rnd - 1], dtype=float)
    if method == "gauss-seidel":
        prices[:k] = history[rnd][:k]
    return prices


def classify_cycle(
    game: PricingGame, history: np.ndarray, first_round: int, method: str
) -> tuple[str, tuple[dict[str, Any], ...]]:
    """The kind of the orbit from round ``first_round`` to the end of ``history``, and its jumps.

    Each player's best response at every round of the orbit is recomputed over its whole range
    (:func:`~prillm.pricing.best_response.best_response` with ``prune=False``), with its local
    maxima; a jump is a round at which the response lies on another local maximum than the
    round before (:func:`~prillm.pricing.best_response.switches_hill`), the orbit read
    cyclically.

    Returns
    -------
    kind, jumps
        ``"smooth"``, ``"jump"`` or ``"edgeworth"`` (see :class:`Cycle`), and one record per
        jump: ``round``, ``player``, ``from`` and ``to`` (the best responses before and after).
    """
    rounds = list(range(first_round + 1, len(history)))
    jumps: list[dict[str, Any]] = []
    falls: set[str] = set()
    with limit_threads():
        for k, pid in enumerate(game.player_ids):
            brs = [
                best_response(game, seen_profile(history, r, k, method), k, prune=False)
                for r in rounds
            ]
            for t, r in enumerate(rounds):
                before, after = brs[t - 1], brs[t]  # cyclic: the orbit's last round before
                if switches_hill(before, after):
                    jumps.append(
                        {"round": r, "player": pid, "from": before.price, "to": after.price}
                    )
                elif after.price < before.price:
                    falls.add(pid)
    if not jumps:
        return "smooth", ()
    jumpers = {j["player"] for j in jumps}
    up_only = all(j["to"] > j["from"] for j in jumps)
    return ("edgeworth" if up_only and jumpers <= falls else "jump"), tuple(jumps)
