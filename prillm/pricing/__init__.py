"""Stackelberg pricing (Problem 1, Eq. 2): every method of the paper and an exact one.

:func:`optimal_price` is the single entry point; ``method`` selects one module:

============  ===========================================================================
``exact``     the equilibrium's piecewise-affine path in the price (global optimum; default)
``grid``      dense price grid with warm-started exact equilibria, then golden-section refinement
``bf``        the paper's brute force: enumerate the KKT branches (supports); small markets only
``spiter``    segmentation-based pricing with iterative optimisation (Jin et al. 2024)
``pmpec``     the MPEC in Pyomo, ``mpec.simple_nonlinear`` + ripopt (a local NLP solver)
``smooth``    complementarity smoothed (Fischer-Burmeister), ripopt (Wu et al. 2021)
``odca``      users decoupled: each best-responds to the others' frozen flows (Chen et al. 2020)
``spgce``     users aggregated into one homogeneous population (Harks & Schedel)
``scip``      the same MPEC solved to global optimality by SCIP; small markets only
============  ===========================================================================

Whatever a method uses internally, the returned profit is evaluated in the true game at the
returned price with :func:`prillm.solve_equilibrium`.
"""

from __future__ import annotations

import importlib
import inspect
import math
import time
from collections.abc import Callable
from typing import Any

from prillm._optional import optional_dependency
from prillm._validation import MarketError
from prillm.market import Market, Preferences
from prillm.pricing.problem import PricingProblem, make_problem, vanishing_price
from prillm.pricing.result import STATUSES, PricingResult

__all__ = [
    "METHODS",
    "STATUSES",
    "PricingProblem",
    "PricingResult",
    "method_options",
    "optimal_price",
    "register_method",
    "vanishing_price",
]

#: A method's solver: ``solve(prob, **options) -> (price, diagnostics)``; the diagnostics carry
#: ``status`` (one of :data:`STATUSES`) and ``reason``.
Solver = Callable[..., tuple[float, dict[str, Any]]]

#: Method name -> loader: a callable returning the method's solver (imported on first use).
METHODS: dict[str, Callable[[], Solver]] = {}


def register_method(
    name: str, loader: Callable[[], Solver] | str, *, replace: bool = False
) -> None:
    """Add a pricing method to :data:`METHODS` (how a higher layer joins the registry).

    Parameters
    ----------
    name
        The method's name for ``optimal_price(..., method=name)``.
    loader
        A callable returning the solver ``solve(prob, **options) -> (price, diagnostics)``,
        or ``"package.module"`` / ``"package.module:function"`` naming it (``solve`` by
        default), imported on first use.
    replace
        Allow replacing an existing method.

    Raises
    ------
    ValueError
        If ``name`` is taken (and ``replace`` is false) or ``loader`` is neither callable nor a
        module path.

    Examples
    --------
    >>> register_method("exact-again", "prillm.pricing.exact")
    >>> "exact-again" in METHODS
    True
    >>> del METHODS["exact-again"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    if name in METHODS and not replace:
        raise ValueError(f"name: pricing method {name!r} is already registered")
    if isinstance(loader, str):
        module, _, attr = loader.partition(":")
        METHODS[name] = lambda: getattr(importlib.import_module(module), attr or "solve")
    elif callable(loader):
        METHODS[name] = loader
    else:
        raise ValueError(f"loader: expected a callable or a module path, got {loader!r}")


for _name in ("exact", "grid", "bf", "spiter", "pmpec", "smooth", "odca", "spgce", "scip"):
    register_method(_name, f"prillm.pricing.{_name}")


def method_options(method: str) -> tuple[str, ...] | None:
    """The options ``method`` accepts (``None`` if its solver takes any keyword).

    Examples
    --------
    >>> method_options("grid")
    ('n_points', 'refine_iter')
    """
    solver = _solver(method)
    params = list(inspect.signature(solver).parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def _solver(method: str) -> Solver:
    if method not in METHODS:
        raise ValueError(f"method: unknown pricing method {method!r}; choose from {list(METHODS)}")
    return METHODS[method]()


#: A price outside the bounds by at most this (relative to ``max(1, p_max)``) is a solver's
#: bound tolerance (interior-point solvers relax bounds slightly): recorded, not a failure.
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
        converged method to ``not_converged``).

    Raises
    ------
    prillm.MarketError
        Unknown target, NaN or infinite bounds, ``p_min < 0``, ``p_max <= p_min``,
        ``p_max <= 0``, a negative marginal cost, or an option the method does not take (the
        message lists the valid ones).
    ValueError
        Unknown method, or a market too large for ``bf`` / ``scip``.

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
        solver = _solver(method)
        valid = method_options(method)
    if valid is not None:
        unknown = sorted(set(opts) - set(valid))
        if unknown:
            raise MarketError(
                f"{method}: unknown option {unknown[0]!r}; valid options: "
                + (", ".join(valid) if valid else "none")
            )
    prob = make_problem(market, prefs, target, p_max, p_min, marginal_cost)
    with optional_dependency(f"the pricing method {method!r}"):
        t0 = time.perf_counter()
        raw, diag = solver(prob, **opts)
        wall = time.perf_counter() - t0
    status, reason = _method_status(method, diag)
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
    return status, str(reason)


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
