"""The exact price path's linear algebra: the KKT system of the current support and its ratio test.

:class:`PathSystem` holds the fixed-support system of :mod:`prillm.equilibrium.kkt` for the
current piece of the path (its matrix kept up to date by :class:`~prillm.equilibrium.KKTMatrix`
from the positions that changed), solves it at a price together with its price derivative (two
right-hand sides, one factor), and runs the ratio test and the end checks over preallocated
``n x m`` buffers. :class:`NearRoutes` runs the same over the routes near their boundary only,
with a bound that proves nothing happens outside them (see :mod:`prillm.pricing.exact`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg.lapack import dpotrs

from prillm.equilibrium import KKTMatrix
from prillm.equilibrium.kkt import factor, kkt_matrix, system_weights
from prillm.pricing.affine import AffineSupport
from prillm.pricing.problem import PricingProblem

__all__ = [
    "EMPTY",
    "FRESH_MATRIX_MAX",
    "TOL",
    "ZERO_SLOPE",
    "NearRoutes",
    "PathSystem",
    "zero_tolerance",
]

#: A route is degenerate when its gap is at most ``TOL min(1, D_i / K_j)`` (see
#: :func:`zero_tolerance`): a flow of at most ``TOL min(D_i, K_j)``, a reduced cost of at most
#: ``TOL min(1, D_i / K_j)``.
TOL = 1e-10
#: A slope of the gap counts as zero below this fraction of the largest slope term.
ZERO_SLOPE = 1e-11
EMPTY = np.zeros(0, dtype=np.intp)
#: The KKT matrix is rebuilt for each piece while ``n m min(n, m)`` is at most this (measured,
#: BLAS on one thread: a rebuild is 7-10 % faster at 50 x 50, on a par at 70 x 70, and the
#: updates by changed lines win from 100 x 100 on).
FRESH_MATRIX_MAX = 250_000
#: The end checks of a piece resolve a violation down to about ``RESOLUTION_FACTOR eps
#: sqrt(n + m) max K_j`` (scaled units; ``K_j`` over the providers in use): a flow is
#: ``x_ij = -K_j g_ij``, its gap ``g_ij = c0_ij + u_j - lambda_i`` a difference of terms that
#: add up to at most 6 (``|c| <= 1``, ``lambda in [-1, 3]``, ``u_j <= 2``, by
#: :func:`~prillm.equilibrium.problem_scales`), each rounded, and the loads are recovered by
#: sums over the ``n + m`` lines (rounding errors add like ``sqrt(n + m)``). A piece whose
#: resolution exceeds the certification tolerance is not certified by its checks, however
#: small the violation they compute (at capacities of 1e12 x the demand a piece that checked out
#: to 3e-11 carried a load off by 4e-4 of the demand).
RESOLUTION_FACTOR = 48.0
#: Up to this many positions, :meth:`PathSystem.assign` assigns scalars (cheaper than indexing).
_FEW = 8


def zero_tolerance(
    support: np.ndarray,
    demand: np.ndarray,
    capa: np.ndarray,
    rows: np.ndarray | None = None,
    cols: np.ndarray | None = None,
) -> np.ndarray:
    """The zero tolerance of each route's distance to its boundary (flow on the support,
    reduced cost off it), the same in gap units for both: ``|g_ij| <= TOL min(1, D_i / K_j)``.

    A degenerate route may change sides at a breakpoint: a used route leaves with flow ``x``
    and gets the reduced cost ``-x / K_j``; an unused one enters with reduced cost ``mu`` and
    gets the flow ``-K_j mu``. The tolerance bounds both: whichever side the route ends on,
    its flow is off by at most ``TOL D_i`` and its reduced cost by at most ``TOL``, both below
    the path's certification tolerance. (A reduced-cost tolerance of ``TOL`` alone let a route
    enter with a flow of ``-K_j TOL``, and scaled capacities ``K_j`` are often 20-500.)

    ``support``, ``rows``, ``cols``: boolean ``(n, m)`` (or flat entries at ``rows, cols``).
    """
    if rows is None or cols is None:
        d, k = demand[:, None], capa[None, :]
    else:
        d, k = demand[rows], capa[cols]
    gap = TOL * np.minimum(1.0, d / k)
    return np.where(support, k * gap, gap)


def _potrs(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``M^{-1}`` applied to each row of the C-ordered ``(k, size)`` array ``rhs`` (overwritten),
    from the Cholesky factor of :func:`~prillm.equilibrium.kkt.factor`: LAPACK reads the
    transpose as a Fortran-ordered ``(size, k)`` array, so nothing is copied."""
    sol, info = dpotrs(chol, rhs.T, lower=1, overwrite_b=1)
    if info != 0:
        raise ValueError(f"dpotrs: illegal argument {-info}")
    return sol.T


class PathSystem:
    """The KKT system (Eq. 14-17) of the current support and the buffers of the ratio test.

    Parameters
    ----------
    prob
        The scaled problem.
    support
        The starting support, boolean ``(n, m)`` (copied).
    fine
        A resolution that needs no refinement: when the coarsest resolution of the checks over
        any support (:data:`RESOLUTION_FACTOR`) is at most this, ``resolution`` keeps it.

    Notes
    -----
    After :meth:`solve` the attributes ``lam``, ``loads``, ``dlam``, ``dloads`` hold the
    multipliers and loads at the price and their slopes (scaled units), ``u`` and ``du`` the
    column terms of the gap ``g_ij = c0_ij + u_j - lam_i`` and its slope, and ``residual`` /
    ``dresidual`` the primal residuals (rows: flows minus demand; columns: loads minus the
    flows' sums) and their slopes, ``resolution`` what the end checks can resolve on the
    support (:data:`RESOLUTION_FACTOR`). After :meth:`gaps` the buffers ``gap``, ``dgap`` and
    ``dist`` hold ``g``, ``dg`` and the signed distance to the boundary (the flow ``x`` on the
    support, the reduced cost ``mu`` off it).
    """

    def __init__(self, prob: PricingProblem, support: np.ndarray, fine: float = 0.0) -> None:
        n, m = prob.shape
        self.prob = prob
        self.shape = (n, m)
        self.capa = prob.capa
        self.demand = prob.demand
        self.cost0 = np.ascontiguousarray(prob.cost0, dtype=float)
        self.support = np.array(support, dtype=bool, order="C")
        self.af = self.support.astype(float)  # the 0/1 support
        self.ac = self.af * self.cost0  # a_ij c0_ij
        self.wx = np.where(self.support, -self.capa, 1.0)  # distance = wx * gap
        self.sgn = np.where(self.support, -1.0, 1.0)  # candidate: sgn * dgap < -tol
        # per position, for :meth:`assign`: -K_j and the tolerances on and off the support
        # (those of :func:`zero_tolerance`)
        self._neg_capa = np.broadcast_to(-self.capa, (n, m)).reshape(-1).copy()
        self._tol_on = zero_tolerance(np.ones((n, m), bool), self.demand, self.capa).reshape(-1)
        self._tol_off = zero_tolerance(np.zeros((n, m), bool), self.demand, self.capa).ravel()
        self.tolx = np.where(self.support.reshape(-1), self._tol_on, self._tol_off).reshape(n, m)
        # flat views for assignments by position
        self._flat = {
            name: getattr(self, name).reshape(-1)
            for name in ("support", "af", "ac", "wx", "sgn", "tolx", "cost0")
        }
        # rebuilt for every piece while that is cheap (the dense product costs n m min(n, m)),
        # else updated by the changed lines
        fresh = n * m * min(n, m) <= FRESH_MATRIX_MAX
        self.kkt = KKTMatrix(prob.capa, prob.shape, min_size=n * m + 1 if fresh else 2500)
        self._changed: list[np.ndarray] = []
        self._ones = np.ones(n)
        self.gap = np.empty((n, m))
        self.dgap = np.empty((n, m))
        self.dist = np.empty((n, m))
        self.ratio = np.empty((n, m))
        self.mask = np.empty((n, m), dtype=bool)
        self._flag = np.zeros(n * m, dtype=bool)  # scratch for :meth:`marked`, kept all False
        self.lam = self.dlam = self.loads = self.dloads = self.u = self.du = np.zeros(0)
        self.residual = self.dresidual = np.zeros(0)
        self._res0 = self._res1 = 0.0
        self.tol_g = 0.0
        self._res_factor = RESOLUTION_FACTOR * np.finfo(float).eps * math.sqrt(n + m)
        # the coarsest resolution over any support; when even that is below ``fine``, it
        # stands for every support (no need to find the providers in use at each piece)
        self.resolution = self._res_factor * float(self.capa.max())
        self._res_per_support = self.resolution > fine
        # the largest zero tolerance of a distance in gap units (x / K on the support, mu off it)
        self.tol_gap = TOL

    def marked(self, idx: np.ndarray, marks: np.ndarray) -> np.ndarray:
        """Whether each flat position of ``idx`` is among ``marks`` (a boolean per entry)."""
        flag = self._flag
        flag[marks] = True
        out = flag[idx]
        flag[marks] = False
        return out

    def in_support(self, idx: np.ndarray) -> np.ndarray:
        """Whether the routes at flat positions ``idx`` are in the support (a copy)."""
        return self._flat["support"][idx]

    def assign(self, idx: np.ndarray, on: np.ndarray) -> None:
        """Put the routes at flat positions ``idx`` in (``on``) or out of the support."""
        if idx.size == 0:
            return
        flat = self._flat
        if idx.size <= _FEW:  # a handful of routes (the usual breakpoint): scalar assignments
            sup, af, ac, wx, sgn, tolx = (
                flat[k] for k in ("support", "af", "ac", "wx", "sgn", "tolx")
            )
            c0, neg_k, tol_on, tol_off = flat["cost0"], self._neg_capa, self._tol_on, self._tol_off
            for k, o in zip(idx.tolist(), on.tolist(), strict=True):
                sup[k] = o
                if o:
                    af[k], ac[k], wx[k], sgn[k], tolx[k] = 1.0, c0[k], neg_k[k], -1.0, tol_on[k]
                else:
                    af[k], ac[k], wx[k], sgn[k], tolx[k] = 0.0, 0.0, 1.0, 1.0, tol_off[k]
            self._changed.append(idx)
            return
        rows, cols = np.divmod(idx, self.shape[1])
        onf = on.astype(float)
        flat["support"][idx] = on
        flat["af"][idx] = onf
        flat["ac"][idx] = onf * flat["cost0"][idx]
        flat["wx"][idx] = np.where(on, -self.capa[cols], 1.0)
        flat["sgn"][idx] = 1.0 - 2.0 * onf
        flat["tolx"][idx] = zero_tolerance(on, self.demand, self.capa, rows, cols)
        self._changed.append(idx)

    def solve(self, p: float) -> None:
        """Solve the KKT system at price ``p`` and its price derivative (one Cholesky factor).

        The kernel's system (:mod:`prillm.equilibrium.kkt`) with two right-hand sides: the
        equilibrium at ``p`` (costs ``c(p)``, demand ``D``) and its derivative (costs
        ``dc/dp``, non-zero on column ``s`` only, zero demand).
        """
        prob = self.prob
        n, m = self.shape
        s, dcol, capa = prob.s, prob.dcol, self.capa
        af, ac, ones = self.af, self.ac, self._ones
        kkt = self.kkt
        users = kkt.users
        nj = ones @ af  # users of each provider
        rowk = af @ capa  # kappa_i
        weight, diag = system_weights(capa, nj, rowk, users)
        if kkt.disposable:  # small markets: a fresh matrix, factorised in place
            self._changed.clear()
            chol = factor(kkt_matrix(af, weight, diag, users), overwrite=True)
        else:  # the matrix updated at the positions that changed
            changed = np.concatenate(self._changed) if self._changed else EMPTY
            self._changed.clear()
            chol = factor(kkt.matrix(self.support, changed))
        # the row terms r = D + (a c(p)) K and the column terms q = 1^T (a c(p)), value and
        # slope in p, as rows of (2, n) and (2, m) arrays (c(p) moves on column s only)
        row = np.empty((2, n))
        np.multiply(af[:, s], dcol * capa[s], out=row[1])
        np.matmul(ac, capa, out=row[0])
        row[0] += self.demand
        row[0] += p * row[1]
        col = np.zeros((2, m))
        np.matmul(ones, ac, out=col[0])
        ns = float(nj[s])
        col[0, s] += dcol * p * ns
        col[1, s] = dcol * ns
        # the kernel's recovery (:func:`~prillm.equilibrium.kkt.solve_factored`) on the
        # transposed layout: both right-hand sides in one LAPACK call, no copies; then the
        # primal residual, value and slope, of the equations the recovery does not satisfy by
        # construction: the demands sum_j x_ij = D_i in the users' system (the loads computed
        # from the multipliers), the loads F_j = sum_i x_ij in the providers'
        if users:
            rhs = (col * weight) @ af.T
            np.subtract(row, rhs, out=rhs)
            lam_t = _potrs(chol, rhs)
            loads_t = lam_t @ af
            loads_t -= col
            loads_t *= weight
            res = lam_t * rowk
            res -= loads_t @ af.T
            res -= row
        else:
            rhs = (row * weight) @ af
            rhs -= col
            loads_t = _potrs(chol, rhs)
            lam_t = loads_t @ af.T
            lam_t += row
            lam_t *= weight
            res = lam_t @ af
            res -= col
            res *= capa
            np.subtract(loads_t * (1.0 + nj), res, out=res)
        self.residual, self.dresidual = res
        top = np.abs(res).max(axis=1)  # for :meth:`residual_at`
        self._res0, self._res1 = float(top[0]), float(top[1])
        self.lam, self.dlam = lam_t
        self.loads, self.dloads = loads_t
        self.u, self.du = u_t = loads_t / capa
        u_t[0, s] += dcol * p
        u_t[1, s] += dcol
        # what the end checks can resolve on this support (see :data:`RESOLUTION_FACTOR`)
        if self._res_per_support:
            self.resolution = self._res_factor * float(capa.max(initial=0.0, where=nj > 0))
        self.tol_g = ZERO_SLOPE * max(
            float(np.abs(self.du).max()), float(np.abs(self.dlam).max()), abs(dcol)
        )

    def gaps(self) -> float:
        """Fill ``gap``, ``dgap`` and ``dist``; return the KKT violation at the piece's start."""
        g = np.subtract(self.cost0, self.lam[:, None], out=self.gap)
        g += self.u
        np.subtract(self.du, self.dlam[:, None], out=self.dgap)
        np.multiply(g, self.wx, out=self.dist)
        return max(-float(self.dist.min()), self._res0, 0.0)

    def ratio_test(self) -> float:
        """Smallest hitting time ``-g / dg`` over the candidates (``inf`` if none).

        Leaves ``ratio`` holding ``g / dg`` (minus the hitting time) on the candidates and
        ``-inf`` elsewhere, for :meth:`hits`. Divisions by a zero slope happen off the
        candidates only; the caller silences their warnings (``np.errstate``).
        """
        ratio, other = self.ratio, self.mask
        np.multiply(self.dgap, self.sgn, out=ratio)
        np.greater_equal(ratio, -self.tol_g, out=other)  # not a candidate
        np.divide(self.gap, self.dgap, out=ratio)
        np.putmask(ratio, other, -np.inf)  # a plain mask: ufuncs with where= are slower here
        return -float(ratio.max())

    def hits(self, t: float) -> np.ndarray:
        """Flat positions of the candidates whose hitting time is at most ``t`` (after
        :meth:`ratio_test`)."""
        return np.flatnonzero(self.ratio.reshape(-1) >= -t)

    def residual_at(self, step: float) -> float:
        """A bound on the largest primal residual at ``step >= 0`` past the piece's start:
        ``max |r0| + step max |dr|`` (at least ``max |r0 + step dr|``; two maxima per piece
        instead of a pass per end)."""
        return self._res0 + step * self._res1

    def end(self, step: float) -> float:
        """Distances at ``step`` past the piece's start (into ``gap``); the KKT violation there."""
        e = np.multiply(self.dgap, self.wx, out=self.gap)
        e *= step
        e += self.dist
        return max(-float(e.min()), self.residual_at(step), 0.0)

    def end_degenerate(self, hit: np.ndarray) -> np.ndarray:
        """Degenerate routes at the piece's end (after :meth:`end`); ``hit`` are exactly zero."""
        return self.degenerate(self.gap, hit)

    def degenerate(self, source: np.ndarray, zero: np.ndarray = EMPTY) -> np.ndarray:
        """Flat positions whose distance in ``source`` is within the zero tolerance, with ``zero``
        (routes set to exactly zero)."""
        deg = np.less_equal(source, self.tolx, out=self.mask).reshape(-1)
        deg[zero] = True
        return np.flatnonzero(deg)

    def affine(self, p0: float) -> AffineSupport:
        """The current piece as full arrays (the form of :func:`affine_support`)."""
        self.gaps()
        on = self.support
        x = np.where(on, self.dist, 0.0)
        mu = np.where(on, 0.0, self.gap)
        dx = np.where(on, self.dgap * self.wx, 0.0)
        dmu = np.where(on, 0.0, self.dgap)
        return AffineSupport(
            p0,
            on.copy(),
            x,
            self.lam,
            self.loads,
            mu,
            dx,
            self.dlam,
            self.dloads,
            dmu,
        )


class NearRoutes:
    """The routes near their boundary: a ratio test over a few positions, certified by a bound.

    Built from the gaps at a piece's start: ``gs = sgn * g`` is each route's distance to its
    boundary in gap units (``x / K`` on the support, ``mu`` off it). The set keeps the routes
    with ``gs <= h``, ``h`` about the ``count``-th smallest distance (from a strided sample).
    Since ``g_ij = c0_ij + u_j - lam_i``, a route outside the set still has
    ``gs >= h - max_j |u_j - u_j^0| - max_i |lam_i - lam_i^0|`` (superscript 0: at the build),
    and the bound is convex in the price along a piece, so checking it at both ends of a piece
    proves that no route outside the set hits its boundary, is infeasible or is degenerate on
    that piece: the ratio test, the end checks and the classification then need the set only.
    Support changes happen at degenerate routes, all inside the set, so the routes outside it
    keep their sign.
    """

    def __init__(self, system: PathSystem, count: int) -> None:
        gs = np.multiply(system.gap, system.sgn, out=system.ratio).reshape(-1)
        stride = max(1, gs.size // 2048)
        sample = gs[::stride]
        k = min(sample.size - 1, max(1, count * sample.size // gs.size))
        h = float(np.partition(sample, k)[k])
        self.pos = np.flatnonzero(gs <= h)
        self.rows, self.cols = np.divmod(self.pos, system.shape[1])
        self.c0 = system._flat["cost0"][self.pos]
        self.lam0 = system.lam.copy()
        self.u0 = system.u.copy()
        # keep clear of the zero tolerances (in gap units) and of round-off in the gaps
        self.h_safe = h - 2.0 * system.tol_gap - 1e-12
        self.used = 0
        self.g = self.dg = self.wx = self.sgn = self.dist = self.ratio = self.e = np.zeros(0)
        self.hit_local = EMPTY

    def valid(self, system: PathSystem, step: float) -> bool:
        """Whether the bound vouches for the routes outside the set at ``step`` past the start."""
        du = np.abs(system.u + step * system.du - self.u0).max()
        dlam = np.abs(system.lam + step * system.dlam - self.lam0).max()
        return float(du + dlam) < self.h_safe

    def gaps(self, system: PathSystem) -> float:
        """Gaps, slopes and distances of the set; the KKT violation at the piece's start."""
        flat = system._flat
        g = self.c0 - system.lam[self.rows]  # the same operations as the full gaps, bit for bit
        g += system.u[self.cols]
        self.g = g
        self.dg = system.du[self.cols] - system.dlam[self.rows]
        self.wx = flat["wx"][self.pos]
        self.sgn = flat["sgn"][self.pos]
        self.dist = self.wx * g
        return max(-float(self.dist.min()), system.residual_at(0.0), 0.0)

    def ratio_test(self, tol: float) -> float:
        """As :meth:`PathSystem.ratio_test`, over the set."""
        ratio = self.g / self.dg
        ratio[self.dg * self.sgn >= -tol] = -np.inf
        self.ratio = ratio
        return -float(ratio.max())

    def hits(self, t: float) -> np.ndarray:
        """As :meth:`PathSystem.hits`, over the set."""
        self.hit_local = np.flatnonzero(self.ratio >= -t)
        return self.pos[self.hit_local]

    def end(self, system: PathSystem, step: float) -> float:
        """As :meth:`PathSystem.end`, over the set."""
        e = self.wx * self.dg
        e *= step
        e += self.dist
        self.e = e
        return max(-float(e.min()), system.residual_at(step), 0.0)

    def end_degenerate(self, system: PathSystem) -> np.ndarray:
        """As :meth:`PathSystem.end_degenerate`, over the set (after :meth:`hits`)."""
        deg = self.e <= system._flat["tolx"][self.pos]
        deg[self.hit_local] = True
        return self.pos[deg]
