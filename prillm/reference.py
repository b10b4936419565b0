"""The equilibrium by a generic convex solver (cvxpy): the independent reference.

:func:`equilibrium_reference` writes the potential minimisation of Eq. (13) in cvxpy and hands it
to a conic or QP solver (Clarabel by default, or OSQP, SCS, ...). It shares nothing with the
exact solver but the problem data, which makes it the reference for tests and benchmarks.

Interior-point and ADMM solvers stop at a tolerance: they leave small flows on routes that should
be empty, and their multipliers satisfy the KKT conditions only approximately. The returned
:class:`~prillm.equilibrium.Equilibrium` therefore carries an honest certificate that is usually
far above round-off; it is *not* required to be certified (``certificate.certified`` may be
False). A solver failure (status other than optimal) raises :class:`EquilibriumError`.

:class:`ParametricReference` builds the problem once with cvxpy parameters (DPP) so that repeated
solves with new prices or preferences skip the problem construction.
"""

from __future__ import annotations

import numpy as np

from prillm._optional import require
from prillm.equilibrium import (
    DEFAULT_TOL,
    ActiveSetResult,
    Equilibrium,
    EquilibriumError,
    package_equilibrium,
    problem_scales,
)
from prillm.market import Market, Preferences, game_coefficients

__all__ = [
    "ParametricReference",
    "equilibrium_reference",
    "package_reference",
    "solve_reference_arrays",
]


class ParametricReference:
    """A cvxpy model of Eq. (13) for a fixed market shape, re-solvable with new data.

    Parameters
    ----------
    n_users, n_providers
        The shape of the flow matrix.
    solver
        Any cvxpy solver name that handles QPs/SOCPs (``"CLARABEL"``, ``"OSQP"``, ``"SCS"``...).

    Notes
    -----
    Data are rescaled (flows by ``max D``, costs by the largest cost term) before they are put
    into the parameters, so that the solver sees numbers of order one.
    """

    def __init__(self, n_users: int, n_providers: int, solver: str = "CLARABEL") -> None:
        cp = require("cvxpy", "the cvxpy reference (prillm.reference)")

        self.shape = (n_users, n_providers)
        self.solver = solver
        self._c = cp.Parameter(self.shape)
        self._sk_col = cp.Parameter(n_providers, nonneg=True)
        self._sk_mat = cp.Parameter(self.shape, nonneg=True)
        self._d = cp.Parameter(n_users, nonneg=True)
        self._problem, self._x, self._demand_con = _model(
            self.shape, self._c, self._sk_col, self._sk_mat, self._d
        )

    def solve_arrays(
        self, cost: np.ndarray, slope: np.ndarray, demand: np.ndarray, **solver_options: object
    ) -> tuple[np.ndarray, np.ndarray]:
        """Solve for raw arrays; returns ``(flows, multipliers)`` in the caller's units."""
        d_scale, c_scale = problem_scales(cost, slope, demand)
        sk = np.sqrt(slope * d_scale / c_scale)
        self._c.value = cost / c_scale
        self._sk_col.value = sk
        self._sk_mat.value = np.tile(sk, (self.shape[0], 1))
        self._d.value = demand / d_scale
        return _run(
            self._problem, self._x, self._demand_con, self.solver, d_scale, c_scale, solver_options
        )

    def solve(
        self,
        market: Market,
        prefs: Preferences,
        *,
        tol: float = DEFAULT_TOL,
        **solver_options: object,
    ) -> Equilibrium:
        """Solve a market of this shape; see :func:`equilibrium_reference`."""
        if market.shape != self.shape:
            raise ValueError(f"market shape {market.shape} != model shape {self.shape}")
        gc = game_coefficients(market, prefs)
        flows, lam = self.solve_arrays(gc.cost, gc.slope, gc.demand, **solver_options)
        return package_reference(
            market, prefs, gc.cost, gc.slope, flows, lam, tol, f"cvxpy-{self.solver}"
        )


def _model(shape: tuple[int, int], c: object, sk_col: object, sk_mat: object, d: object) -> tuple:
    """Eq. (13) in scaled units: ``sum c x + 1/2 sum_j k_j (F_j^2 + sum_i x_ij^2)``."""
    cp = require("cvxpy", "the cvxpy reference (prillm.reference)")

    x = cp.Variable(shape, nonneg=True)
    objective = (
        cp.sum(cp.multiply(c, x))
        + 0.5 * cp.sum_squares(cp.multiply(sk_col, cp.sum(x, axis=0)))
        + 0.5 * cp.sum_squares(cp.multiply(sk_mat, x))
    )
    con = cp.sum(x, axis=1) == d
    return cp.Problem(cp.Minimize(objective), [con]), x, con


def _run(
    problem: object,
    x: object,
    con: object,
    solver: str,
    d_scale: float,
    c_scale: float,
    options: dict,
) -> tuple[np.ndarray, np.ndarray]:
    problem.solve(solver=solver, **options)
    status = problem.status
    if status not in ("optimal", "optimal_inaccurate") or x.value is None:
        raise EquilibriumError(f"cvxpy/{solver} failed: status {status!r}")
    flows = np.asarray(x.value, dtype=float) * d_scale
    # cvxpy's Lagrangian is f(x) + nu^T (A x - b) for A x == b, so lambda_i = -nu_i.
    lam = -np.asarray(con.dual_value, dtype=float) * c_scale
    return flows, lam


def solve_reference_arrays(
    cost: np.ndarray,
    slope: np.ndarray,
    demand: np.ndarray,
    solver: str = "CLARABEL",
    **solver_options: object,
) -> tuple[np.ndarray, np.ndarray]:
    """One-off cvxpy solve of Eq. (13) from raw arrays (problem built with constants)."""
    d_scale, c_scale = problem_scales(cost, slope, demand)
    sk = np.sqrt(slope * d_scale / c_scale)
    problem, x, con = _model(
        cost.shape, cost / c_scale, sk, np.tile(sk, (cost.shape[0], 1)), demand / d_scale
    )
    return _run(problem, x, con, solver, d_scale, c_scale, solver_options)


def package_reference(
    market: Market,
    prefs: Preferences,
    cost: np.ndarray,
    slope: np.ndarray,
    flows: np.ndarray,
    lam: np.ndarray,
    tol: float,
    method: str,
) -> Equilibrium:
    """An approximate solver's ``(flows, multipliers)`` as an :class:`Equilibrium`.

    The certificate (with the Nash gap) is computed and reported, not enforced; the support is
    every route with positive flow.
    """
    raw = ActiveSetResult(flows, lam, flows.sum(axis=0), flows > 0, 0, False)
    return package_equilibrium(
        market, prefs, cost, slope, raw, tol, method=method, nash=True, require_certified=False
    )


def equilibrium_reference(
    market: Market,
    prefs: Preferences | None = None,
    *,
    solver: str = "CLARABEL",
    tol: float = DEFAULT_TOL,
    **solver_options: object,
) -> Equilibrium:
    """The user-side equilibrium (Eq. 13) solved by cvxpy, as an independent reference.

    Parameters
    ----------
    market, prefs
        The game (``prefs`` defaults to ``Preferences()``).
    solver
        cvxpy solver name; ``"CLARABEL"`` (interior point) by default, ``"OSQP"`` (ADMM) also works.
    tol
        Tolerance stored in the certificate (which is reported, not enforced).
    **solver_options
        Passed to ``cvxpy.Problem.solve`` (e.g. ``eps_abs=1e-10`` for OSQP).

    Returns
    -------
    Equilibrium
        With ``method="cvxpy-<SOLVER>"``; its certificate measures the solver's accuracy, and its
        support is every route with positive flow (usually all of them).

    Raises
    ------
    EquilibriumError
        If the solver reports a status other than optimal.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> mkt = Market(demand=[1e6], price=[1.0, 1.0], capacity=[1e6, 1e6])
    >>> ref = equilibrium_reference(mkt, Preferences(w_d=0.0))
    >>> bool(np.allclose(ref.flows, 5e5, rtol=1e-6))
    True
    """
    prefs = Preferences() if prefs is None else prefs
    gc = game_coefficients(market, prefs)
    flows, lam = solve_reference_arrays(gc.cost, gc.slope, gc.demand, solver, **solver_options)
    return package_reference(market, prefs, gc.cost, gc.slope, flows, lam, tol, f"cvxpy-{solver}")
