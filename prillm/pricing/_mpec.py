"""The pricing MPEC in Pyomo (shared by ``pmpec``, ``smooth`` and ``scip``).

Problem 1 (Eq. 2) with the lower level replaced by its KKT conditions (Eq. 14-17), in the
scaled units of :class:`~prillm.pricing.problem.PricingProblem`::

    max_{p, f, lambda}  (p - c_s) / p_max * F_s
    s.t.  sum_j f_ij = D_i                                   (demand, Eq. 15)
          0 <= f_ij  _|_  mu_ij = c_ij(p) + k_j (F_j + f_ij) - lambda_i >= 0   (Eq. 14, 16-17)
          p_min <= p <= p_max

The objective is scaled to be of order one; the caller evaluates the returned price in the true
game. Variables get finite bounds (needed by SCIP's spatial branch and bound):
``0 <= f_ij <= D_i`` and ``lambda_i`` between the smallest fixed cost over the price range and
the largest marginal cost any route can reach.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prillm.pricing.problem import PricingProblem

__all__ = [
    "build_model",
    "homotopy_diagnostics",
    "homotopy_start",
    "load_quietly",
    "no_demand",
    "start_point",
    "termination",
    "values",
]


def start_point(prob: PricingProblem, price: float) -> dict[str, Any]:
    """The exact equilibrium at ``price`` as a starting point for the NLP solvers."""
    raw = prob.solve(price)
    return {"p": price, "f": raw.flows, "lam": raw.multipliers}


def _lam_bounds(prob: PricingProblem) -> tuple[np.ndarray, np.ndarray]:
    lo_cost = np.minimum(prob.cost_at(prob.p_min), prob.cost_at(prob.p_max))
    hi_cost = np.maximum(prob.cost_at(prob.p_min), prob.cost_at(prob.p_max))
    total = float(prob.demand.sum())
    hi = (hi_cost + 2.0 * total / prob.capa).max(axis=1)
    return lo_cost.min(axis=1) - 1e-9, hi + 1e-9


def build_model(
    prob: PricingProblem,
    *,
    complementarity: str,
    start: dict[str, Any] | None = None,
    eps: float = 0.0,
) -> Any:
    """Build the Pyomo model.

    Parameters
    ----------
    prob
        The problem.
    complementarity
        ``"mpec"``: ``pyomo.mpec`` ``Complementarity`` components (to be transformed by the
        caller, e.g. ``mpec.simple_nonlinear``); ``"fischer-burmeister"``: explicit reduced-cost
        variables ``mu >= 0`` and the smoothed equation
        ``f + mu - sqrt(f^2 + mu^2 + 2 eps^2) = 0`` (``eps`` a mutable parameter ``model.eps``).
    start
        Initial values (``p``, ``f``, ``lam``), e.g. from :func:`start_point`.
    eps
        Smoothing parameter for ``"fischer-burmeister"``.
    """
    import pyomo.environ as pyo
    from pyomo.mpec import Complementarity, complements

    n, m = prob.shape
    s = prob.s
    cost0 = prob.cost0
    capa = prob.capa
    d = prob.demand
    lam_lo, lam_hi = _lam_bounds(prob)
    model = pyo.ConcreteModel()
    model.I = pyo.RangeSet(0, n - 1)
    model.J = pyo.RangeSet(0, m - 1)
    p0 = prob.p_min if start is None else min(max(float(start["p"]), prob.p_min), prob.p_max)
    model.p = pyo.Var(bounds=(prob.p_min, prob.p_max), initialize=p0)
    model.f = pyo.Var(
        model.I,
        model.J,
        bounds=lambda _, i, j: (0.0, float(d[i])),
        initialize=lambda _, i, j: (
            float(d[i]) / m
            if start is None
            else min(max(float(start["f"][i, j]), 0.0), float(d[i]))
        ),
    )
    model.lam = pyo.Var(
        model.I,
        bounds=lambda _, i: (float(lam_lo[i]), float(lam_hi[i])),
        initialize=lambda _, i: (
            float(lam_hi[i])
            if start is None
            else min(max(float(start["lam"][i]), float(lam_lo[i])), float(lam_hi[i]))
        ),
    )
    model.demand = pyo.Constraint(model.I, rule=lambda mdl, i: sum(mdl.f[i, :]) == float(d[i]))

    def mu_expr(mdl: Any, i: int, j: int) -> Any:
        load = sum(mdl.f[k, j] for k in mdl.I)
        price_term = prob.dcol * mdl.p if j == s else 0.0
        return float(cost0[i, j]) + price_term + (load + mdl.f[i, j]) / float(capa[j]) - mdl.lam[i]

    if complementarity == "mpec":
        model.cc = Complementarity(
            model.I,
            model.J,
            rule=lambda mdl, i, j: complements(mdl.f[i, j] >= 0, mu_expr(mdl, i, j) >= 0),
        )
    elif complementarity == "fischer-burmeister":
        model.eps = pyo.Param(initialize=eps, mutable=True)
        model.mu = pyo.Var(model.I, model.J, bounds=(0.0, None), initialize=0.0)
        if start is not None:
            for i in range(n):
                for j in range(m):
                    model.mu[i, j] = max(0.0, pyo.value(mu_expr(model, i, j)))
        model.mu_def = pyo.Constraint(
            model.I, model.J, rule=lambda mdl, i, j: mdl.mu[i, j] == mu_expr(mdl, i, j)
        )
        model.fb = pyo.Constraint(
            model.I,
            model.J,
            rule=lambda mdl, i, j: (
                mdl.f[i, j]
                + mdl.mu[i, j]
                - pyo.sqrt(mdl.f[i, j] ** 2 + mdl.mu[i, j] ** 2 + 2.0 * mdl.eps**2)
                == 0
            ),
        )
    else:
        raise ValueError(f"complementarity: unknown form {complementarity!r}")
    scale = 1.0 / max(prob.p_max, 1e-300)
    model.obj = pyo.Objective(
        expr=scale * (model.p - prob.marginal_cost) * sum(model.f[i, s] for i in model.I),
        sense=pyo.maximize,
    )
    return model


def values(model: Any, prob: PricingProblem) -> dict[str, Any]:
    """Current variable values of a model built by :func:`build_model`."""
    import pyomo.environ as pyo

    n, m = prob.shape
    f = np.array([[pyo.value(model.f[i, j]) for j in range(m)] for i in range(n)])
    lam = np.array([pyo.value(model.lam[i]) for i in range(n)])
    return {"p": float(pyo.value(model.p)), "f": f, "lam": lam}


def termination(results: Any) -> tuple[str, str]:
    """``(solver status, termination condition)`` of a Pyomo solve as strings."""
    return str(results.solver.status), str(results.solver.termination_condition)


def run_stage(solver: Any, model: Any, time_left: float) -> tuple[bool, dict[str, Any]]:
    """Solve one stage of a homotopy with ripopt; load the solution if it is a local optimum.

    Returns
    -------
    ok, outcome
        Whether a local optimum was reached (and loaded into ``model``), and the stage's
        ``status`` and ``termination`` (``"error"`` and the exception when the solver failed:
        reported, not hidden).
    """
    try:
        res = solver.solve(
            model, load_solutions=False, options={"max_wall_time": time_left, "print_level": 0}
        )
    except Exception as exc:  # the solver binary failed
        return False, {"status": "error", "termination": repr(exc)}
    status, term = termination(res)
    ok = term in ("optimal", "locallyOptimal")
    if ok:
        load_quietly(model, res)
    return ok, {"status": status, "termination": term}


def load_quietly(model: Any, results: Any) -> None:
    """Load a solution, silencing Pyomo's warning for values a hair outside their bounds."""
    import logging

    logger = logging.getLogger("pyomo.core")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        model.solutions.load_from(results)
    finally:
        logger.setLevel(level)


def no_demand(p0: float) -> dict[str, Any]:
    """The diagnostics of a market without demand (nothing to solve)."""
    return {
        "stages": [],
        "success": True,
        "solver": "none (no demand)",
        "status": "converged",
        "reason": "no user has demand: the profit is zero at every price",
    }


def homotopy_start(
    prob: PricingProblem, schedule: tuple[float, ...], what: str, start_price: float | None
) -> float:
    """The start price of an NLP homotopy, once its ``schedule`` is checked to be > 0.

    Raises
    ------
    ValueError
        ``"{what} must be > 0, got {schedule}"`` (``what`` names the method and the schedule).
    """
    if any(v <= 0 for v in schedule):
        raise ValueError(f"{what} must be > 0, got {schedule}")
    return prob.start_price(start_price)


def homotopy_diagnostics(
    stages: list[dict[str, Any]],
    solved: list[float],
    schedule: tuple[float, ...],
    name: str,
    solver: str,
    p0: float,
) -> dict[str, Any]:
    """The diagnostics of an NLP homotopy over ``schedule`` (each value a ``name``).

    ``stages``, ``success``, ``status``, ``reason``, ``smallest_{name}_solved``, ``solver`` and
    ``start_price`` (``p0``). Converged only when the last value of the schedule was solved to a
    local optimum; a local method is never certified.
    """
    success = bool(solved) and solved[-1] == schedule[-1]
    if success:
        reason = (
            f"ripopt reached a local optimum at every {name} down to {schedule[-1]:.0e}; "
            "a local method from its start price: not certified"
        )
    else:
        last = stages[-1]["termination"] if stages else "no stage run"
        reached = f"down to {solved[-1]:.0e}" if solved else f"at no {name}"
        reason = (
            f"the homotopy stopped {reached} (last stage: {last}); the price is the last one "
            "solved, or the start price"
        )
    return {
        "stages": stages,
        "success": success,
        "status": "converged" if success else "not_converged",
        "reason": reason,
        f"smallest_{name}_solved": solved[-1] if solved else None,
        "solver": solver,
        "start_price": p0,
    }
