"""Smooth: the complementarity of the MPEC smoothed, solved by an NLP solver (Wu et al. 2021).

The paper's ``Smooth`` baseline (wu2021revenue) "relaxes the complementarity constraints into
smooth inequalities, allowing the use of standard nonlinear solvers". We use the smoothed
Fischer-Burmeister function: each pair ``0 <= f_ij _|_ mu_ij >= 0`` of Eq. (14-17) becomes

.. math:: f_{ij} + \\mu_{ij} - \\sqrt{f_{ij}^2 + \\mu_{ij}^2 + 2\\varepsilon^2} = 0,

which is smooth for ``eps > 0`` and equivalent to ``f, mu >= 0, f mu = eps^2``; as
``eps -> 0`` it tends to the complementarity. Flows are scaled by ``max D`` and costs by the
market's largest cost term, so ``eps`` is dimensionless. The default is a short homotopy
``eps = 1e-2, 1e-3, 1e-4`` (each solve warm-started from the previous one, the first from the
exact equilibrium at the market's price); the final ``eps = 1e-4`` leaves a relaxation error of
order ``eps^2 = 1e-8`` in each flow-cost product. The solver is ripopt through Pyomo; its status
is reported in the diagnostics and the caller evaluates the price in the true game.
"""

from __future__ import annotations

import time
from typing import Any

from prillm.pricing import _mpec
from prillm.pricing.problem import PricingProblem

__all__ = ["solve"]

DEFAULT_EPS = (1e-2, 1e-3, 1e-4)


def solve(
    prob: PricingProblem,
    eps: tuple[float, ...] = DEFAULT_EPS,
    time_limit: float = 60.0,
    start_price: float | None = None,
) -> tuple[float, dict[str, Any]]:
    """Smoothed MPEC on Problem 1 (Eq. 2).

    Parameters
    ----------
    prob, time_limit, start_price
        As in :func:`prillm.pricing.pmpec.solve`: the problem (its scaled arrays become the
        smoothed model), the wall-clock cap of the whole homotopy (s), the price of the exact
        equilibrium the first solve starts from.
    eps
        Smoothing parameters, solved in order (each > 0).

    Returns
    -------
    price, diagnostics
        ``stages`` (eps, status, termination, price), ``success`` (the last ``eps`` solved),
        ``smallest_eps_solved`` and ``status`` (``"converged"`` or ``"not_converged"``).
    """
    import pyomo.environ as pyo
    import pyomo_ripopt  # noqa: F401  (registers the 'ripopt' solver)

    p0 = _mpec.homotopy_start(prob, eps, "smooth: eps", start_price)
    if prob.demand.size == 0:
        return p0, _mpec.no_demand(p0)
    start = _mpec.start_point(prob, p0)
    model = _mpec.build_model(prob, complementarity="fischer-burmeister", start=start, eps=eps[0])
    solver = pyo.SolverFactory("ripopt")
    stages: list[dict[str, Any]] = []
    solved: list[float] = []
    price = p0
    t0 = time.perf_counter()
    for e in eps:
        left = time_limit - (time.perf_counter() - t0)
        if left <= 0:
            stages.append({"eps": e, "status": "skipped", "termination": "time limit"})
            break
        model.eps = e
        ok, outcome = _mpec.run_stage(solver, model, left)
        stage = {"eps": e, **outcome}
        stages.append(stage)
        if not ok:
            break
        price = _mpec.values(model, prob)["p"]
        solved.append(e)
        stage["price"] = price
    solver_name = "ripopt via pyomo (smoothed Fischer-Burmeister)"
    return price, _mpec.homotopy_diagnostics(stages, solved, eps, "eps", solver_name, p0)
