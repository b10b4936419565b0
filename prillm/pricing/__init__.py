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
import time
from typing import Any

from prillm.market import Market, Preferences
from prillm.pricing.problem import PricingProblem, make_problem, vanishing_price
from prillm.pricing.result import PricingResult

__all__ = ["METHODS", "PricingProblem", "PricingResult", "optimal_price", "vanishing_price"]

#: Method name -> module under ``prillm.pricing``.
METHODS: dict[str, str] = {
    "exact": "exact",
    "grid": "grid",
    "bf": "bf",
    "spiter": "spiter",
    "pmpec": "pmpec",
    "smooth": "smooth",
    "odca": "odca",
    "spgce": "spgce",
    "scip": "scip",
}


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
        Method-specific options (see each module's ``solve``).

    Returns
    -------
    PricingResult
        Price, profit and equilibrium in the true game, wall time and diagnostics.

    Raises
    ------
    prillm.MarketError
        Unknown target, NaN or infinite bounds, ``p_min < 0``, ``p_max <= p_min``,
        ``p_max <= 0`` or a negative marginal cost.
    ValueError
        Unknown method, or a market too large for ``bf`` / ``scip``.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> from prillm.pricing import optimal_price
    >>> mkt = Market(demand=[1e6, 2e6], price=[1.0, 2.0], capacity=[1e6, 1e6],
    ...              provider_ids=["a", "b"])
    >>> res = optimal_price(mkt, Preferences(w_q=1.0, w_d=0.0), "a")
    >>> round(res.price, 4), res.method
    (3.25, 'exact')
    """
    if method not in METHODS:
        raise ValueError(f"method: unknown pricing method {method!r}; choose from {list(METHODS)}")
    prob = make_problem(market, prefs, target, p_max, p_min, marginal_cost)
    name = METHODS[method]  # a module of this package, or a full path registered from above
    module = importlib.import_module(name if "." in name else f"prillm.pricing.{name}")
    t0 = time.perf_counter()
    price, diag = module.solve(prob, **opts)
    wall = time.perf_counter() - t0
    price = min(max(float(price), prob.p_min), prob.p_max)
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
    )
