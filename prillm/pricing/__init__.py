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
``prillm``    PriLLM's pipeline: game abstraction (Section 5), then any method above
============  ===========================================================================

Whatever a method uses internally, the returned profit is evaluated in the true game at the
returned price with :func:`prillm.solve_equilibrium`.
"""

from __future__ import annotations

from prillm._optional import lazy_exports
from prillm.pricing.registry import METHODS, method_options, register_method

#: Public name -> the module that defines it (imported on first use, PEP 562).
_EXPORTS: dict[str, str] = {
    "BOUND_SLACK": "prillm.pricing.optimal",
    "optimal_price": "prillm.pricing.optimal",
    "PricingProblem": "prillm.pricing.problem",
    "make_problem": "prillm.pricing.problem",
    "vanishing_price": "prillm.pricing.problem",
    "PricingResult": "prillm.pricing.result",
    "STATUSES": "prillm.pricing.result",
}

__all__ = ["METHODS", "method_options", "register_method", *sorted(_EXPORTS)]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
