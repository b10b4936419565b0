"""Ground truth for small markets: the pricing MPEC solved to global optimality by SCIP.

The model of :mod:`._mpec` (Problem 1, Eq. 2, with the KKT conditions Eq. 14-17 as
complementarity constraints) is transformed by ``mpec.simple_nonlinear`` with ``mpec_bound = 0``
(``f_ij mu_ij <= 0`` with both non-negative: exact complementarity) and handed to SCIP through
Pyomo's ``scip_direct`` interface. SCIP's spatial branch and bound treats the bilinear terms
globally, so an ``optimal`` status certifies the global optimum up to its gap tolerance
(``gap``, relative, default 1e-9) and feasibility tolerance (``feastol``, default 1e-9:
SCIP's own default 1e-6 lets the complementarity slip enough to move the price visibly).
Exponential in the worst case: the method refuses markets with more than ``max_routes``
user-provider pairs (default 16).
"""

from __future__ import annotations

from typing import Any

from prillm.pricing._common import PricingProblem
from prillm.pricing._mpec import build_model, load_quietly, start_point, termination, values

__all__ = ["solve"]

MAX_ROUTES = 16


def solve(
    prob: PricingProblem,
    max_routes: int = MAX_ROUTES,
    time_limit: float = 60.0,
    gap: float = 1e-9,
    feastol: float = 1e-9,
) -> tuple[float, dict[str, Any]]:
    """Global optimum of Problem 1 (Eq. 2) by SCIP.

    Returns
    -------
    price, diagnostics
        ``status``, ``termination``, ``gap`` and ``success`` (``True`` only for a proven optimum).

    Raises
    ------
    ValueError
        If the market has more than ``max_routes`` routes with demand.
    """
    import pyomo.environ as pyo

    n, m = prob.shape
    if n * m > max_routes:
        raise ValueError(
            f"scip: {n} users with demand x {m} providers = {n * m} routes, above "
            f"max_routes={max_routes}; use method='exact'"
        )
    p0 = float(min(max(prob.market.price[prob.s], prob.p_min), prob.p_max))
    if n == 0:
        return p0, {"status": "ok", "termination": "no demand", "success": True}
    model = build_model(prob, complementarity="mpec", start=start_point(prob, p0))
    pyo.TransformationFactory("mpec.simple_nonlinear").apply_to(model, mpec_bound=0.0)
    solver = pyo.SolverFactory("scip_direct")
    res = solver.solve(
        model,
        load_solutions=False,
        options={
            "limits/time": time_limit,
            "limits/gap": gap,
            "numerics/feastol": feastol,
            "display/verblevel": 0,
        },
    )
    status, term = termination(res)
    price = p0
    if term in ("optimal", "locallyOptimal", "maxTimeLimit", "feasible"):
        try:
            load_quietly(model, res)
            price = values(model, prob)["p"]
        except Exception as exc:  # no incumbent to load
            term = f"{term} (no solution: {exc!r})"
    return price, {
        "status": status,
        "termination": term,
        "success": term == "optimal",
        "solver": "SCIP via pyomo scip_direct (mpec.simple_nonlinear, bound 0)",
        "gap": gap,
        "feastol": feastol,
    }
