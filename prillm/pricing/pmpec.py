"""pMPEC: the MPEC solved by a generic NLP solver through Pyomo (the paper's ``hart2017pyomo``).

The lower level is replaced by its KKT conditions with ``pyomo.mpec`` ``Complementarity``
components (:mod:`._mpec`), the model is transformed by ``mpec.simple_nonlinear`` (each
complementarity becomes ``f >= 0, mu >= 0, f * mu <= bound``) and solved by ripopt, an
Ipopt-compatible interior-point solver (``import pyomo_ripopt`` registers
``SolverFactory('ripopt')``). A homotopy drives the bound from ``1e-2`` to ``1e-8``, each solve
warm-started from the previous one; the first starts from the exact equilibrium at the market's
current price (clipped to the bounds). The ``mpec.nl`` route is deliberately not used: with
ripopt it returned wrong answers while reporting success.

This is a *local* method: the answer depends on the start, and the solver may fail. Its status
is reported honestly in the diagnostics: ``success`` is ``True`` only if the smallest bound was
solved; ``smallest_bound_solved`` says how far the homotopy got (a failed warm-started stage is
retried once from the first start). If every solve fails, the start price is returned. The
caller evaluates the price in the true game.
"""

from __future__ import annotations

import time
from typing import Any

from prillm.pricing import _mpec
from prillm.pricing.problem import PricingProblem

__all__ = ["solve"]

DEFAULT_BOUNDS = (1e-2, 1e-4, 1e-6, 1e-8)


def solve(
    prob: PricingProblem,
    bounds: tuple[float, ...] = DEFAULT_BOUNDS,
    time_limit: float = 60.0,
    start_price: float | None = None,
) -> tuple[float, dict[str, Any]]:
    """pMPEC on Problem 1 (Eq. 2).

    Parameters
    ----------
    prob
        The problem, whose scaled arrays become the Pyomo model.
    bounds
        The ``mpec_bound`` homotopy (decreasing, > 0).
    time_limit
        Wall-clock cap (s) for all solves together (ripopt's ``max_wall_time`` per solve gets
        what is left).
    start_price
        The price of the exact equilibrium the first stage starts from (default: the market's
        price, clipped to the bounds).

    Returns
    -------
    price, diagnostics
        ``stages`` (bound, status, termination, price per stage), ``success``, ``solver`` and
        ``status`` (``"converged"`` when the smallest bound was solved, else
        ``"not_converged"``).
    """
    import pyomo.environ as pyo
    import pyomo_ripopt  # noqa: F401  (registers the 'ripopt' solver)

    p0 = _mpec.homotopy_start(prob, bounds, "pmpec: bounds", start_price)
    if prob.demand.size == 0:
        return p0, _mpec.no_demand(p0)
    first = _mpec.start_point(prob, p0)
    start = first
    stages: list[dict[str, Any]] = []
    price, solved = p0, []
    t0 = time.perf_counter()
    solver = pyo.SolverFactory("ripopt")
    for bound in bounds:
        ok = False
        # warm start from the previous stage; on failure retry once from the first start
        for origin, init in (("warm", start), ("cold", first)):
            if origin == "cold" and init is start:
                break
            left = time_limit - (time.perf_counter() - t0)
            if left <= 0:
                stages.append({"bound": bound, "status": "skipped", "termination": "time limit"})
                break
            model = _mpec.build_model(prob, complementarity="mpec", start=init)
            pyo.TransformationFactory("mpec.simple_nonlinear").apply_to(model, mpec_bound=bound)
            ok, outcome = _mpec.run_stage(solver, model, left)
            stage = {"bound": bound, "start": origin, **outcome}
            if ok:
                start = _mpec.values(model, prob)
                price = start["p"]
                solved.append(bound)
                stage["price"] = price
            stages.append(stage)
            if ok:
                break
        if not ok:
            break
    solver_name = "ripopt via pyomo (mpec.simple_nonlinear)"
    return price, _mpec.homotopy_diagnostics(stages, solved, bounds, "bound", solver_name, p0)
