"""The answer of every pricing method to Problem 1 (Eq. 2): :class:`PricingResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prillm._jsonable import jsonable
from prillm._validation import MarketError
from prillm.equilibrium import Equilibrium

__all__ = ["STATUSES", "PricingResult"]

#: The statuses a pricing method can report, best first.
#:
#: ``global_optimum``  proven: the exact path with its certificate, the brute force, or SCIP
#:                     with a proof of optimality;
#: ``converged``       a local or heuristic method that reports convergence (no proof that the
#:                     price is globally optimal, or even optimal in the true game);
#: ``not_converged``   the method stopped without converging (time limit, solver failure, a
#:                     price outside the bounds), the price is its best effort;
#: ``not_certified``   the exact path (or enumeration) ran but could not certify a piece.
STATUSES = ("global_optimum", "converged", "not_converged", "not_certified")


@dataclass(frozen=True, eq=False)
class PricingResult:
    """The answer of a pricing method to Problem 1 (Eq. 2).

    Attributes
    ----------
    price
        The target's price ``p_s`` (USD per million tokens), within ``[p_min, p_max]``.
    profit
        ``(p_s - c_s) F_s(p_s) / 1e6`` in USD, evaluated in the true game at ``price`` with
        :func:`prillm.solve_equilibrium` (whatever model the method used internally).
    equilibrium
        The certified user-side equilibrium at ``price``.
    wall_time
        Seconds spent by the method's search (the common re-evaluation in the true game is
        reported separately as ``diagnostics["evaluation_time"]``).
    method
        The method's name.
    diagnostics
        Method-specific facts: breakpoints, iterations, solver status, certificates; always
        ``raw_price`` (the price the method returned, before any bound was applied) and
        ``clamped`` (whether it lay outside ``[p_min, p_max]``).
    target, p_min, p_max, marginal_cost
        The problem that was solved.
    status
        One of :data:`STATUSES`: ``"global_optimum"`` only when proven.
    reason
        Why the method reports that status, in words (the proof, or what stopped it); never
        empty.

    Raises
    ------
    prillm.MarketError
        On construction, for a ``status`` not in :data:`STATUSES` (the message lists them) or
        a ``reason`` that is not a non-empty string.
    """

    price: float
    profit: float
    equilibrium: Equilibrium
    wall_time: float
    method: str
    diagnostics: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    p_min: float = 0.0
    p_max: float = 0.0
    marginal_cost: float = 0.0
    status: str = "not_converged"
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise MarketError(
                f"status: expected one of {', '.join(repr(s) for s in STATUSES)}, "
                f"got {self.status!r}"
            )
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise MarketError(
                f"reason: expected a non-empty string saying why the status is "
                f"{self.status!r}, got {self.reason!r}"
            )

    @property
    def success(self) -> bool:
        """Whether the method reached what it promises: a proven optimum or convergence."""
        return self.status in ("global_optimum", "converged")

    @property
    def load(self) -> float:
        """The target's equilibrium load ``F_s`` at ``price`` (tokens per period)."""
        j = self.equilibrium.market.provider_index(self.target)
        return float(self.equilibrium.loads[j])

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (diagnostics converted to lists and floats)."""
        return {
            "method": self.method,
            "target": self.target,
            "price": self.price,
            "profit_usd": self.profit,
            "load": self.load,
            "p_min": self.p_min,
            "p_max": self.p_max,
            "marginal_cost": self.marginal_cost,
            "wall_time_s": self.wall_time,
            "status": self.status,
            "reason": self.reason,
            "diagnostics": jsonable(self.diagnostics, strict=True),
        }
