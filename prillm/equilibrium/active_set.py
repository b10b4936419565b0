"""The exact equilibrium on raw arrays: a primal-dual active-set method over supports.

The support (the routes each user takes) is found by a primal-dual active-set iteration: solve
the fixed-support KKT system (:mod:`prillm.equilibrium.kkt`), then drop every used route whose
flow came out negative and add every unused route whose reduced cost
``mu_ij = c_ij + k_j F_j - lambda_i`` is negative, all at once, until nothing changes. If a
support repeats (a cycle) or the iteration budget runs out, a monotone primal active-set method
takes over from the best feasible point; it terminates finitely because the potential decreases
strictly.

The first support
-----------------
Without a warm start the iteration starts from the cheap guess of
:func:`~prillm.equilibrium.first_guess.first_support` rather than from every route (real
markets leave most routes unused); it changes the work, never the answer.

One iteration
-------------
With the *gap* ``g_ij = c_ij + F_j / K_j - lambda_i``, the flow of a used route is
``x_ij = -K_j g_ij`` and the reduced cost of an unused one is ``g_ij`` itself, so one
``n x m`` array decides both the drops (``g > 0`` on the support) and the additions
(``g < -eps`` off it). An iteration makes about thirty numpy calls on preallocated buffers:
the support statistics by five BLAS matrix-vector products, the reduced matrix by one matrix
product, one Cholesky factor and solve, the gap, and two comparisons. On small markets the
calls, not the flops, are the cost: matrix-vector products go through ``ndarray.dot`` (the
same BLAS call as ``@`` at about half its overhead) and the users' system below the pair
assembly's size is built and solved inline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError
from scipy.linalg.lapack import dpotrf, dpotrs

from prillm._threads import blas_limited
from prillm.equilibrium._work import ones
from prillm.equilibrium.certificate import EquilibriumError
from prillm.equilibrium.first_guess import first_support
from prillm.equilibrium.kkt import (
    _PAIRS_MIN_SIZE,
    SupportKKT,
    factor,
    kkt_matrix,
    problem_scales,
    solve_factored,
    solve_support,
    support_flows,
    system_weights,
    use_users_system,
)
from prillm.equilibrium.refine import refine_support

__all__ = ["ActiveSetResult", "first_support", "solve_active_set"]

#: A reduced cost counts as negative below ``-_EPS * max(1, max |lambda|)`` (scaled units).
_EPS = 1e-13
#: The same bound in the primal-dual iteration: in scaled units every multiplier of an
#: equilibrium lies in ``[-1, 3]`` (see ``problem_scales``), so ``3 _EPS`` bounds it there.
_EPS_GAP = 3 * _EPS
#: Scaled capacities above this get the accurate refinement of the final support: below it,
#: round-off in a flow, about ``1e-16 K_j`` of the demand, stays under ``1e-13``.
ACCURATE_FROM = 1e3
#: ... and so do markets whose double-precision flows may be off by more than this share of a
#: user's own demand (a small user beside large loads).
ACCURATE_ERROR = 1e-11
#: The unit round-off of a double.
UNIT = 2.0**-53
#: Supports are remembered (to detect a cycle) from this iteration on.
_CYCLE_WATCH = 4
#: Reductions called directly (``x.max()`` goes through a Python wrapper first).
_max = np.maximum.reduce


@dataclass
class ActiveSetResult:
    """Raw output of :func:`solve_active_set` (in the caller's units).

    Attributes
    ----------
    flows, multipliers, loads, support
        The equilibrium: ``(n, m)``, ``(n,)``, ``(m,)`` and boolean ``(n, m)``.
    iterations
        Linear solves of the active-set iterations.
    fallback
        Whether the monotone primal method had to finish the job.
    flow_error
        Per user, a forward error estimate of its flows relative to its own demand (see
        :mod:`prillm.equilibrium.refine`).
    path
        ``"double"``, ``"double-double"`` or ``"rational"``: which arithmetic settled it.
    """

    flows: np.ndarray
    multipliers: np.ndarray
    loads: np.ndarray
    support: np.ndarray
    iterations: int
    fallback: bool
    #: Forward error estimate of each user's flows relative to its own demand (0 without
    #: demand); ``inf`` where the solver could not settle the support. ``None``: not estimated.
    flow_error: np.ndarray | None = None
    #: Which arithmetic settled the answer: ``"double"`` (the active-set iteration alone),
    #: ``"double-double"`` (:mod:`prillm.equilibrium.refine`) or ``"rational"``
    #: (:mod:`prillm.equilibrium.rational`, exact).
    path: str = "double"
    #: The factorised fixed-support system of the final support, in the solver's units
    #: (:attr:`scales`), for more solves on it (the adjoint of Theorem 2). ``None`` when a user
    #: has no demand (the system then covers the other users only).
    kkt: SupportKKT | None = None
    #: ``(d_scale, c_scale)`` of :attr:`kkt` (:func:`~prillm.equilibrium.kkt.problem_scales`).
    scales: tuple[float, float] | None = None


def solve_active_set(
    cost: np.ndarray,
    slope: np.ndarray,
    demand: np.ndarray,
    support: np.ndarray | None = None,
    *,
    max_iter: int = 100,
    system: str = "auto",
    cost_lo: np.ndarray | Callable[[], np.ndarray] | None = None,
) -> ActiveSetResult:
    """Exact equilibrium of the potential game on raw arrays (no validation, no certificate).

    This is the engine behind :func:`prillm.solve_equilibrium`; pricing and calibration call it
    in loops. Inputs are rescaled internally (:func:`~prillm.equilibrium.kkt.problem_scales`),
    so token volumes from 1e3 to 1e13 and prices from 1e-3 to 1e2 are handled alike.

    Parameters
    ----------
    cost, slope, demand
        ``c`` (n, m), ``k`` (m,) with ``k > 0``, and ``D`` (n,) with ``D >= 0``.
    support
        Optional starting support (warm start), boolean ``(n, m)``; default: the guess of
        :func:`first_support`.
    max_iter
        Budget of primal-dual active-set iterations before the monotone fallback takes over
        (0: the monotone method alone).
    system
        ``"auto"``, ``"users"`` or ``"providers"``: which reduced system to factorise.
    cost_lo
        Optional rounding error of ``cost`` (:func:`prillm.market.cost_rounding_error`), or a
        function that computes it (called only when needed). When a
        scaled capacity ``K_j`` exceeds ``1e3`` (congestion nearly negligible, flows hinge on
        tiny cost differences) the final support is refined with accurate residuals
        (:mod:`prillm.equilibrium.refine`), using it when given.

    Returns
    -------
    ActiveSetResult

    Raises
    ------
    EquilibriumError
        On a linear-algebra failure (a matrix that is not positive definite).

    Examples
    --------
    >>> res = solve_active_set(np.array([[0.0, 1.0]]), np.array([1.0, 1.0]), np.array([1.0]))
    >>> res.flows.tolist(), res.support.tolist()
    ([[0.75, 0.25]], [[True, True]])
    >>> solve_active_set(np.array([[0.0, 3.0]]), np.array([1.0, 1.0]), np.array([1.0])).flows
    array([[1., 0.]])
    """
    n, m = cost.shape
    every = n > 0 and np.count_nonzero(demand) == n  # D >= 0: min D > 0, at a third of the cost
    if not every:
        active = demand > 0
        if not active.any():
            lam = cost.min(axis=1) if m else np.zeros(n)
            return ActiveSetResult(
                np.zeros((n, m)), lam, np.zeros(m), np.zeros((n, m), bool), 0, False, np.zeros(n)
            )
    c_act = cost if every else cost[active]
    d_scale, c_scale = problem_scales(c_act, slope, demand)
    ct = c_act / c_scale
    d = (demand if every else demand[active]) / d_scale
    capa = c_scale / (slope * d_scale)
    if support is None:
        s = first_support(ct, capa, d)
    else:
        s = np.array(support if every else support[active], dtype=bool)
        empty = ~s.any(axis=1)
        if empty.any():
            s[empty, :] = ct[empty] <= ct[empty].min(axis=1, keepdims=True)
    accurate = float(_max(capa)) > ACCURATE_FROM
    try:
        with blas_limited(max(n, m)):
            if not accurate:
                x, lt, lf, s, iters, fallback, kkt = _pdas(ct, capa, d, s, max_iter, system)
                # round-off of f = K (lambda - c) - F in doubles, against each user's demand
                err = np.abs(ct)
                err += np.abs(lt)[:, None]
                err *= capa
                err += np.abs(lf)
                err += x
                err *= kkt.a  # the support as 0/1 floats
                user_err = _max(err, 1)
                user_err *= 4.0 * UNIT
                user_err /= d
                accurate = float(_max(user_err)) > ACCURATE_ERROR
            else:
                # near-linear costs: the double-precision iteration only proposes a support (its
                # round-off, about 1e-16 K of the demand, may even make it cycle); the accurate
                # refinement decides it
                try:
                    _, lt, lf, s, iters, fallback, _ = _pdas(
                        ct, capa, d, s, max_iter, system, False
                    )
                except LinAlgError:
                    lt, lf, iters, fallback = np.zeros(d.shape), np.zeros(m), 0, True
            if accurate:
                if callable(cost_lo):
                    cost_lo = cost_lo()
                if cost_lo is None:
                    lo = np.zeros_like(ct)
                else:
                    lo = (cost_lo if every else cost_lo[active]) / c_scale
                ref = refine_support(ct, lo, capa, d, s, lt, lf, system)
                x, lt, s, kkt = ref.flows, ref.lam, ref.support, ref.kkt
                iters += ref.rounds
                user_err = ref.error.max(axis=1) / d
    except LinAlgError as exc:
        raise EquilibriumError(f"linear algebra failure in the active-set solver: {exc}") from exc
    x *= d_scale
    lt *= c_scale
    path = "double-double" if accurate else "double"
    if every:
        return ActiveSetResult(
            x, lt, np.add.reduce(x, 0), s, iters, fallback, user_err, path, kkt, (d_scale, c_scale)
        )
    flows = np.zeros((n, m))
    flows[active] = x
    support_full = np.zeros((n, m), bool)
    support_full[active] = s
    loads = flows.sum(axis=0)
    lam = np.empty(n)
    lam[active] = lt
    # the marginal cost of the first token for users without demand
    lam[~active] = (cost[~active] + slope * loads).min(axis=1)
    flow_error = np.zeros(n)
    flow_error[active] = user_err
    return ActiveSetResult(flows, lam, loads, support_full, iters, fallback, flow_error, path)


def _pdas(
    ct: np.ndarray,
    capa: np.ndarray,
    d: np.ndarray,
    s: np.ndarray,
    max_iter: int,
    system: str,
    monotone: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, bool, SupportKKT | None]:
    """Primal-dual active-set iteration; hands over to the monotone method on a cycle.

    With ``monotone=False`` a cycle or a spent budget returns the current support and the last
    solve's multipliers and loads instead (flagged as a fallback), for the accurate refinement.
    The last item is the factorised system of the returned support (None on that early return).
    ``s`` (a fresh array of the caller's) is overwritten: it serves as one of the buffers.
    """
    n, m = ct.shape
    users = use_users_system((n, m), system)
    size = n if users else m
    # below the pair assembly's threshold the users' matrix is built inline (the same products)
    inline = users and size < _PAIRS_MIN_SIZE
    inv_capa = 1.0 / capa
    ones_n = ones(n)
    a = np.empty((n, m))
    ac = np.empty((n, m))
    gap = np.empty((n, m))
    new = np.empty((n, m), bool)
    keep = np.empty((n, m), bool)
    weight = np.empty(m)
    if inline:  # the users' matrix: symmetric, so its transpose, the column order LAPACK
        # factorises in place, is the same matrix (``np.dot`` writes only C order, with less
        # overhead than ``np.matmul``)
        mat = np.empty((n, n))
        mat_f = mat.T
        mat_diag = mat.reshape(-1)[:: n + 1]  # a view of its diagonal
        aw = np.empty((n, m))
    count = int(np.count_nonzero(s))
    seen: set[bytes] = set()
    lam = loads = None
    it = 0
    a[...] = s  # 0/1 floats (an assignment costs half of np.copyto)
    rowk = a.dot(capa)
    for it in range(1, max_iter + 1):
        np.multiply(a, ct, out=ac)
        nj = ones_n.dot(a)
        col = ones_n.dot(ac)
        row = ac.dot(capa)
        row += d
        if inline:  # kkt.system_weights, kkt_matrix, factor and solve_factored, unrolled
            np.add(nj, 1.0, out=weight)
            np.divide(capa, weight, out=weight)
            # diag(kappa) - A diag(w) A^T (the negation is exact: the same matrix as kkt_matrix)
            np.dot(np.multiply(a, weight, out=aw), a.T, out=mat)
            np.negative(mat, out=mat)
            mat_diag += rowk
            chol, info = dpotrf(mat_f, lower=1, clean=0, overwrite_a=1)
            if info != 0:
                raise LinAlgError(
                    f"the fixed-support KKT matrix is not positive definite (info={info})"
                )
            rhs = a.dot(weight * col)
            np.subtract(row, rhs, out=rhs)
            lam, _ = dpotrs(chol, rhs, lower=1)
            loads = a.T.dot(lam)
            loads -= col
            loads *= weight
        else:
            weight, diag = system_weights(capa, nj, rowk, users)
            chol = factor(kkt_matrix(a, weight, diag, users, s, count), overwrite=True)
            lam, loads = solve_factored(chol, a, weight, users, row, col)
        # the gap: -x / K on the support, the reduced cost off it
        np.add(ct, loads * inv_capa, out=gap)
        gap -= lam[:, None]
        np.less_equal(gap, 0.0, out=keep)  # used routes whose flow is not negative ...
        keep &= s
        np.less(gap, -_EPS_GAP, out=new)  # ... and the unused routes that are cheaper
        new |= keep
        kept = np.count_nonzero(keep)
        total = np.count_nonzero(new)
        if kept == count and total == count:  # nothing dropped, nothing added
            x = support_flows(a, ct, capa, lam, loads)
            x, lam, loads = _refine(chol, a, capa, weight, users, d, x, lam, loads)
            kkt = SupportKKT.from_factor(capa, a, nj, rowk, users, weight, chol)
            return x, lam, loads, s, it, False, kkt
        # the next support's statistics; kappa_i = 0 marks a user left without routes
        a[...] = new
        rowk = a.dot(capa)
        if kept < count and np.count_nonzero(rowk) < n:  # kappa_i >= 0: some kappa_i = 0
            # round-off dropped every route of a user (huge capacities): keep its cheapest
            empty = np.flatnonzero(~new.any(axis=1))
            new[empty, np.argmin(gap[empty], axis=1)] = True
            total = np.count_nonzero(new)
            a[...] = new
            rowk = a.dot(capa)
        s, new = new, s
        count = total
        if it >= _CYCLE_WATCH:  # cycles are rare: watch for them after a few iterations
            key = np.packbits(s).tobytes()
            if key in seen:
                break
            seen.add(key)
    # a cycle, or the budget is spent: monotone primal active set from a feasible point
    if not monotone:
        if lam is None:
            return np.zeros_like(ct), np.zeros(n), np.zeros(m), s, it, True, None
        return np.zeros_like(ct), lam, loads, s, it, True, None
    if lam is None:
        x0 = np.zeros_like(ct)
    else:  # the last solve's flows (``new`` now holds its support), kept on the new support
        x0 = np.where(s & new, np.maximum(-capa * gap, 0.0), 0.0)
    rows = x0.sum(axis=1)
    bad = rows <= 0
    if bad.any():
        x0[bad] = 0.0
        x0[bad, np.argmin(ct[bad], axis=1)] = 1.0
        rows = x0.sum(axis=1)
    x0 *= (d / rows)[:, None]
    x, lam, loads, s, extra, kkt = _primal_active_set(ct, capa, d, x0, system)
    return x, lam, loads, s, it + extra, True, kkt


def _refine(
    chol: np.ndarray,
    a: np.ndarray,
    capa: np.ndarray,
    weight: np.ndarray,
    users: bool,
    d: np.ndarray,
    x: np.ndarray,
    lam: np.ndarray,
    loads: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of iterative refinement of the demand constraints, with the support's factor.

    ``f_ij = K_j (lambda_i - c_ij) - F_j`` cancels badly when a capacity is huge (congestion
    negligible), which leaves row sums off by ``K * eps``. The correction solves the same
    fixed-support system with the demand residual as right-hand side and zero costs, which moves
    every marginal cost of a user by the same amount and so keeps stationarity.
    """
    resid = d - np.add.reduce(x, 1)
    if float(_max(np.abs(resid))) > 1e-13 * float(_max(d)):
        dlam, dloads = solve_factored(chol, a, weight, users, resid, np.zeros(a.shape[1]))
        dx = np.multiply.outer(dlam, capa)
        dx -= dloads
        dx *= a
        x += dx
        lam = lam + dlam
        loads = loads + dloads
    np.maximum(x, 0.0, out=x)
    return x, lam, loads


def _primal_active_set(
    ct: np.ndarray,
    capa: np.ndarray,
    d: np.ndarray,
    x: np.ndarray,
    system: str,
    max_iter: int = 100000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, SupportKKT]:
    """Monotone primal active-set method (Nocedal & Wright, Alg. 16.3) from a feasible ``x``.

    Each step moves towards the minimiser on the working support and stops at the first route
    whose flow reaches zero, so the potential never increases; routes with negative reduced cost
    are added (all at once, or the single most negative one when a batch makes no progress).
    """
    inv_capa = 1.0 / capa
    w = x > 0
    single = False
    for it in range(1, max_iter + 1):
        lam, loads, xs = solve_support(ct, capa, d, w, system)
        neg = w & (xs < 0)
        if neg.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(neg, x / (x - xs), np.inf)
            t = float(ratio.min())
            x = np.where(w, x + t * (xs - x), 0.0)
            hit = neg & (ratio <= t)
            x[hit] = 0.0
            if t == 0.0:
                single = True
            w = w & ~hit
            empty = ~w.any(axis=1)
            if empty.any():  # round-off emptied a user's routes: keep its largest target flow
                rows = np.flatnonzero(empty)
                best = np.argmax(xs[rows], axis=1)
                w[rows, best] = True
                x[rows, best] = d[rows]
            continue
        mu = ct + (loads * inv_capa)[None, :] - lam[:, None]
        eps = _EPS * max(1.0, float(np.abs(lam).max()))
        add = ~w & (mu < -eps)
        if not add.any():
            kkt = SupportKKT(capa, w, system)
            chol, a, weight, users = kkt.chol, kkt.a, kkt.weight, kkt.users
            xs, lam, loads = _refine(chol, a, capa, weight, users, d, xs, lam, loads)
            return xs, lam, loads, w, it, kkt
        if single:
            k = np.unravel_index(np.argmin(np.where(add, mu, np.inf)), mu.shape)
            add = np.zeros_like(add)
            add[k] = True
            single = False
        w = w | add
    raise EquilibriumError(f"primal active-set method did not terminate in {max_iter} iterations")
