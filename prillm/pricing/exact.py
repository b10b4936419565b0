"""Exact pricing by following the equilibrium's piecewise-affine path in the target's price.

Problem 1 (Eq. 2) asks for ``max_p (p - c_s) F_s(p)`` over ``[p_min, p_max]``, where ``F_s(p)``
is the target's load in the user-side equilibrium (Eq. 13). Only column ``s`` of the fixed cost
``c_ij = w_p p_j + w_d d_ij - b_j`` moves with ``p``; the equilibrium is the solution of a
strictly convex QP whose linear term is affine in ``p``. For a fixed support the KKT system
(Eq. 14-17) is linear, so flows, loads and multipliers are affine in ``p`` on each piece of
``[p_min, p_max]`` on which the support is constant, and the profit is a quadratic there.

The path
--------
1. Solve the equilibrium at ``p_min`` exactly (active set).
2. At the current price, with the values of the current support, classify every route:
   *strictly used* (flow > 0), *strictly unused* (reduced cost
   ``mu_ij = c_ij + k_j F_j - lambda_i > 0``) or *degenerate* (both zero).
3. Choose the support of the next piece from the directional derivative of the parametric QP:
   the derivative ``(dx, dlambda)`` minimises the same kind of QP with costs ``dc/dp`` (non-zero
   only on column ``s``), zero demand, ``dx`` free on strictly used routes, ``dx >= 0`` on
   degenerate ones and ``dx = 0`` on strictly unused ones (the critical cone). That small QP is
   solved by the same active-set idea over the degenerate routes only. Ties (identical users or
   providers), several simultaneous events and routes that would enter and leave at once are
   therefore resolved exactly, without nudging the price.
4. One Cholesky factor gives the values at the breakpoint and the slope; a ratio test gives the
   next event: a used route whose flow reaches 0 or an unused route whose reduced cost reaches
   0. The event is applied exactly at its breakpoint (the hit routes are set to exactly zero).
5. On each piece the profit is a quadratic, maximised in closed form; the best over all pieces is
   the global optimum of Problem 1.

Every piece is checked at both ends (flows >= 0 on the support, reduced costs >= 0 off it,
demand met by the flows, loads equal to the flows' column sums); the largest violation is
reported as the certificate together with the list of breakpoints (price, routes entering,
routes leaving).

Cost of a piece
---------------
Each piece costs one factorisation of the ``min(n, m)`` KKT matrix and a fixed, small number of
passes over ``n x m`` arrays (or over the few routes near their boundary); the implementation is
organised around keeping both low.

* **One gap array.** With ``u_j = F_j / K_j`` (plus ``w_p p`` on column ``s``), the reduced cost
  of every route is the *gap* ``g_ij = c0_ij + u_j - lambda_i``: the flow of a used route is
  ``x_ij = -K_j g_ij`` and the reduced cost of an unused one is ``mu_ij = g_ij``. Its slope
  ``dg_ij = du_j - dlambda_i`` is an outer difference of two vectors. The linear solve returns
  vectors only (``lambda``, ``F`` and their slopes); the ratio test, both end checks and the
  classification of the next breakpoint read ``g`` and ``dg`` through per-route arrays
  (``-K_j`` or ``1``, the sign ``-1`` or ``+1``, the zero tolerance) that change only where the
  support does, so a piece makes about eighteen in-place passes over preallocated ``n x m``
  buffers and allocates no ``n x m`` temporary (at 200 x 100 a fresh 160 kB array costs more
  than the arithmetic on it).
* **Ratio test in one pass.** The hitting time of every route is ``-g_ij / dg_ij``; a route is a
  candidate when its gap moves towards zero: ``dg_ij > tol`` on the support (the flow
  decreases), ``dg_ij < -tol`` off it (the reduced cost decreases). Multiplying ``dg`` by the
  route's sign turns both cases into one comparison; a full division, a plain mask
  (``np.putmask``: ufuncs with ``where=`` were two to three times slower here) and one maximum
  give the next event.
* **Only the routes near their boundary** (markets of 2500 routes or more). Most routes never
  come near an event. At a piece computed on the full arrays, the routes whose distance to
  their boundary (in gap units) is below ``h``, about the ``max(4 (n + m), n m / 16)``-th
  smallest, form the *near set*; ``h`` comes from a strided sample, not a full sort. Because
  ``g_ij - g_ij^0 = (u_j - u_j^0) - (lambda_i - lambda_i^0)`` exactly, every route outside the
  set keeps a distance of at least ``h - max_j |u_j - u_j^0| - max_i |lambda_i - lambda_i^0|``
  (a convex function of the price, checked at both ends of each piece): while that is above the
  zero tolerances, the ratio test, both end checks and the classification run over the near
  set only, which is a proof, not a heuristic, that nothing outside it happens on the piece.
  When the bound no longer holds, the piece is redone on the full arrays and the set rebuilt
  (twice as large if the last one did not last a single piece). The near set runs the same
  floating-point operations on the same routes, so both give the same path bit for bit; at
  200 x 100 about nine pieces in ten use it.
* **Support bookkeeping by position.** A breakpoint changes the support only at its degenerate
  routes, a handful of flat positions. The 0/1 support, the masked costs ``a_ij c0_ij`` and the
  per-route arrays are assigned at those positions (exact, nothing accumulates); the row and
  column sums the right-hand sides need are recomputed from them by four BLAS matrix-vector
  products per piece; the KKT matrix is updated in place by BLAS rank-one terms (``dger``) over
  the changed rows (or columns) only (:class:`~prillm.pricing.affine.SupportMatrix`, told which
  positions changed, and rebuilt from scratch every 32 updates). The critical-cone QP of step 3
  likewise reads the slopes at the degenerate positions only.
* **A fresh factorisation per piece.** Rank-one Cholesky up- and downdates would save the
  ``O(min(n, m)^3)`` factorisation, but each one is a sequential loop over the columns, which
  in Python costs more than LAPACK's factorisation at these sizes (``dpotrf`` on a 100 x 100
  matrix takes tens of microseconds); the factorisation is not the bottleneck of a piece.

Zero tests are relative: a slope ``dg`` counts as zero below ``1e-11`` times the largest slope
term ``max(|du|, |dlambda|, w_p)``; a route is degenerate at a breakpoint when its flow is at most
``1e-10 D_i`` or its reduced cost at most ``1e-10`` (scaled units).

References
----------
Eq. (2) Problem 1; Eq. (12)-(17) the user-side equilibrium and its KKT conditions.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from prillm.pricing.affine import AffineSupport, SupportMatrix, spd_solve
from prillm.pricing.problem import PricingProblem, blas_single_thread, maximise_quadratic_piece

__all__ = ["price_path", "solve"]

#: A route is degenerate when its flow is at most ``_TOL D_i`` or its reduced cost at most ``_TOL``.
_TOL = 1e-10
#: A slope of the gap counts as zero below this fraction of the largest slope term.
_ZERO_SLOPE = 1e-11
#: Degenerate routes beyond which the critical-cone QP is not enumerated.
_MAX_ENUMERATION = 16
_EMPTY = np.zeros(0, dtype=np.intp)
#: Markets with at least this many routes run the ratio test over the routes near zero.
_NEAR_MIN_SIZE = 2500


class PathError(RuntimeError):
    """The price path could not be followed (a degenerate case beyond the enumeration limit)."""


class _SupportSystem:
    """The KKT system (Eq. 14-17) of the current support and the buffers of the ratio test.

    Parameters
    ----------
    prob
        The scaled problem.
    support
        The starting support, boolean ``(n, m)`` (copied).

    Notes
    -----
    After :meth:`solve` the attributes ``lam``, ``loads``, ``dlam``, ``dloads`` hold the
    multipliers and loads at the price and their slopes (scaled units), ``u`` and ``du`` the
    column terms of the gap ``g_ij = c0_ij + u_j - lam_i`` and its slope, and ``residual`` /
    ``dresidual`` the primal residuals (rows: flows minus demand; columns: loads minus the
    flows' sums) and their slopes. After :meth:`gaps` the buffers ``gap``, ``dgap`` and
    ``dist`` hold ``g``, ``dg`` and the signed distance to the boundary (the flow ``x`` on the
    support, the reduced cost ``mu`` off it).
    """

    def __init__(self, prob: PricingProblem, support: np.ndarray) -> None:
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
        self.tolx = np.where(self.support, _TOL * self.demand[:, None], _TOL)
        # flat views for assignments by position
        self._flat = {
            name: getattr(self, name).reshape(-1)
            for name in ("support", "af", "ac", "wx", "sgn", "tolx", "cost0")
        }
        self.kkt = SupportMatrix(prob)
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
        self.tol_g = 0.0
        # the largest zero tolerance of a distance in gap units (x / K on the support, mu off it)
        self.tol_gap = _TOL * max(1.0, float(self.demand.max()) / float(self.capa.min()))

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
        rows, cols = np.divmod(idx, self.shape[1])
        onf = on.astype(float)
        flat["support"][idx] = on
        flat["af"][idx] = onf
        flat["ac"][idx] = onf * flat["cost0"][idx]
        flat["wx"][idx] = np.where(on, -self.capa[cols], 1.0)
        flat["sgn"][idx] = 1.0 - 2.0 * onf
        flat["tolx"][idx] = np.where(on, _TOL * self.demand[rows], _TOL)
        self._changed.append(idx)

    def solve(self, p: float) -> None:
        """Solve the KKT system at price ``p`` and its price derivative (one Cholesky factor).

        As in :func:`~prillm.pricing.affine.affine_support`, the users' ``n x n`` or the
        providers' ``m x m`` system is used, whichever is smaller; the two right-hand sides are
        the equilibrium at ``p`` and its derivative (costs ``dc/dp``, zero demand).
        """
        prob = self.prob
        n, m = self.shape
        s, dcol, capa = prob.s, prob.dcol, self.capa
        af, ac = self.af, self.ac
        changed = np.concatenate(self._changed) if self._changed else _EMPTY
        self._changed.clear()
        mat = self.kkt.matrix(self.support, changed)
        nj = self._ones @ af  # users of each provider
        rowk = af @ capa  # kappa_i
        a_s = af[:, s] * dcol  # d(a c)/dp, column s only
        colc = np.zeros((m, 2))  # column sums of a c and their slopes
        colc[:, 0] = self._ones @ ac
        colc[s, 0] += dcol * p * nj[s]
        colc[s, 1] = dcol * nj[s]
        rowc = ac @ capa  # row sums of a c K
        rowc += (p * capa[s]) * a_s
        if n <= m:
            w = capa / (1.0 + nj)
            rhs = np.empty((n, 2))
            rhs[:, 0] = self.demand + rowc - af @ (w * colc[:, 0])
            rhs[:, 1] = a_s * w[s]  # = a_s (K_s - w_s n_s) for the derivative (zero demand)
            lam2 = spd_solve(mat, rhs)
            at_lam = af.T @ lam2
            loads2 = w[:, None] * (at_lam - colc)
            a_loads = af @ loads2
        else:
            base = np.empty((n, 2))
            base[:, 0] = self.demand + rowc
            base[:, 1] = a_s * capa[s]
            loads2 = spd_solve(mat, af.T @ (base / rowk[:, None]) - colc)
            a_loads = af @ loads2
            lam2 = (base + a_loads) / rowk[:, None]
            at_lam = af.T @ lam2
        # primal residuals of the flows x_ij = a_ij (K_j (lam_i - c_ij) - F_j), value and slope:
        # rows sum_j x_ij - D_i, columns F_j - sum_i x_ij (zero in exact arithmetic)
        rows = lam2 * rowk[:, None] - a_loads
        rows[:, 0] -= self.demand + rowc
        rows[:, 1] -= a_s * capa[s]
        cols = loads2 * (1.0 + nj)[:, None] - capa[:, None] * (at_lam - colc)
        self.residual = np.concatenate((rows[:, 0], cols[:, 0]))
        self.dresidual = np.concatenate((rows[:, 1], cols[:, 1]))
        self.lam, self.dlam = lam2[:, 0].copy(), lam2[:, 1].copy()
        self.loads, self.dloads = loads2[:, 0].copy(), loads2[:, 1].copy()
        self.u = self.loads / capa
        self.u[s] += dcol * p
        self.du = self.dloads / capa
        self.du[s] += dcol
        self.tol_g = _ZERO_SLOPE * max(
            float(np.abs(self.du).max()), float(np.abs(self.dlam).max()), abs(dcol)
        )

    def gaps(self) -> float:
        """Fill ``gap``, ``dgap`` and ``dist``; return the KKT violation at the piece's start."""
        g = np.subtract(self.cost0, self.lam[:, None], out=self.gap)
        g += self.u
        np.subtract(self.du, self.dlam[:, None], out=self.dgap)
        np.multiply(g, self.wx, out=self.dist)
        return max(-float(self.dist.min()), float(np.abs(self.residual).max()), 0.0)

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
        """Largest primal residual at ``step`` past the piece's start."""
        return float(np.abs(self.residual + step * self.dresidual).max())

    def end(self, step: float) -> float:
        """Distances at ``step`` past the piece's start (into ``gap``); the KKT violation there."""
        e = np.multiply(self.dgap, self.wx, out=self.gap)
        e *= step
        e += self.dist
        return max(-float(e.min()), self.residual_at(step), 0.0)

    def end_degenerate(self, hit: np.ndarray) -> np.ndarray:
        """Degenerate routes at the piece's end (after :meth:`end`); ``hit`` are exactly zero."""
        return self.degenerate(self.gap, hit)

    def degenerate(self, source: np.ndarray, zero: np.ndarray = _EMPTY) -> np.ndarray:
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


class _NearRoutes:
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

    def __init__(self, system: _SupportSystem, count: int) -> None:
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
        self.hit_local = _EMPTY

    def valid(self, system: _SupportSystem, step: float) -> bool:
        """Whether the bound vouches for the routes outside the set at ``step`` past the start."""
        du = np.abs(system.u + step * system.du - self.u0).max()
        dlam = np.abs(system.lam + step * system.dlam - self.lam0).max()
        return float(du + dlam) < self.h_safe

    def gaps(self, system: _SupportSystem) -> float:
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
        """As :meth:`_SupportSystem.ratio_test`, over the set."""
        ratio = self.g / self.dg
        ratio[self.dg * self.sgn >= -tol] = -np.inf
        self.ratio = ratio
        return -float(ratio.max())

    def hits(self, t: float) -> np.ndarray:
        """As :meth:`_SupportSystem.hits`, over the set."""
        self.hit_local = np.flatnonzero(self.ratio >= -t)
        return self.pos[self.hit_local]

    def end(self, system: _SupportSystem, step: float) -> float:
        """As :meth:`_SupportSystem.end`, over the set."""
        e = self.wx * self.dg
        e *= step
        e += self.dist
        self.e = e
        return max(-float(e.min()), system.residual_at(step), 0.0)

    def end_degenerate(self, system: _SupportSystem) -> np.ndarray:
        """As :meth:`_SupportSystem.end_degenerate`, over the set (after :meth:`hits`)."""
        deg = self.e <= system._flat["tolx"][self.pos]
        deg[self.hit_local] = True
        return self.pos[deg]


def _wrong_way(system: _SupportSystem, deg: np.ndarray, inc: np.ndarray) -> tuple[Any, Any]:
    """Routes among ``deg`` to drop (chosen, flow decreasing) and to add (not chosen, reduced
    cost decreasing), by the slopes of the gap at those positions."""
    rows, cols = np.divmod(deg, system.shape[1])
    dg = system.du[cols] - system.dlam[rows]
    return inc & (dg > system.tol_g), ~inc & (dg < -system.tol_g)


def _choose_direction(system: _SupportSystem, p: float, deg: np.ndarray, inc: np.ndarray) -> int:
    """Solve the critical-cone QP over the degenerate routes ``deg`` (flat positions).

    ``inc`` is the first guess of the degenerate routes in the next piece's support (e.g. those
    that just became tight). On return ``system`` holds the next piece's support, solved at
    ``p``: the chosen degenerate routes have ``dx >= 0`` and the others ``dmu >= 0`` (up to the
    zero-slope tolerance). Returns the number of linear solves.
    """
    seen: set[bytes] = {inc.tobytes()}
    system.assign(deg, inc)
    system.solve(p)
    calls = 1
    for _ in range(4 * deg.size + 4):
        drop, add = _wrong_way(system, deg, inc)
        if not drop.any() and not add.any():
            return calls
        inc = (inc & ~drop) | add
        key = inc.tobytes()
        if key in seen:
            break
        seen.add(key)
        system.assign(deg, inc)
        system.solve(p)
        calls += 1
    # rare: cycling among degenerate routes; the QP is strictly convex, so its unique solution
    # is reached by at least one subset -- enumerate (small sets only)
    return calls + _enumerate(system, p, deg)


def _enumerate(system: _SupportSystem, p: float, deg: np.ndarray) -> int:
    """The critical-cone QP by enumeration of the subsets of ``deg`` (at most 16 routes)."""
    if deg.size > _MAX_ENUMERATION:
        raise PathError(f"{deg.size} degenerate routes at price {p!r}: too many to enumerate")
    calls = 0
    for r in range(deg.size + 1):
        for combo in itertools.combinations(range(deg.size), r):
            inc = np.zeros(deg.size, dtype=bool)
            inc[list(combo)] = True
            system.assign(deg, inc)
            system.solve(p)
            calls += 1
            drop, add = _wrong_way(system, deg, inc)
            if not drop.any() and not add.any():
                return calls
    raise PathError(f"no direction support found at price {p!r}")


def _direction_support(
    prob: PricingProblem,
    p: float,
    used: np.ndarray,
    degenerate: np.ndarray,
    guess: np.ndarray | None = None,
) -> tuple[AffineSupport, int]:
    """Support of the next piece: the critical-cone QP solved by active set over ``degenerate``.

    Returns the affine model at ``p`` on ``used | chosen`` and the number of linear solves;
    ``guess`` is a first guess of the chosen degenerate routes. ``used`` and ``degenerate`` are
    boolean ``(n, m)`` arrays as returned by :func:`_classify`.
    """
    deg = np.flatnonzero(degenerate)
    inc = np.zeros(deg.size, bool) if guess is None else guess.reshape(-1)[deg]
    system = _SupportSystem(prob, used & ~degenerate)
    calls = _choose_direction(system, p, deg, inc)
    return system.affine(p), calls


def _enumerate_direction(
    prob: PricingProblem, p: float, used: np.ndarray, degenerate: np.ndarray
) -> tuple[AffineSupport, int]:
    """The critical-cone QP by enumeration of the degenerate subsets (at most 16 routes)."""
    deg = np.flatnonzero(degenerate)
    system = _SupportSystem(prob, used & ~degenerate)
    calls = _enumerate(system, p, deg)
    return system.affine(p), calls


def _classify(
    prob: PricingProblem, support: np.ndarray, x: np.ndarray, mu: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Strictly used and degenerate routes from full flow and reduced-cost arrays."""
    xtol = _TOL * prob.demand[:, None]
    used = support & (x > xtol)
    degenerate = (support & ~used) | (~support & (mu <= _TOL))
    return used, degenerate


def price_path(prob: PricingProblem, max_pieces: int | None = None) -> dict[str, Any]:
    """Follow the equilibrium path over ``[p_min, p_max]``.

    Returns
    -------
    dict
        ``pieces``: list of ``(p_start, p_end, load_start, dload)`` with *real* loads (tokens)
        and slopes (tokens per USD/M); ``breakpoints``: list of dicts (``price``, ``entered``,
        ``left`` as ``(user, provider)`` id pairs); ``best``: ``(price, profit)``;
        ``kkt_max_violation``; ``linear_solves``; ``zero_length_pieces``;
        ``near_set_pieces`` (pieces whose ratio test ran over the near set only).
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # zero slopes off the candidates
        return _follow(prob, max_pieces)


def _next_price(p: float, t: float, p_max: float) -> float:
    """The end of a piece starting at ``p`` whose next event is ``t`` away."""
    p_next = min(p + t, p_max)
    if p_max - p_next <= 1e-13 * max(1.0, abs(p_max)):
        p_next = p_max  # an event within round-off of the end is the end
    return p_next


def _follow(prob: PricingProblem, max_pieces: int | None) -> dict[str, Any]:
    """The body of :func:`price_path`."""
    n, m = prob.shape
    p = prob.p_min
    p_max = prob.p_max
    s = prob.s
    if n == 0:
        best = maximise_quadratic_piece(prob, p, p_max, 0.0, 0.0)
        return {
            "pieces": [(p, p_max, 0.0, 0.0)],
            "breakpoints": [],
            "best": best,
            "kkt_max_violation": 0.0,
            "linear_solves": 0,
            "zero_length_pieces": 0,
            "near_set_pieces": 0,
        }
    max_pieces = max_pieces or 20 * n * m + 100
    users = np.flatnonzero(prob.active)
    uid = prob.market.user_ids
    pid = prob.market.provider_ids
    raw = prob.solve(p)
    system = _SupportSystem(prob, raw.support)  # active rows only (no zero-demand users here)
    system.solve(p)
    solves = 1
    system.gaps()
    deg = system.degenerate(system.dist)
    if deg.size:
        solves += _choose_direction(system, p, deg, np.zeros(deg.size, bool))
    pieces: list[tuple[float, float, float, float]] = []
    events: list[tuple[float, np.ndarray, np.ndarray]] = []
    best_p, best_v = p, -math.inf
    worst = 0.0
    zero_len = 0
    # large markets: the ratio test runs over the routes near their boundary (see _NearRoutes)
    near_count = max(4 * (n + m), n * m // 16) if n * m >= _NEAR_MIN_SIZE else 0
    near: _NearRoutes | None = None
    near_pieces = 0
    while True:
        # ``view``: the near set when its bound vouches for the whole piece, else None (full)
        view = near if near is not None and near.valid(system, 0.0) else None
        if view is not None:
            start = view.gaps(system)
            t = max(view.ratio_test(system.tol_g), 0.0)
            p_next = _next_price(p, t, p_max)
            if view.valid(system, p_next - p):
                view.used += 1
                near_pieces += 1
            else:
                view = None
        if view is None:
            if near is not None and near.used == 0:
                near_count *= 2  # the set did not last one piece: widen it
            start = system.gaps()
            near = _NearRoutes(system, near_count) if 0 < near_count <= n * m // 4 else None
            t = max(system.ratio_test(), 0.0)
            p_next = _next_price(p, t, p_max)
        worst = max(worst, start)
        if p_next <= p:
            zero_len += 1
        load0, dload = float(system.loads[s]), float(system.dloads[s])
        pieces.append((p, p_next, load0 * prob.d_scale, dload * prob.d_scale))
        cand_p, cand_v = maximise_quadratic_piece(prob, p, p_next, load0, dload)
        if cand_v > best_v:
            best_p, best_v = cand_p, cand_v
        last = p_next >= p_max
        if view is not None:
            hit = _EMPTY if last else view.hits(t)
            worst = max(worst, view.end(system, p_next - p))
        else:
            hit = _EMPTY if last else system.hits(t)
            worst = max(worst, system.end(p_next - p))
        if last:
            break
        if len(pieces) >= max_pieces:
            raise PathError(f"more than {max_pieces} pieces on the price path")
        # the degenerate routes at the breakpoint (the hit routes are exactly zero)
        deg = system.end_degenerate(hit) if view is None else view.end_degenerate(system)
        before = system.in_support(deg)
        # first guess: the routes that just became tight enter, the other degenerate ones wait
        guess = system.marked(deg, hit) & ~before
        solves += _choose_direction(system, p_next, deg, guess)
        after = system.in_support(deg)
        events.append((p_next, deg[after & ~before], deg[before & ~after]))
        p = p_next

    def pairs(flat: np.ndarray) -> list[tuple[str, str]]:
        return [(uid[users[k // m]], pid[k % m]) for k in flat.tolist()]

    return {
        "pieces": pieces,
        "breakpoints": [
            {"price": price, "entered": pairs(inn), "left": pairs(out)}
            for price, inn, out in events
        ],
        "best": (best_p, best_v),
        "kkt_max_violation": worst,
        "linear_solves": solves,
        "zero_length_pieces": zero_len,
        "near_set_pieces": near_pieces,
    }


def solve(prob: PricingProblem, **opts: Any) -> tuple[float, dict[str, Any]]:
    """Exact global optimum of Problem 1 (Eq. 2) by the price path.

    Parameters
    ----------
    prob
        The problem.
    max_pieces
        Optional cap on the number of pieces (default ``20 n m + 100``).

    Returns
    -------
    price, diagnostics
        ``diagnostics`` holds the breakpoints (the optimality certificate: the profit is an
        explicit quadratic on each piece between them), ``pieces``, ``n_breakpoints``,
        ``path_profit`` (the optimum on the path, USD), ``kkt_max_violation`` and
        ``linear_solves``.
    """
    unknown = set(opts) - {"max_pieces"}
    if unknown:
        raise TypeError(f"exact: unknown option {sorted(unknown)[0]!r}")
    with blas_single_thread():
        path = price_path(prob, opts.get("max_pieces"))
    price, value = path["best"]
    diag = {
        "n_breakpoints": len(path["breakpoints"]),
        "breakpoints": path["breakpoints"],
        "pieces": path["pieces"],
        "path_profit": value,
        "kkt_max_violation": path["kkt_max_violation"],
        "linear_solves": path["linear_solves"],
        "zero_length_pieces": path["zero_length_pieces"],
        "certificate": "global optimum over the listed pieces (profit quadratic on each)",
    }
    return float(price), diag
