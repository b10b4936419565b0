"""Ground truth for small markets: the pricing MPEC solved to global optimality by SCIP.

The MPEC of :mod:`._mpec` (Problem 1, Eq. 2, with the KKT conditions Eq. 14-17 as
complementarity constraints) is written directly in ``pyscipopt``: the reduced costs
``mu_ij >= 0`` as linear constraints and the complementarity as ``f_ij * mu_ij <= 0`` (both factors
non-negative: exact complementarity), with the same variable bounds and scaled objective as the
Pyomo model. SCIP's spatial branch and bound treats the bilinear terms globally, so an ``optimal``
status certifies the global optimum up to its gap tolerance (``gap``, relative, default 1e-9) and
feasibility tolerance (``feastol``, default 1e-9: SCIP's own default 1e-6 lets the
complementarity slip enough to move the price visibly).

Why not Pyomo's ``scip_direct``: it captures SCIP's output through a pipe (``capture_output``
with a ``TeeStream``), and on some markets the solve deadlocked with the main thread blocked
writing into that pipe (seen with pyomo 6.10 and pyscipopt 6.3). Here SCIP runs with its output
hidden and file descriptors 1 and 2 pointed at /dev/null (see :func:`_quiet_fds`).

Exponential in the worst case: the method refuses markets with more than ``max_routes``
user-provider pairs (default 16).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prillm.pricing._mpec import _lam_bounds
from prillm.pricing.problem import PricingProblem

__all__ = ["solve"]


@contextmanager
def _quiet_fds() -> Iterator[None]:
    """Point file descriptors 1 and 2 at /dev/null while SCIP runs.

    ``hideOutput`` silences SCIP, but its LP solver still prints notes (e.g. that a feasibility
    tolerance of 1e-12 needs GMP). Under Jupyter, file descriptors 1 and 2 are pipes drained by a
    thread that needs the GIL, which pyscipopt holds during ``optimize``: enough notes fill the
    pipe and the solve deadlocks. Nothing is lost: the notes carry no result.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


MAX_ROUTES = 16
#: SCIP's optimum is a proven global optimum of the true game, to this relative precision,
#: when the true game earns SCIP's dual bound at its price to it: no price earns more than the
#: bound. The model's tolerances inflate the bound by 2e-8 to 1.5e-6 on the tests' ordinary
#: markets; where they do not resolve the market (capacities that dwarf the demand), by up to 1.
PROOF_SLACK = 1e-5


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
        ``solver_status``, ``termination``, ``gap``, ``success`` (SCIP's own verdict),
        ``model_bound`` and ``true_value`` (SCIP's dual bound on the scaled objective and the
        true game's value at the price, from a certified equilibrium; ``None`` without a
        proof) and ``status``: ``"global_optimum"`` only when SCIP proved optimality *and*
        the true game earns its bound at the price (to :data:`PROOF_SLACK`);
        ``"not_certified"`` when SCIP's proof does not carry over (its tolerances do not
        resolve the market);
        ``"not_converged"`` without a proof.

    Raises
    ------
    ValueError
        If the market has more than ``max_routes`` routes with demand.
    """
    import pyscipopt

    n, m = prob.shape
    if n * m > max_routes:
        raise ValueError(
            f"scip: {n} users with demand x {m} providers = {n * m} routes, above "
            f"max_routes={max_routes}; use method='exact'"
        )
    p0 = prob.start_price()
    if n == 0:
        return p0, {
            "solver_status": "ok",
            "termination": "no demand",
            "success": True,
            "status": "global_optimum",
            "reason": "no user has demand: the profit is zero at every price",
        }
    s, d, capa, cost0 = prob.s, prob.demand, prob.capa, prob.cost0
    lam_lo, lam_hi = _lam_bounds(prob)
    model = pyscipopt.Model()
    model.hideOutput(True)
    p = model.addVar("p", lb=prob.p_min, ub=prob.p_max)
    f = [[model.addVar(f"f_{i}_{j}", lb=0.0, ub=float(d[i])) for j in range(m)] for i in range(n)]
    lam = [model.addVar(f"lam_{i}", lb=float(lam_lo[i]), ub=float(lam_hi[i])) for i in range(n)]
    for i in range(n):
        model.addCons(pyscipopt.quicksum(f[i]) == float(d[i]))
    for j in range(m):
        load = pyscipopt.quicksum(f[k][j] for k in range(n))
        for i in range(n):
            mu = float(cost0[i, j]) + (load + f[i][j]) / float(capa[j]) - lam[i]
            if j == s:
                mu = mu + prob.dcol * p
            model.addCons(mu >= 0)
            model.addCons(f[i][j] * mu <= 0)
    # the scaled objective of the Pyomo model, through an epigraph variable (SCIP wants a linear
    # objective)
    scale = 1.0 / max(prob.p_max, 1e-300)
    profit_hi = scale * max(prob.p_max - prob.marginal_cost, 0.0) * float(d.sum())
    t = model.addVar("profit", lb=-profit_hi - 1.0, ub=profit_hi + 1.0)
    model.addCons(
        t <= scale * (p - prob.marginal_cost) * pyscipopt.quicksum(f[i][s] for i in range(n))
    )
    model.setObjective(t, sense="maximize")
    model.setParam("limits/time", time_limit)
    model.setParam("limits/gap", gap)
    model.setParam("numerics/feastol", feastol)
    with _quiet_fds():
        model.optimize()
    term = str(model.getStatus())
    proven = term in ("optimal", "gaplimit")
    price = p0
    if model.getNSols() > 0:
        price = float(model.getVal(p))
    else:
        proven = False
        term = f"{term} (no solution)"
    status = "global_optimum" if proven else "not_converged"
    bound = true_value = None
    if proven:
        reason = (
            f"SCIP proved optimality ({term}) up to a relative gap of {gap:.0e} and a "
            f"feasibility tolerance of {feastol:.0e} on the complementarity"
        )
        # The proof is about the model with its tolerances, whose feasible set contains the
        # true game's equilibria: its bound is at least the true optimum. The price is the
        # global optimum when the true game earns that bound there (to PROOF_SLACK); where the
        # tolerances do not resolve the game (a capacity dwarfs the demand, a flow is K_j
        # times a reduced cost under feastol) the model's solution is not the equilibrium
        bound = float(model.getDualbound())
        load = float(prob.evaluate(price)[1].loads[s]) / prob.d_scale
        true_value = scale * (price - prob.marginal_cost) * load
        short = max(bound - true_value, 0.0) / max(abs(bound), abs(true_value), 1e-300)
        if short > PROOF_SLACK:
            status = "not_certified"
            reason = (
                f"SCIP proved optimality for its model ({term}, relative gap {gap:.0e}, "
                f"feasibility tolerance {feastol:.0e}), but at its price the true game earns "
                f"{short:.1e} less than the model's bound (> {PROOF_SLACK:.0e}): the "
                "tolerances do not resolve this market (a capacity dwarfs the demand), so "
                "the price is not proven optimal"
            )
        else:
            reason += (
                f"; at its price the true game earns the model's bound to {short:.0e} "
                f"(<= {PROOF_SLACK:.0e}): no price earns more, to that precision"
            )
    else:
        reason = f"SCIP stopped without a proof ({term}); the price is its best incumbent"
    return price, {
        "solver_status": "ok" if proven else "warning",
        "termination": term,
        "success": proven,
        "status": status,
        "model_bound": bound,
        "true_value": true_value,
        "reason": reason,
        "solver": "SCIP via pyscipopt (f_ij * mu_ij <= 0, spatial branch and bound)",
        "gap": gap,
        "feastol": feastol,
    }
