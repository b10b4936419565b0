"""Periodic orbits of best-response dynamics in the pricing game, and what drives them.

Best responses in the pricing game need not settle: a player whose profit has two local maxima
(a low price that serves many users and a high one that serves a loyal few) switches between
them as the others' prices cross the point where the two peaks tie, and its best-response map
is discontinuous there. The others' answers follow, and the dynamics can return to a profile
they visited. :func:`find_cycle` detects the return; :func:`classify_cycle` says whether the
orbit's best responses jump across a valley of the mover's profit (``"jump"``, or the textbook
``"edgeworth"`` cycle when every jump goes up after undercutting steps) or not (``"smooth"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Cycle", "classify_cycle", "find_cycle"]


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
        The orbit's best-response steps that jump to another local maximum (see ``steps`` in
        :class:`PriceEquilibrium`).
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


def classify_cycle(
    steps: list[dict[str, Any]], first_round: int
) -> tuple[str, tuple[dict[str, Any], ...]]:
    """The kind of an orbit (see :class:`Cycle`) from the best-response steps after
    ``first_round``, and the steps that jump."""
    orbit = [s for s in steps if s["round"] > first_round]
    jumps = tuple(s for s in orbit if s["jump"])
    if not jumps:
        return "smooth", ()
    jumpers = {s["player"] for s in jumps}
    up_only = all(s["to"] > s["from"] for s in jumps)
    undercuts = any(s["player"] in jumpers and s["to"] < s["from"] and not s["jump"] for s in orbit)
    return ("edgeworth" if up_only and undercuts else "jump"), jumps
