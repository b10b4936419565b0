"""The single entry point of Problem 1 (Eq. 2): :func:`optimal_price`, any method, one result."""

from __future__ import annotations

import math
import time
from typing import Any

from prillm._optional import optional_dependency
from prillm._validation import MarketError
from prillm.market import Market, Preferences
from prillm.pricing.problem import PricingProblem, make_problem
from prillm.pricing.registry import method_options, solver_for
from prillm.pricing.result import STATUSES, PricingResult

__all__ = ["BOUND_SLACK", "optimal_price"]


BOUND_SLACK = 1e-8


def optimal_price(
    market: Market,
    prefs: Preferences | None,
    target: str | int,
    method: str = "exact",
    p_max: float | None = None,
    p_min: float = 0.0,
    marginal_cost: float = 0.0,
    **opts: Any,
) -> PricingResult:
    """The target's profit-maximising price in the Stackelberg routing game (Problem 1, Eq. 2).

    Parameters
    ----------
    market, prefs
        The market (the rivals' prices are taken from it and held fixed) and the users'
        preferences (``None``: the defaults).
    target
        The provider that sets its price: an id, or a position.
    method
        One of :data:`METHODS` (default ``"exact"``).
    p_max, p_min
        Price bounds, USD per million tokens. ``p_max`` defaults to the price at which the
        target's equilibrium load vanishes (above it the profit is zero); when that is not above
        ``p_min`` or does not exist (a monopolist facing inelastic demand), to ten times the
        highest market price (at least 1).
    marginal_cost
        The target's cost per million tokens ``c_s``; profit is ``(p_s - c_s) F_s / 1e6`` USD.
    **opts
        Method-specific options (see each module's ``solve``; :func:`method_options`).

    Returns
    -------
    PricingResult
        Price, profit and equilibrium in the true game, wall time, ``status`` with its
        ``reason``, and diagnostics. The price the method returned is checked against the
        bounds *before* anything else: ``diagnostics["raw_price"]`` holds it, and a price
        outside ``[p_min, p_max]`` is evaluated at the nearest bound, flagged
        (``diagnostics["clamped"]``) and explained in ``reason``; beyond a solver's bound
        tolerance it also downgrades the status (``global_optimum`` to ``not_certified``, a
        converged method to ``not_converged``). A ``start_price`` option (``smooth``,
        ``pmpec``) outside the bounds is clipped to them before the method starts, and
        recorded: ``diagnostics["start_clipped"] = {"given": ..., "used": ...}`` and a clause
        in ``reason`` (``diagnostics["start_price"]`` is the start used).

    Raises
    ------
    prillm.MarketError
        Unknown target, NaN or infinite bounds, ``p_min < 0``, ``p_max <= p_min``,
        ``p_max <= 0``, a negative marginal cost, a ``start_price`` that is not a price in
        ``[0, 1e6]``, or an option the method does not take (the message lists the valid
        ones); an unknown method (naming it and the valid ones).
    ValueError
        A market too large for ``bf`` / ``scip``.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> from prillm.pricing import optimal_price
    >>> mkt = Market(demand=[1e6, 2e6], price=[1.0, 2.0], capacity=[1e6, 1e6],
    ...              provider_ids=["a", "b"])
    >>> res = optimal_price(mkt, Preferences(w_q=1.0, w_d=0.0), "a")
    >>> round(res.price, 4), res.method, res.status
    (3.25, 'exact', 'global_optimum')
    """
    with optional_dependency(f"the pricing method {method!r}"):
        solver = solver_for(method)
        valid = method_options(method)
    if valid is not None:
        unknown = sorted(set(opts) - set(valid))
        if unknown:
            raise MarketError(
                f"{method}: unknown option {unknown[0]!r}; valid options: "
                + (", ".join(valid) if valid else "none")
            )
    prob = make_problem(market, prefs, target, p_max, p_min, marginal_cost)
    clipped = prob.start_clip(opts["start_price"]) if "start_price" in opts else None
    with optional_dependency(f"the pricing method {method!r}"):
        t0 = time.perf_counter()
        raw, diag = solver(prob, **opts)
        wall = time.perf_counter() - t0
    status, reason = _method_status(method, diag)
    if clipped is not None:
        diag["start_clipped"] = clipped
        note = (
            f"the start price {clipped['given']:g} is outside [{prob.p_min:g}, {prob.p_max:g}]; "
            f"the method started from {clipped['used']:g}"
        )
        reason = f"{reason}; {note}" if reason else note
    raw = float(raw)
    price, status, reason = _check_bounds(raw, prob, status, reason)
    diag["raw_price"] = raw
    diag["clamped"] = price != raw
    t1 = time.perf_counter()
    profit, eq = prob.evaluate(price)
    diag["evaluation_time"] = time.perf_counter() - t1
    return PricingResult(
        price=price,
        profit=profit,
        equilibrium=eq,
        wall_time=wall,
        method=method,
        diagnostics=diag,
        target=prob.target,
        p_min=prob.p_min,
        p_max=prob.p_max,
        marginal_cost=prob.marginal_cost,
        status=status,
        reason=reason,
    )


def _method_status(method: str, diag: dict[str, Any]) -> tuple[str, str]:
    """The ``status`` and ``reason`` a method put in its diagnostics (removed from them)."""
    status = diag.pop("status", None)
    reason = diag.pop("reason", "")
    if status not in STATUSES:
        return "not_converged", f"{method} reported no status (got {status!r})"
    reason = str(reason or "").strip()
    return status, reason or f"{method} reported {status!r} but gave no reason"


def _check_bounds(
    raw: float, prob: PricingProblem, status: str, reason: str
) -> tuple[float, str, str]:
    """The price to evaluate, and the status and reason once the raw price is checked."""
    lo, hi = prob.p_min, prob.p_max
    if not math.isfinite(raw):
        note = f"the method returned the price {raw!r}; evaluated at p_min={lo!r} instead"
        bad = "not_certified" if status == "global_optimum" else "not_converged"
        return lo, bad, f"{reason}; {note}" if reason else note
    if lo <= raw <= hi:
        return raw, status, reason
    price = min(max(raw, lo), hi)
    excess = max(lo - raw, raw - hi)
    note = (
        f"the method returned the price {raw!r}, outside [{lo!r}, {hi!r}] by {excess:.3g}; "
        f"evaluated at {price!r}"
    )
    if excess > BOUND_SLACK * max(1.0, abs(hi)):
        status = "not_certified" if status == "global_optimum" else "not_converged"
    else:
        note += " (within the solver's bound tolerance)"
    return price, status, f"{reason}; {note}" if reason else note
