"""Algorithm 1: initial perceived values ``b`` from observed flows by a linear program (Eq. 21-25).

With the weights fixed at ``w_p = w_q = w_d = 1``, the observable marginal cost of user ``i`` on
provider ``j`` on day ``t`` at the observed flows is (Eq. 21)

.. math::

    M'_{ij,t} = p_{j,t} + d_{ij,t} + \\frac{1}{\\alpha_{j,t}}\\Big(\\sum_k f^{real}_{kj,t}
                + f^{real}_{ij,t}\\Big).

If the observed flows were an equilibrium, there would be ``b >= 0`` and multipliers
``lambda_{i,t}`` with ``M' - b_j = lambda_{i,t}`` on used routes (Eq. 23) and
``M' - b_j >= lambda_{i,t}`` on unused ones (Eq. 24). The paper takes the smallest such ``b``
(Eq. 22, 25).

Our deviation (``slack=True``, the default)
-------------------------------------------
With one ``b`` shared by all days, the equalities (Eq. 23) are over-determined: real or noisy
data, or weights that are not all 1, make the paper's LP infeasible. We then solve it in two
phases: phase 1 minimises the total absolute violation ``sum |s|`` of Eq. (23-24) (an L1 fit of
the equilibrium conditions, every slack in USD per 1M tokens); phase 2 minimises ``sum_j b_j``
(Eq. 22) among the phase-1 optima. With ``slack=False`` the LP is the paper's exactly, and an
infeasible one raises :class:`CalibrationError`.

``b`` is only identified up to a common shift (adding a constant to every ``b_j`` and to every
``lambda_i`` changes no condition), which the minimal-``b`` rule pins down: some ``b_j`` is 0.

Two back-ends solve the same LP: Pyomo with HiGHS (``backend="pyomo"``, the paper's tooling) and
``scipy.optimize.linprog`` (``backend="scipy"``, HiGHS underneath, no modelling layer). Both use
HiGHS's interior-point method with crossover: on 80 days x 20 x 20 it took 11 s against 56 s for
the dual simplex. The paper feeds Algorithm 1 "representative days"; :func:`initial_preferences`
takes the days it is given (``calibrate`` passes an evenly spaced subset).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm._optional import require
from prillm.calibration.result import CalibrationError
from prillm.data.panel import Panel
from prillm.market import TOKENS_PER_PRICE_UNIT, MarketError, Preferences

__all__ = [
    "LPInitResult",
    "default_start",
    "initial_preferences",
    "observable_marginal_costs",
    "representative_days",
]

#: Days fed to Algorithm 1 by :func:`default_start` (evenly spaced over the panel).
INIT_DAYS = 14


@dataclass(frozen=True)
class LPInitResult:
    """Output of Algorithm 1.

    Attributes
    ----------
    prefs
        ``w_p = w_q = w_d = 1`` and the minimal ``b`` (keyed by provider id).
    violation
        Total absolute violation of Eq. (23-24) at the optimum (0 when the paper's LP is
        feasible), USD per 1M tokens.
    n_constraints
        Number of equilibrium conditions (Eq. 23 and 24) in the LP.
    backend
        ``"pyomo"`` or ``"scipy"``.
    wall_time
        Seconds.
    """

    prefs: Preferences
    violation: float
    n_constraints: int
    backend: str
    wall_time: float
    info: dict[str, Any] = field(default_factory=dict)


def observable_marginal_costs(panel: Panel, w_q: float = 1.0, w_d: float = 1.0) -> np.ndarray:
    """``M'_{ij,t}`` of Eq. (21), shape ``(T, n, m)``, USD per 1M tokens (``w_p = 1``)."""
    loads = panel.flows.sum(axis=1, keepdims=True)
    congestion = (loads + panel.flows) / panel.capacity[:, None, :]
    return panel.price[:, None, :] + w_d * panel.latency + w_q * congestion


def _rows(panel: Panel) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The conditions: (day, user, provider, used) for every user with positive demand."""
    t, i, j = np.nonzero(np.broadcast_to(panel.demand[:, :, None] > 0, panel.flows.shape))
    used = panel.flows[t, i, j] > 0
    return t, i, j, used


def _solve_scipy(
    mprime: np.ndarray, panel: Panel, slack: bool
) -> tuple[np.ndarray, float, dict[str, Any]]:
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix, hstack, vstack

    t, i, j, used = _rows(panel)
    m = panel.n_providers
    n_rows = t.size
    users = np.unique(t * panel.n_users + i, return_inverse=True)[1]
    n_lam = int(users.max()) + 1
    r = np.arange(n_rows)
    # each condition: M' - b_j - lambda_u (== 0 if used, >= 0 otherwise)
    a_b = coo_matrix((np.ones(n_rows), (r, j)), shape=(n_rows, m))
    a_l = coo_matrix((np.ones(n_rows), (r, users)), shape=(n_rows, n_lam))
    base = hstack([a_b, a_l]).tocsr()  # b_j + lambda_u
    rhs = mprime[t, i, j]
    eq, ineq = np.flatnonzero(used), np.flatnonzero(~used)
    n_eq, n_in = eq.size, ineq.size
    bounds = [(0, None)] * m + [(None, None)] * n_lam
    if not slack:
        res = linprog(
            np.r_[np.ones(m), np.zeros(n_lam)],
            A_ub=base[ineq] if n_in else None,
            b_ub=rhs[ineq] if n_in else None,
            A_eq=base[eq],
            b_eq=rhs[eq],
            bounds=bounds,
            method="highs-ipm",
        )
        if res.status == 2:
            raise CalibrationError(_INFEASIBLE)
        if res.status != 0:
            raise CalibrationError(f"Algorithm 1 LP: scipy/HiGHS failed: {res.message}")
        return res.x[:m], 0.0, {"status": res.message}
    # phase 1: minimise the total violation; variables [b, lambda, s+ (eq), s- (eq), u (ineq)]
    n_var = m + n_lam + 2 * n_eq + n_in
    eye_eq = coo_matrix((np.ones(n_eq), (np.arange(n_eq), np.arange(n_eq))), (n_eq, n_eq))
    a_eq = hstack([base[eq], eye_eq, -eye_eq, coo_matrix((n_eq, n_in))]).tocsr()
    eye_in = coo_matrix((np.ones(n_in), (np.arange(n_in), np.arange(n_in))), (n_in, n_in))
    a_ub = hstack([base[ineq], coo_matrix((n_in, 2 * n_eq)), -eye_in]).tocsr()
    bounds = bounds + [(0, None)] * (2 * n_eq + n_in)
    c1 = np.r_[np.zeros(m + n_lam), np.ones(2 * n_eq + n_in)]
    kw = {"A_ub": a_ub if n_in else None, "b_ub": rhs[ineq] if n_in else None}
    res1 = linprog(c1, A_eq=a_eq, b_eq=rhs[eq], bounds=bounds, method="highs-ipm", **kw)
    if res1.status != 0:
        raise CalibrationError(f"Algorithm 1 LP (phase 1): scipy/HiGHS failed: {res1.message}")
    violation = float(res1.fun)
    cap = violation * (1 + 1e-9) + 1e-9 * max(1.0, float(np.abs(rhs).max()))
    c2 = np.r_[np.ones(m), np.zeros(n_var - m)]
    a_ub2 = vstack([a_ub, c1[None, :]]) if n_in else c1[None, :]
    b_ub2 = np.r_[rhs[ineq], cap] if n_in else np.array([cap])
    res2 = linprog(
        c2, A_ub=a_ub2, b_ub=b_ub2, A_eq=a_eq, b_eq=rhs[eq], bounds=bounds, method="highs-ipm"
    )
    if res2.status != 0:
        raise CalibrationError(f"Algorithm 1 LP (phase 2): scipy/HiGHS failed: {res2.message}")
    return res2.x[:m], violation, {"status": res2.message}


def _solve_pyomo(
    mprime: np.ndarray, panel: Panel, slack: bool
) -> tuple[np.ndarray, float, dict[str, Any]]:
    pyo = require("pyomo.environ", "Algorithm 1 through Pyomo (backend='pyomo')")
    require("highspy", "Algorithm 1 through Pyomo (backend='pyomo')")

    t, i, j, used = _rows(panel)
    m = panel.n_providers
    users = sorted({(int(a), int(c)) for a, c in zip(t, i, strict=True)})
    rows = list(range(t.size))
    model = pyo.ConcreteModel()
    model.J = pyo.RangeSet(0, m - 1)
    model.U = pyo.Set(initialize=users, dimen=2)
    model.b = pyo.Var(model.J, domain=pyo.NonNegativeReals)  # Eq. (25)
    model.lam = pyo.Var(model.U, domain=pyo.Reals)
    eq_rows = [r for r in rows if used[r]]
    in_rows = [r for r in rows if not used[r]]
    if slack:
        model.sp = pyo.Var(eq_rows, domain=pyo.NonNegativeReals)
        model.sm = pyo.Var(eq_rows, domain=pyo.NonNegativeReals)
        model.u = pyo.Var(in_rows, domain=pyo.NonNegativeReals)

    def gap(r: int) -> Any:
        return mprime[t[r], i[r], j[r]] - model.b[int(j[r])] - model.lam[int(t[r]), int(i[r])]

    def eq_rule(mdl: Any, r: int) -> Any:  # Eq. (23)
        return gap(r) == ((mdl.sp[r] - mdl.sm[r]) if slack else 0.0)

    def in_rule(mdl: Any, r: int) -> Any:  # Eq. (24)
        return gap(r) >= (-mdl.u[r] if slack else 0.0)

    model.equal = pyo.Constraint(eq_rows, rule=eq_rule)
    model.ineq = pyo.Constraint(in_rows, rule=in_rule)
    solver = pyo.SolverFactory("appsi_highs")
    solver.highs_options["solver"] = "ipm"  # with crossover: a vertex, several times faster here
    violation = 0.0
    if slack:
        total = sum(model.sp[r] + model.sm[r] for r in eq_rows) + sum(model.u[r] for r in in_rows)
        model.phase1 = pyo.Objective(expr=total, sense=pyo.minimize)
        res = solver.solve(model, load_solutions=False)
        _check_pyomo(res, "phase 1")
        model.solutions.load_from(res)
        violation = float(pyo.value(model.phase1))
        cap = violation * (1 + 1e-9) + 1e-9 * max(1.0, float(np.abs(mprime).max()))
        model.phase1.deactivate()
        model.keep = pyo.Constraint(expr=total <= cap)
    model.obj = pyo.Objective(expr=sum(model.b[k] for k in model.J), sense=pyo.minimize)  # (22)
    res = solver.solve(model, load_solutions=False)
    _check_pyomo(res, "phase 2" if slack else "")
    model.solutions.load_from(res)
    b = np.array([pyo.value(model.b[k]) for k in range(m)])
    return b, violation, {"status": str(res.solver.termination_condition)}


def _check_pyomo(res: Any, phase: str) -> None:
    from pyomo.opt import TerminationCondition as TC

    cond = res.solver.termination_condition
    if cond == TC.optimal:
        return
    if cond in (TC.infeasible, TC.infeasibleOrUnbounded):
        raise CalibrationError(_INFEASIBLE)
    where = f" ({phase})" if phase else ""
    raise CalibrationError(f"Algorithm 1 LP{where}: Pyomo/HiGHS ended with {cond}")


_INFEASIBLE = (
    "Algorithm 1 LP (Eq. 22-25) is infeasible: the observed flows are not an equilibrium for "
    "any b >= 0 with w_p = w_q = w_d = 1 (noisy or real data usually are not); use slack=True "
    "(the default) for the L1-relaxed variant"
)


def initial_preferences(
    panel: Panel,
    *,
    slack: bool = True,
    backend: str = "pyomo",
    w_q: float = 1.0,
    w_d: float = 1.0,
) -> LPInitResult:
    """Algorithm 1: the smallest non-negative ``b`` making the observed flows an equilibrium.

    Parameters
    ----------
    panel
        Observed days (prices, latencies, capacities, flows).
    slack
        ``True`` (default): the two-phase L1-relaxed LP (our deviation, see the module
        docstring); ``False``: the paper's LP (Eq. 22-25), which raises on infeasible data.
    backend
        ``"pyomo"`` (Pyomo + HiGHS) or ``"scipy"`` (``scipy.optimize.linprog``, HiGHS).
    w_q, w_d
        The weights held fixed in Eq. (21); the paper uses 1 and 1 (the defaults).

    Returns
    -------
    LPInitResult
        ``prefs`` is :math:`\\theta_{init} = (1, 1, 1, b^*)`.

    Raises
    ------
    CalibrationError
        If the exact LP is infeasible or the solver fails.

    References
    ----------
    Algorithm 1 and Eq. (21-25) of the paper (Section 9.5).
    """
    if backend not in ("pyomo", "scipy"):
        raise MarketError(f"backend: expected 'pyomo' or 'scipy', got {backend!r}")
    start = time.perf_counter()
    for name, value in (("w_q", w_q), ("w_d", w_d)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
            raise MarketError(f"{name}: expected a number, got {value!r}")
    if not (np.isfinite(w_q) and w_q > 0 and np.isfinite(w_d) and w_d >= 0):
        raise MarketError(f"w_q, w_d: expected w_q > 0 and w_d >= 0, got {w_q!r}, {w_d!r}")
    mprime = observable_marginal_costs(panel, w_q, w_d)
    solve = _solve_pyomo if backend == "pyomo" else _solve_scipy
    b_raw, violation, info = solve(mprime, panel, slack)
    # Eq. (25) asks b >= 0 and the LP has that bound: what the solver returns below 0 is
    # round-off, recorded before it is cut off
    info["b_min_raw"] = float(np.min(b_raw))
    b = np.maximum(b_raw, 0.0)
    prefs = Preferences(w_q=float(w_q), w_d=float(w_d), b=b, provider_ids=panel.provider_ids)
    n_rows = int(_rows(panel)[0].size)
    info["units"] = f"USD per {TOKENS_PER_PRICE_UNIT:.0e} tokens"
    return LPInitResult(prefs, violation, n_rows, backend, time.perf_counter() - start, info)


def representative_days(panel: Panel, k: int = INIT_DAYS) -> Panel:
    """``k`` days evenly spaced over the panel (all of them if it has at most ``k``)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MarketError(f"k: expected a positive number of days, got {k!r}")
    if panel.n_days <= k:
        return panel
    return panel.subset(np.unique(np.linspace(0, panel.n_days - 1, k).round().astype(int)))


def default_start(panel: Panel, init_days: int | None = INIT_DAYS) -> tuple[Preferences, float]:
    """The start of every learning method: Algorithm 1 on representative days.

    Returns the preferences :math:`\\theta_{init}` and the seconds the LP took. ``init_days``
    ``None`` uses every day.
    """
    days = panel if init_days is None else representative_days(panel, init_days)
    res = initial_preferences(days, backend="scipy")
    return res.prefs, res.wall_time
