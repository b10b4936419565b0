"""The equilibrium on a fixed support as an affine function of the target's price.

:func:`affine_support` solves the fixed-support KKT system (Eq. 14-17) at a price and its price
derivative with one Cholesky factor; :class:`SupportMatrix` keeps that system's matrix up to date
by low-rank changes when consecutive supports differ in a few routes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dger
from scipy.linalg.lapack import dpotrf, dpotrs

from prillm.pricing.problem import PricingProblem

__all__ = ["AffineSupport", "SupportMatrix", "affine_support", "spd_solve"]


@dataclass
class AffineSupport:
    """Equilibrium on a fixed support as an affine function of the target's price.

    ``x(p) = x + (p - p0) dx`` and likewise for ``lam``, ``loads`` and the reduced costs ``mu``
    (all scaled); valid as long as ``x >= 0`` on the support and ``mu >= 0`` off it.
    """

    p0: float
    support: np.ndarray
    x: np.ndarray
    lam: np.ndarray
    loads: np.ndarray
    mu: np.ndarray
    dx: np.ndarray
    dlam: np.ndarray
    dloads: np.ndarray
    dmu: np.ndarray


class SupportMatrix:
    """The KKT matrix of the current support, kept up to date by low-rank changes.

    With ``A`` the 0/1 support matrix, ``n_j`` the users of provider ``j`` and ``kappa_i`` the
    sum of ``K_j`` over user ``i``'s providers, the system is (as in
    :func:`prillm.equilibrium.solve_support`) either the users' ``n x n`` matrix
    ``diag(kappa) - sum_j w_j a_j a_j^T`` with ``w_j = K_j / (1 + n_j)`` and ``a_j`` column
    ``j`` of ``A``, or the providers' ``m x m`` matrix
    ``diag((1 + n_j) / K_j) - sum_i a_i a_i^T / kappa_i`` with ``a_i`` row ``i``; the smaller is
    used. A support change that touches a few rows (providers' system) or columns (users'
    system) changes only their outer products, so the matrix is updated in ``O(r m^2)`` instead
    of rebuilt in ``O(n m^2)``: two BLAS rank-one updates (``dger``, in place) per changed line,
    found from the changed positions (given by the caller, or by comparing the supports); it is
    rebuilt from scratch every ``refresh`` updates to keep round-off from accumulating. Small
    markets (fewer than ``min_size`` routes) are always rebuilt.
    """

    def __init__(self, prob: PricingProblem, refresh: int = 32, min_size: int = 2500) -> None:
        self.capa = prob.capa
        n, m = prob.shape
        self.users = n <= m
        # below ``min_size`` routes a fresh build is cheaper than the bookkeeping of an update
        self.refresh = refresh if n * m >= min_size else 0
        self.support: np.ndarray | None = None
        self.mat: np.ndarray | None = None
        self.updates = 0

    def _build(self, a: np.ndarray) -> np.ndarray:
        capa = self.capa
        nj = a.sum(axis=0)
        rowk = a @ capa
        if self.users:
            b = a * np.sqrt(capa / (1.0 + nj))
            mat = -(b @ b.T)
            mat[np.diag_indices(a.shape[0])] += rowk
        else:
            b = a / np.sqrt(rowk)[:, None]
            mat = -(b.T @ b)
            mat[np.diag_indices(a.shape[1])] += (1.0 + nj) / capa
        return mat

    def matrix(self, support: np.ndarray, changed: np.ndarray | None = None) -> np.ndarray:
        """The system matrix of ``support`` (not to be modified by the caller).

        ``changed`` optionally lists the flat indices of the only entries that may differ from
        the previous call's support (a superset is fine); it saves comparing the whole support.
        """
        old = self.support
        if old is None or self.updates >= self.refresh:
            return self._reset(support)
        flat_old = old.reshape(-1)
        flat_new = support.reshape(-1)
        if changed is None:
            changed = np.flatnonzero(flat_old != flat_new)
        else:
            if changed.size > 1:  # drop repeated positions (tiny lists: no np.unique)
                changed = np.array(sorted(set(changed.tolist())), dtype=np.intp)
            changed = changed[flat_old[changed] != flat_new[changed]]
        if changed.size == 0:
            return self.mat  # type: ignore[return-value]
        n, m = support.shape
        rows, cols = np.divmod(changed, m)
        lines = sorted(set((cols if self.users else rows).tolist()))
        if len(lines) * 4 > (n if self.users else m):
            return self._reset(support)
        capa = self.capa
        mat = self.mat
        assert mat is not None
        # the matrix holds -c a a^T for each line a (a column with c = w_j in the users' system,
        # a row with c = 1 / kappa_i in the providers'); swap the changed lines' terms in place
        # by BLAS rank-one updates (mat.T is the same symmetric matrix in the Fortran order dger
        # expects), without (size x size) temporaries
        target = mat.T
        for k in lines:
            if self.users:
                a_old, a_new = old[:, k].astype(float), support[:, k].astype(float)
                c_old = capa[k] / (1.0 + a_old.sum())
                c_new = capa[k] / (1.0 + a_new.sum())
            else:
                a_old, a_new = old[k].astype(float), support[k].astype(float)
                c_old = 1.0 / float(a_old @ capa)
                c_new = 1.0 / float(a_new @ capa)
            dger(c_old, a_old, a_old, a=target, overwrite_a=True)
            dger(-c_new, a_new, a_new, a=target, overwrite_a=True)
        sign = np.where(flat_new[changed], 1.0, -1.0)
        diag = mat.reshape(-1)[:: mat.shape[0] + 1]  # a view of the diagonal
        if self.users:
            np.add.at(diag, rows, sign * capa[cols])
        else:
            np.add.at(diag, cols, sign / capa[cols])
        flat_old[changed] = flat_new[changed]
        self.updates += 1
        return mat

    def _reset(self, support: np.ndarray) -> np.ndarray:
        self.mat = self._build(support.astype(float))
        self.support = support.copy()
        self.updates = 0
        return self.mat


def affine_support(
    prob: PricingProblem,
    support: np.ndarray,
    p0: float,
    system: SupportMatrix | None = None,
) -> AffineSupport:
    """Solve the KKT system (Eq. 14-17) of a fixed support at ``p0`` and its price derivative.

    One Cholesky factor serves both right-hand sides: the equilibrium at ``p0`` (costs
    ``c(p0)``, demand ``D``) and its derivative (costs ``dc/dp``, non-zero only on column ``s``,
    and zero demand), since the system is linear in ``(c, D)`` for a fixed support. ``system``
    (a :class:`SupportMatrix`) supplies the matrix by low-rank updates when consecutive calls
    use similar supports.
    """
    cost = prob.cost_at(p0)
    capa = prob.capa
    s = prob.s
    a = support.astype(float)
    n, m = a.shape
    nj = a.sum(axis=0)
    rowk = a @ capa
    ac = a * cost
    colc = np.zeros((m, 2))
    colc[:, 0] = ac.sum(axis=0)
    colc[s, 1] = prob.dcol * nj[s]
    a_s = a[:, s] * prob.dcol  # derivative of a * cost: column s only
    if system is None:
        system = SupportMatrix(prob)
    mat = system.matrix(support)
    if n <= m:
        w = capa / (1.0 + nj)
        rhs = np.empty((n, 2))
        rhs[:, 0] = prob.demand + ac @ capa - a @ (w * colc[:, 0])
        rhs[:, 1] = a_s * w[s]  # = a_s (K_s - w_s n_s) for the derivative (zero demand)
        lam2 = spd_solve(mat, rhs)
        loads2 = w[:, None] * (a.T @ lam2 - colc)
    else:
        base = np.empty((n, 2))
        base[:, 0] = prob.demand + ac @ capa
        base[:, 1] = a_s * capa[s]
        loads2 = spd_solve(mat, a.T @ (base / rowk[:, None]) - colc)
        lam2 = (base + a @ loads2) / rowk[:, None]
    # Full-size results are built in place: every (n, m) temporary costs an allocation, and
    # at a few hundred kB each allocation can page-fault (glibc returns freed memory to the OS).
    inv = 1.0 / capa
    lam, dlam = lam2[:, 0].copy(), lam2[:, 1].copy()
    loads, dloads = loads2[:, 0].copy(), loads2[:, 1].copy()
    x = np.subtract(lam[:, None], cost, out=cost)  # cost is a fresh copy, no longer needed
    mu = np.negative(x, out=ac)  # reuse ac: mu = c + F/K - lam = -(lam - c) + F/K
    mu += loads * inv
    x *= capa
    x -= loads
    x *= a
    mu[support] = 0.0
    dx = np.multiply.outer(dlam, capa)
    dx -= dloads
    dx *= a
    dx[:, s] -= a_s * capa[s]
    dmu = np.add.outer(-dlam, dloads * inv)
    dmu[:, s] += prob.dcol
    dmu[support] = 0.0
    return AffineSupport(p0, support, x, lam, loads, mu, dx, dlam, dloads, dmu)


def spd_solve(mat: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Cholesky solve of a symmetric positive-definite system (LAPACK, no wrappers)."""
    chol, info = dpotrf(mat, lower=1, overwrite_a=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"support system is not positive definite (info={info})")
    sol, info = dpotrs(chol, rhs, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky solve failed (info={info})")
    return sol
