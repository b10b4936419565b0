"""The fixed-support KKT kernel: the one place the reduced system of Eq. (14-17) is built, solved.

Every exact computation of the library stands on this module: the active-set equilibrium, the
exact price path and the brute force of pricing, and (mirrored in torch, operation for
operation) the differentiable and batched equilibrium.

The math
--------
Let ``A`` be the 0/1 support (``a_ij = 1`` when user ``i`` uses provider ``j``; every row of a
user with demand non-empty), ``K_j = 1/k_j = alpha_j / w_q``, ``n_j = sum_i a_ij`` the users of
provider ``j`` and ``kappa_i = sum_j a_ij K_j``. On the support, stationarity (Eq. 14) reads
``c_ij + k_j (F_j + f_ij) = lambda_i``, so

.. math::

    f_{ij} = a_{ij}\\big(K_j(\\lambda_i - c_{ij}) - F_j\\big),

and the demand (Eq. 15) and load (``F_j = sum_i f_ij``) equations become, with the *row term*
``r_i = D_i + sum_j a_ij K_j c_ij`` and the *column term* ``q_j = sum_i a_ij c_ij``,

.. math::

    \\kappa_i \\lambda_i - \\sum_j a_{ij} F_j = r_i, \\qquad
    \\frac{1 + n_j}{K_j} F_j - \\sum_i a_{ij} \\lambda_i = -q_j .

Eliminating one block leaves one symmetric positive-definite system (both Schur complements of
an SPD block matrix):

* **users' system** (``n x n``, used when ``n <= m``): with ``w_j = K_j / (1 + n_j)``,
  ``M = diag(kappa) - A diag(w) A^T``, ``M lambda = r - A (w * q)``, then
  ``F = w * (A^T lambda - q)``;
* **providers' system** (``m x m``, when ``m < n``):
  ``P = diag((1 + n) / K) - A^T diag(1 / kappa) A``, ``P F = A^T (r / kappa) - q``, then
  ``lambda = (r + A F) / kappa``.

``M`` (or ``P``) depends on the support and ``K`` only: it is factorised once (Cholesky,
LAPACK ``potrf``) and serves any number of right-hand sides ``(r, q)``, because the system is
linear in the costs and demands. The ones used in the library:

* the equilibrium on the support: ``c`` the fixed costs, ``D`` the demands;
* its price derivative (pricing): ``c = dc/dp`` (non-zero on the target's column only),
  ``D = 0`` -- one more column of the same solve;
* the adjoint of the implicit differentiation (Theorem 2, Eq. 19-20): ``c = v = dL/df`` and
  ``D = 0``; then ``dL/dc = -f(v)`` (the flows of that solve, scaled back) and
  ``dL/dD = lambda(v)``;
* the iterative refinement of the demand constraints: ``c = 0`` and ``D`` the residual.

A support change at a few positions changes ``M`` (or ``P``) by a few rank-one terms: a
column ``j`` of ``A`` enters the users' matrix as ``-w_j a_j a_j^T`` plus ``K_j`` on the
diagonal of its users, a row ``i`` enters the providers' matrix as ``-a_i a_i^T / kappa_i``
plus ``1 / K_j`` on the diagonal of its providers. :class:`KKTMatrix` swaps those terms in
place (BLAS ``dger``) for the exact price path, whose consecutive supports differ in a handful
of routes.

Everything here works in *scaled* units (flows by ``max D``, costs by :func:`problem_scales`),
in which the entries of ``M`` and the multipliers are of order one. A later extended-precision
refinement needs exactly these pieces: :func:`support_rhs` for the residual, the factor for the
correction.

Numerical notes
---------------
``f_ij = K_j (lambda_i - c_ij) - F_j`` cancels when ``K_j`` is huge (congestion negligible); the
active-set solver therefore refines the demand constraints once with the same factor.
Matrix entries are built without square roots (``(A * -w) @ A^T``); ``potrf`` reads the lower
triangle only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import LinAlgError
from scipy.linalg.blas import dger
from scipy.linalg.lapack import dpotrf, dpotrs

__all__ = [
    "KKTMatrix",
    "SupportKKT",
    "factor",
    "kkt_matrix",
    "pair_matrix",
    "problem_scales",
    "solve_factored",
    "solve_support",
    "support_flows",
    "support_rhs",
    "system_weights",
    "use_users_system",
]


def problem_scales(
    cost: np.ndarray, slope: np.ndarray, demand: np.ndarray, cost_bound: float = 0.0
) -> tuple[float, float]:
    """The scales of a game: flows by ``max_i D_i``, costs by the largest cost term.

    ``c_scale = max(max |c_ij|, max_j k_j sum_i D_i, cost_bound)``: the fixed costs and the
    largest congestion term any route can reach. In these units ``|c| <= 1``, ``k D_total <= 1``
    and every multiplier lies in ``[-1, 3]``, so token volumes of 1e3 or 1e13 look alike.

    Parameters
    ----------
    cost, slope, demand
        ``c`` (n, m), ``k`` (m,), ``D`` (n,).
    cost_bound
        A further bound on ``|c|`` (pricing: the costs over the whole price range).

    Returns
    -------
    d_scale, c_scale
        Both > 0 (1 for an empty or all-zero demand), rounded up to powers of two so that
        scaling by them is exact.

    Examples
    --------
    >>> problem_scales(np.array([[2.0, -5.0]]), np.array([1e-6, 2e-6]), np.array([1e6]))
    (1048576.0, 8.0)
    """
    d_max = float(_max(demand)) if demand.size else 0.0
    d_scale = d_max if d_max > 0 else 1.0
    c_abs = float(_max(np.abs(cost), None)) if cost.size else 0.0
    congestion = float(_max(slope) * np.add.reduce(demand)) if slope.size else 0.0
    # powers of two, so that scaling is exact (the refinement of :mod:`refine` relies on it)
    return _pow2(d_scale), _pow2(max(c_abs, congestion, cost_bound, 1e-300))


#: Reductions called directly (``x.max()`` goes through a Python wrapper first).
_max = np.maximum.reduce


def _pow2(x: float) -> float:
    """The power of two nearest above ``x`` (``x > 0``): scaling by it is exact."""
    mant, exp = math.frexp(x)
    exp = exp if mant != 0.5 else exp - 1
    return math.ldexp(1.0, exp) if exp < 1024 else math.inf  # np.ldexp's overflow to inf


def use_users_system(shape: tuple[int, int], system: str = "auto") -> bool:
    """Whether the users' ``n x n`` system is used (``system``: auto, users or providers)."""
    if system == "users":
        return True
    if system == "providers":
        return False
    return shape[0] <= shape[1]


def system_weights(
    capa: np.ndarray, nj: np.ndarray, rowk: np.ndarray, users: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The weights and diagonal of the reduced system of a support.

    Users' system: ``weight = w = K / (1 + n)`` (one per provider), ``diag = kappa``;
    providers' system: ``weight = 1 / kappa`` (one per user), ``diag = (1 + n) / K``. The
    matrix is ``diag(diag) - A diag(w) A^T`` or ``diag(diag) - A^T diag(1 / kappa) A``.
    """
    if users:
        return capa / (1.0 + nj), rowk
    return 1.0 / rowk, (1.0 + nj) / capa


def kkt_matrix(
    a: np.ndarray,
    weight: np.ndarray,
    diag: np.ndarray,
    users: bool,
    support: np.ndarray | None = None,
    count: int | None = None,
) -> np.ndarray:
    """The reduced matrix ``M`` (users) or ``P`` (providers) of the support ``a`` (0/1 floats).

    ``weight`` and ``diag`` come from :func:`system_weights`. With the boolean ``support`` and
    its number of routes ``count``, a sparse support is assembled from the pairs of routes
    that share a user (providers' system) or a provider (users' system) when that is cheaper
    than the dense product (about ``n m size`` flops); both give the same matrix up to
    round-off. Returns a fresh C-ordered array (the caller may factorise it in place).
    """
    n, m = a.shape
    size = n if users else m
    if support is not None and count is not None and size >= _PAIRS_MIN_SIZE:
        pairs = count * count / (m if users else n)  # at least this many (Cauchy-Schwarz)
        if pairs * _PAIR_COST < n * m * size:
            return pair_matrix(support, weight, diag, users)
    if users:
        mat = np.multiply(a, -weight) @ a.T
    else:
        mat = np.multiply(a.T, -weight) @ a
    mat.reshape(-1)[:: size + 1] += diag
    return mat


#: The pair assembly is considered from this system size on ...
_PAIRS_MIN_SIZE = 64
#: ... when (pairs x this) is below the dense product's ``n m size`` (measured: one pair costs
#: about as much as 200 multiply-adds of the dense product).
_PAIR_COST = 200.0


def pair_matrix(
    support: np.ndarray, weight: np.ndarray, diag: np.ndarray, users: bool
) -> np.ndarray:
    """:func:`kkt_matrix` from the pairs of routes of a sparse support (``np.bincount``)."""
    n, m = support.shape
    if users:  # pairs of users sharing a provider; group the routes by provider
        group, other = np.divmod(np.flatnonzero(support.T), n)
        size, groups = n, m
    else:  # pairs of providers sharing a user
        group, other = np.divmod(np.flatnonzero(support), m)
        size, groups = m, n
    per = np.bincount(group, minlength=groups)
    start = np.cumsum(per)
    start -= per
    rep = per[group]  # each route is paired with every route of its group
    ends = np.cumsum(rep)
    offset = np.arange(ends[-1])
    offset -= np.repeat(ends - rep, rep)
    partner = other[np.repeat(start[group], rep) + offset]
    flat = np.repeat(other * size, rep)
    flat += partner
    mat = np.bincount(flat, np.repeat(-weight[group], rep), size * size).reshape(size, size)
    mat.reshape(-1)[:: size + 1] += diag
    return mat


def factor(mat: np.ndarray, overwrite: bool = False) -> np.ndarray:
    """Cholesky factor (lower) of an SPD matrix; ``overwrite`` lets LAPACK reuse ``mat``.

    Raises
    ------
    scipy.linalg.LinAlgError
        If the matrix is not positive definite.
    """
    chol, info = dpotrf(mat, lower=1, clean=0, overwrite_a=int(overwrite))
    if info != 0:
        raise LinAlgError(f"the fixed-support KKT matrix is not positive definite (info={info})")
    return chol


def solve_factored(
    chol: np.ndarray,
    a: np.ndarray,
    weight: np.ndarray,
    users: bool,
    row: np.ndarray,
    col: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers and loads for the terms ``row = r`` (n[, k]) and ``col = q`` (m[, k]).

    ``chol`` is the factor of :func:`kkt_matrix` for the same support and ``weight`` its
    :func:`system_weights`. Several right-hand sides are solved at once when ``row`` and
    ``col`` have a second axis.
    """
    w = weight if row.ndim == 1 else weight[:, None]
    if users:
        lam, _ = dpotrs(chol, row - a @ (w * col), lower=1)
        loads = w * (a.T @ lam - col)
    else:
        loads, _ = dpotrs(chol, a.T @ (row * w) - col, lower=1)
        lam = a @ loads
        lam += row
        lam *= w
    return lam, loads


def support_rhs(
    a: np.ndarray, cost: np.ndarray, capa: np.ndarray, demand: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """The terms ``r = D + (a * c) K`` and ``q = 1^T (a * c)`` of a cost matrix on a support."""
    ac = a * cost
    return ac @ capa + demand, ac.sum(axis=0)


def support_flows(
    a: np.ndarray, cost: np.ndarray, capa: np.ndarray, lam: np.ndarray, loads: np.ndarray
) -> np.ndarray:
    """``f_ij = a_ij (K_j (lambda_i - c_ij) - F_j)``: zero off the support, any sign on it."""
    x = np.subtract(lam[:, None], cost)
    x *= capa
    x -= loads
    x *= a
    return x


class SupportKKT:
    """The KKT system of one support, factorised once, solved for any right-hand sides.

    Parameters
    ----------
    capa
        ``K_j = 1/k_j`` (scaled), shape ``(m,)``.
    support
        Boolean ``(n, m)``, every row non-empty.
    system
        ``"auto"`` (the smaller system), ``"users"`` or ``"providers"``.
    matrix
        Optional ready matrix of this support (e.g. from :class:`KKTMatrix`); not modified.

    Examples
    --------
    One user, two providers with ``K = 1``: the flows split the demand by cost.

    >>> kkt = SupportKKT(np.ones(2), np.ones((1, 2), bool))
    >>> lam, loads, flows = kkt.solve_costs(np.array([[0.0, 0.5]]), np.array([1.0]))
    >>> flows.round(6).tolist(), float(lam[0])
    ([[0.625, 0.375]], 1.25)
    """

    __slots__ = ("a", "capa", "chol", "nj", "rowk", "users", "weight")

    def __init__(
        self,
        capa: np.ndarray,
        support: np.ndarray,
        system: str = "auto",
        matrix: np.ndarray | None = None,
    ) -> None:
        self.capa = capa
        self.a = np.asarray(support, dtype=float)
        self.nj = self.a.sum(axis=0)
        self.rowk = self.a @ capa
        self.users = use_users_system(self.a.shape, system)
        self.weight, diag = system_weights(capa, self.nj, self.rowk, self.users)
        if matrix is None:
            self.chol = factor(kkt_matrix(self.a, self.weight, diag, self.users), True)
        else:
            self.chol = factor(matrix)

    @classmethod
    def from_factor(
        cls,
        capa: np.ndarray,
        a: np.ndarray,
        nj: np.ndarray,
        rowk: np.ndarray,
        users: bool,
        weight: np.ndarray,
        chol: np.ndarray,
    ) -> SupportKKT:
        """The system of a support whose factor is already at hand (an iteration's last solve).

        The arguments are the attributes of the same names: the 0/1 support ``a`` (floats), its
        ``n_j`` and ``kappa_i``, the system chosen, its :func:`system_weights` and factor.
        """
        kkt = cls.__new__(cls)
        kkt.capa, kkt.a, kkt.nj, kkt.rowk = capa, a, nj, rowk
        kkt.users, kkt.weight, kkt.chol = users, weight, chol
        return kkt

    def solve(self, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Multipliers and loads for the terms ``(r, q)`` (see :func:`solve_factored`)."""
        return solve_factored(self.chol, self.a, self.weight, self.users, row, col)

    def solve_costs(
        self, cost: np.ndarray, demand: np.ndarray | float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lambda, F, f)`` of the game with costs ``cost`` and demands ``demand``."""
        lam, loads = self.solve(*support_rhs(self.a, cost, self.capa, demand))
        return lam, loads, support_flows(self.a, cost, self.capa, lam, loads)


def solve_support(
    cost: np.ndarray,
    capa: np.ndarray,
    demand: np.ndarray,
    support: np.ndarray,
    system: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve the KKT system of Eq. (14-17) for a fixed support (every row non-empty).

    Parameters
    ----------
    cost
        Fixed costs ``c``, shape ``(n, m)``.
    capa
        ``K_j = 1/k_j = alpha_j / w_q``, shape ``(m,)``.
    demand
        ``D``, shape ``(n,)``.
    support
        Boolean ``(n, m)``, each row with at least one ``True``.
    system
        ``"users"`` (n x n system in lambda), ``"providers"`` (m x m system in the loads) or
        ``"auto"`` (the smaller one).

    Returns
    -------
    lam, loads, flows
        Multipliers, loads and flows (zero off the support; may be negative on it).

    Examples
    --------
    >>> lam, loads, flows = solve_support(
    ...     np.zeros((2, 2)), np.ones(2), np.array([1.0, 1.0]), np.ones((2, 2), bool))
    >>> flows.round(12).tolist(), loads.round(12).tolist()
    ([[0.5, 0.5], [0.5, 0.5]], [1.0, 1.0])
    """
    return SupportKKT(capa, support, system).solve_costs(cost, demand)


class KKTMatrix:
    """The reduced matrix of the current support, kept up to date by low-rank changes.

    A support change that touches a few rows (providers' system) or columns (users' system)
    changes only their outer products, so the matrix is updated in ``O(r size^2)`` instead of
    rebuilt in ``O(n m size)``: two BLAS rank-one updates (``dger``, in place) per changed line,
    found from the changed positions (given by the caller, or by comparing the supports). It is
    rebuilt from scratch every ``refresh`` updates to keep round-off from accumulating, and
    whenever more than a quarter of the lines change. Small markets (fewer than ``min_size``
    routes) are always rebuilt: there a fresh build is cheaper than the bookkeeping.

    Parameters
    ----------
    capa
        ``K_j`` (scaled), shape ``(m,)``.
    shape
        ``(n, m)``.
    refresh, min_size
        See above.
    system
        ``"auto"``, ``"users"`` or ``"providers"``.
    """

    def __init__(
        self,
        capa: np.ndarray,
        shape: tuple[int, int],
        refresh: int = 32,
        min_size: int = 2500,
        system: str = "auto",
    ) -> None:
        self.capa = capa
        n, m = shape
        self.users = use_users_system(shape, system)
        self.refresh = refresh if n * m >= min_size else 0
        #: Whether every call builds afresh (then the caller may overwrite the matrix).
        self.disposable = self.refresh == 0
        self.support: np.ndarray | None = None
        self.mat: np.ndarray | None = None
        self.updates = 0

    def matrix(
        self,
        support: np.ndarray,
        changed: np.ndarray | None = None,
        a: np.ndarray | None = None,
        nj: np.ndarray | None = None,
        rowk: np.ndarray | None = None,
    ) -> np.ndarray:
        """The system matrix of ``support`` (not to be modified unless :attr:`disposable`).

        ``changed`` optionally lists the flat indices of the only entries that may differ from
        the previous call's support (a superset is fine); it saves comparing the whole support.
        ``a``, ``nj``, ``rowk`` (the 0/1 support and its statistics), when the caller has them,
        save recomputing them for a fresh build.
        """
        if self.disposable:
            if a is None or nj is None or rowk is None:
                a = support.astype(float)
                nj, rowk = a.sum(axis=0), a @ self.capa
            return kkt_matrix(a, *system_weights(self.capa, nj, rowk, self.users), self.users)
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
        a = support.astype(float)
        weights = system_weights(self.capa, a.sum(axis=0), a @ self.capa, self.users)
        self.mat = kkt_matrix(a, *weights, self.users)
        self.support = support.copy()
        self.updates = 0
        return self.mat
