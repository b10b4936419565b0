"""The exact user-side Nash equilibrium (Theorem 1, Eq. 13) and its KKT certificate.

The equilibrium is the unique minimiser of the strictly convex potential (Eq. 4-5, 9-11)

.. math::

    \\Phi(f) = \\sum_{ij} c_{ij} f_{ij}
             + \\sum_j \\frac{k_j}{2}\\Big(F_j^2 + \\sum_i f_{ij}^2\\Big),
    \\qquad \\sum_j f_{ij} = D_i,\\; f_{ij} \\ge 0,

with :math:`c_{ij} = w_p p_j + w_d d_{ij} - b_j`, :math:`k_j = w_q/\\alpha_j` and
:math:`F_j = \\sum_i f_{ij}`. Its KKT conditions (Eq. 14-17) read: on the support of user
:math:`i`, :math:`c_{ij} + k_j(F_j + f_{ij}) = \\lambda_i`; off it,
:math:`c_{ij} + k_j F_j \\ge \\lambda_i` (Wardrop's first principle).

How the solver works
--------------------
For a *fixed* support the KKT conditions are linear. With :math:`K_j = 1/k_j` and :math:`n_j` the
number of users of provider :math:`j`, they give :math:`f_{ij} = K_j(\\lambda_i - c_{ij}) - F_j`
and :math:`F_j = K_j \\sum_{i \\in U_j}(\\lambda_i - c_{ij}) / (1 + n_j)`, and the demand
constraints leave one symmetric positive-definite system, either in :math:`\\lambda` (n x n,
``M = diag(A K) - A diag(K/(1+n)) A^T``) or in the loads :math:`F` (m x m,
``P = diag((1+n)/K) - A^T diag(1/(A K)) A``), where ``A`` is the 0/1 support matrix. The smaller
one is factorised by Cholesky.

The support is found by a primal-dual active-set iteration (drop routes whose flow came out
negative, add routes whose reduced cost :math:`\\mu_{ij} = c_{ij} + k_j F_j - \\lambda_i` is
negative, all at once). It usually stops in a handful of iterations; if a support repeats (a
cycle) or the iteration budget runs out, a monotone primal active-set method takes over from the
best feasible point, which terminates finitely because the potential decreases strictly. The
result is exact up to round-off; it is returned only with its KKT certificate below the
tolerance, otherwise :class:`EquilibriumError` is raised.

Small dense solves run many times slower with a multi-threaded BLAS on few cores (measured here:
about 10x at 200 x 100 on 2 cores), so each solve of 32 to 2,000 users or providers holds BLAS to
one thread (``threadpoolctl``) and restores the setting afterwards; it changes no global state.
Loops of many solves can set the limit once with :func:`single_threaded_blas`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import LinAlgError
from scipy.linalg.lapack import dpotrf as _potrf
from scipy.linalg.lapack import dpotrs as _potrs

from prillm.market import TOKENS_PER_PRICE_UNIT, Market, Preferences, game_coefficients
from prillm.water_filling import water_filling

__all__ = [
    "DEFAULT_TOL",
    "Equilibrium",
    "EquilibriumError",
    "KKTCertificate",
    "kkt_certificate",
    "single_threaded_blas",
    "solve_equilibrium",
]

#: Default bound on the relative KKT residual for a returned equilibrium.
DEFAULT_TOL = 1e-9
_SINGLE_THREAD_MIN = 32
_SINGLE_THREAD_MAX = 2000
_controller: Any = None
_depth = 0


class EquilibriumError(RuntimeError):
    """The solver could not certify an equilibrium (it never returns an uncertified one)."""


@dataclass(frozen=True)
class KKTCertificate:
    """Relative residuals of the KKT conditions (Eq. 14-17) of an equilibrium.

    With ``g_ij = c_ij + k_j (F_j + f_ij)`` the marginal cost of Eq. (12) and
    ``mu_ij = g_ij - lambda_i`` the reduced cost, residuals are normwise: flows are scaled by
    ``max_i D_i`` and costs by the largest marginal-cost term in the market.

    Attributes
    ----------
    primal
        ``max(|sum_j f_ij - D_i|, max(-f_ij, 0))`` (Eq. 15).
    stationarity
        ``max |mu_ij|`` over the support, the routes declared used (Eq. 14 with ``mu = 0``).
    dual
        ``max(-mu_ij, 0)`` over routes off the support (Eq. 16): no unused route is cheaper.
    complementarity
        ``max |f_ij| * max(mu_ij, 0)`` over routes off the support (Eq. 17): flow left on
        routes that should be empty, weighted by how much dearer they are.
    nash_gap
        ``max_i (C_i(f_i) - min C_i)`` given the others' flows, by an exact water-filling best
        response: a direct check of Definition 1, independent of the multipliers. ``None`` when
        it was not computed (``solve_equilibrium(..., check_nash=False)``, the default, skips it
        to save time; the four KKT residuals already certify the equilibrium).
    tol
        The tolerance the certificate was judged against.
    """

    primal: float
    stationarity: float
    dual: float
    complementarity: float
    nash_gap: float | None
    tol: float = DEFAULT_TOL

    @property
    def max_residual(self) -> float:
        """The largest of the four KKT residuals."""
        return max(self.primal, self.stationarity, self.dual, self.complementarity)

    @property
    def certified(self) -> bool:
        """Whether every residual (and the Nash gap, when computed) is within ``tol``."""
        nash_ok = self.nash_gap is None or self.nash_gap <= self.tol
        return self.max_residual <= self.tol and nash_ok

    def to_dict(self) -> dict[str, float | bool | None]:
        """Plain-JSON representation."""
        return {
            "primal": self.primal,
            "stationarity": self.stationarity,
            "dual": self.dual,
            "complementarity": self.complementarity,
            "nash_gap": self.nash_gap,
            "max_residual": self.max_residual,
            "tol": self.tol,
            "certified": self.certified,
        }


@dataclass(frozen=True, eq=False)
class Equilibrium:
    """A certified user-side Nash equilibrium.

    Attributes
    ----------
    market, prefs
        The game that was solved.
    flows
        ``f_ij``, tokens per period, shape ``(n, m)``; exactly zero off the support.
    multipliers
        ``lambda_i``: user ``i``'s common marginal cost on its used routes (USD per million
        tokens). For a user with zero demand, the marginal cost of its first token.
    loads
        ``F_j = sum_i f_ij``, tokens per period.
    congestion
        ``Q_j = F_j / alpha_j``.
    marginal_costs
        ``g_ij = c_ij + k_j (F_j + f_ij)`` (Eq. 12), USD per million tokens.
    user_costs
        Each user's cost of Eq. (1), converted to USD (divided by ``1e6`` tokens).
    support
        Boolean ``(n, m)``: the routes each user uses.
    certificate
        The :class:`KKTCertificate`.
    iterations
        Active-set iterations (linear solves) used.
    method
        Which solver produced it.
    """

    market: Market
    prefs: Preferences
    flows: np.ndarray
    multipliers: np.ndarray
    loads: np.ndarray
    congestion: np.ndarray
    marginal_costs: np.ndarray
    user_costs: np.ndarray
    support: np.ndarray
    certificate: KKTCertificate
    iterations: int = 0
    method: str = "exact"
    info: dict[str, Any] = field(default_factory=dict)

    def revenue(self, provider: str | int) -> float:
        """Revenue ``p_j F_j / 1e6`` of a provider at this equilibrium, in USD (Eq. 2)."""
        j = self.market.provider_index(provider)
        return float(self.market.price[j] * self.loads[j] / TOKENS_PER_PRICE_UNIT)

    @property
    def shares(self) -> np.ndarray:
        """Each provider's share of the total demand."""
        total = float(self.market.demand.sum())
        return self.loads / total if total > 0 else np.zeros_like(self.loads)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (flows keyed by user and provider ids)."""
        mkt = self.market
        return {
            "method": self.method,
            "iterations": self.iterations,
            "certificate": self.certificate.to_dict(),
            "providers": [
                {
                    "id": pid,
                    "price": float(mkt.price[j]),
                    "load": float(self.loads[j]),
                    "share": float(self.shares[j]),
                    "congestion": float(self.congestion[j]),
                    "revenue_usd": self.revenue(j),
                }
                for j, pid in enumerate(mkt.provider_ids)
            ],
            "users": [
                {
                    "id": uid,
                    "demand": float(mkt.demand[i]),
                    "multiplier": float(self.multipliers[i]),
                    "cost_usd": float(self.user_costs[i]),
                    "flows": {
                        pid: float(self.flows[i, j])
                        for j, pid in enumerate(mkt.provider_ids)
                        if self.flows[i, j] > 0
                    },
                }
                for i, uid in enumerate(mkt.user_ids)
            ],
        }


# ------------------------------------------------------------------ certificate
def kkt_certificate(
    market: Market,
    prefs: Preferences,
    flows: np.ndarray,
    multipliers: np.ndarray,
    support: np.ndarray | None = None,
    *,
    tol: float = DEFAULT_TOL,
    nash: bool = True,
) -> KKTCertificate:
    """Measure how well ``(flows, multipliers)`` satisfy the KKT conditions (Eq. 14-17).

    Parameters
    ----------
    market, prefs
        The game.
    flows, multipliers
        A candidate equilibrium, shapes ``(n, m)`` and ``(n,)``.
    support
        The routes declared used; defaults to ``flows > 0``. Passing the exact solver's support
        lets one measure an approximate solver (e.g. an interior-point method, which leaves tiny
        flows on every route) against the true support.
    tol
        Tolerance stored in the certificate.
    nash
        Also compute the Nash gap (an exact best response per user).

    Returns
    -------
    KKTCertificate
    """
    gc = game_coefficients(market, prefs)
    flows = np.asarray(flows, dtype=float)
    lam = np.asarray(multipliers, dtype=float)
    if support is None:
        support = flows > 0
    support = np.asarray(support, bool)
    return _certificate(gc.cost, gc.slope, gc.demand, flows, lam, support, tol, nash)[0]


def _certificate(
    cost: np.ndarray,
    slope: np.ndarray,
    demand: np.ndarray,
    flows: np.ndarray,
    lam: np.ndarray,
    support: np.ndarray,
    tol: float,
    nash: bool = True,
) -> tuple[KKTCertificate, np.ndarray, np.ndarray]:
    """The certificate, plus the marginal costs ``g`` and loads it was computed from."""
    loads = flows.sum(axis=0)
    congestion_cost = slope * (loads + flows)
    g = cost + congestion_cost
    mu = g - lam[:, None]
    d_scale = float(demand.max()) if demand.size and demand.max() > 0 else 1.0
    c_scale = max(
        float(np.abs(cost).max()),
        float(congestion_cost.max()),
        float(np.abs(lam).max()) if lam.size else 0.0,
    )
    c_scale = c_scale if c_scale > 0 else 1.0
    primal = (
        max(float(np.abs(flows.sum(axis=1) - demand).max()), -min(float(flows.min()), 0.0))
        / d_scale
    )
    stationarity = float(np.abs(mu[support]).max()) / c_scale if support.any() else 0.0
    off = ~support
    if off.any():
        mu_off = mu[off]
        dual = -min(float(mu_off.min()), 0.0) / c_scale
        comp = float((np.abs(flows[off]) * np.maximum(mu_off, 0.0)).max()) / (c_scale * d_scale)
    else:
        dual = comp = 0.0
    gap = None
    if nash:
        # Definition 1 directly: user i's best response to the others' loads, by water-filling.
        intercept = cost + slope * (loads[None, :] - flows)
        br, _ = water_filling(intercept, 2.0 * slope, demand)
        cost_now = (flows * (intercept + slope * flows)).sum(axis=1)
        cost_br = (br * (intercept + slope * br)).sum(axis=1)
        gap = float(np.maximum(cost_now - cost_br, 0.0).max()) / (c_scale * d_scale)
    return KKTCertificate(primal, stationarity, dual, comp, gap, tol), g, loads


# ------------------------------------------------------------------ solver core
@dataclass
class ActiveSetResult:
    """Raw output of :func:`solve_active_set` (in the caller's units)."""

    flows: np.ndarray
    multipliers: np.ndarray
    loads: np.ndarray
    support: np.ndarray
    iterations: int
    fallback: bool


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Hold BLAS to one thread for a block of code (re-entrant; restores the setting on exit).

    Every solve already limits BLAS threads by itself, but restoring the setting after each call
    wakes the BLAS worker threads, which then compete with the next solve for the cores. Wrap a
    loop of many solves (a price grid, a calibration run, a benchmark) in this context so that the
    limit is set once.

    Examples
    --------
    >>> from prillm import single_threaded_blas, solve_equilibrium
    >>> from prillm.synthetic import random_market
    >>> market, prefs = random_market(np.random.default_rng(0), 40, 30)
    >>> with single_threaded_blas():
    ...     loads = [solve_equilibrium(market.with_price(0, p), prefs).loads[0] for p in (1, 2)]
    """
    global _controller, _depth
    if _depth > 0:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        _depth = 1
        try:
            yield
        finally:
            _depth = 0


def _blas_single_thread(size: int) -> Any:
    """Limit BLAS to one thread for mid-sized problems (tiny ones never thread anyway)."""
    if _depth > 0 or size < _SINGLE_THREAD_MIN or size > _SINGLE_THREAD_MAX:
        return nullcontext()
    return single_threaded_blas()


def _spd_solve(mat: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``mat @ x = rhs`` for symmetric positive-definite ``mat`` (LAPACK potrf/potrs)."""
    chol, info = _potrf(mat, lower=1, clean=0, overwrite_a=1)
    if info != 0:
        raise LinAlgError(f"the fixed-support KKT matrix is not positive definite (info={info})")
    x, info = _potrs(chol, rhs, lower=1)
    return x


def solve_support(
    cost: np.ndarray,
    capa: np.ndarray,
    demand: np.ndarray,
    support: np.ndarray,
    system: str = "auto",
    work: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve the KKT system of Eq. (14-17) for a fixed support (every row non-empty).

    Parameters
    ----------
    cost
        Fixed costs ``c``, shape ``(n, m)``.
    capa
        ``K_j = 1/k_j = alpha_j / w_q``, shape ``(m,)``.
    demand
        ``D``, shape ``(n,)``, all > 0.
    support
        Boolean ``(n, m)``, each row with at least one ``True``.
    system
        ``"users"`` (n x n system in lambda), ``"providers"`` (m x m system in the loads) or
        ``"auto"`` (the smaller one).
    work
        Optional dict of preallocated ``(n, m)`` float buffers (keys ``a``, ``ac``, ``b``,
        ``flows``), reused across calls: fresh large temporaries cost more than the arithmetic
        on them. The returned flows then live in ``work["flows"]``.

    Returns
    -------
    lam, loads, flows
        Multipliers, loads and flows (zero off the support; may be negative on it).
    """
    n, m = support.shape
    if work is None:
        a = support.astype(float)
        ac = a * cost
        b = np.empty_like(a)
        flows = np.empty_like(a)
    else:
        a, ac, b, flows = work["a"], work["ac"], work["b"], work["flows"]
        np.copyto(a, support)
        np.multiply(a, cost, out=ac)
    col_c = ac.sum(axis=0)
    nj = a.sum(axis=0)
    rowk = a @ capa  # kappa_i = sum_{j in S_i} K_j
    base = ac @ capa
    base += demand  # D_i + sum_{j in S_i} K_j c_ij
    if system == "users" or (system == "auto" and n <= m):
        w = capa / (1.0 + nj)
        np.multiply(a, np.sqrt(w), out=b)
        mat = b @ b.T
        np.negative(mat, out=mat)
        mat.flat[:: n + 1] += rowk
        lam = _spd_solve(mat, base - a @ (w * col_c))
        loads = w * (lam @ a - col_c)
    else:
        np.multiply(a, (1.0 / np.sqrt(rowk))[:, None], out=b)
        mat = b.T @ b
        np.negative(mat, out=mat)
        mat.flat[:: m + 1] += (1.0 + nj) / capa
        base /= rowk
        loads = _spd_solve(mat, base @ a - col_c)
        lam = base + (a @ loads) / rowk
    np.subtract(lam[:, None], cost, out=flows)
    flows *= capa
    flows -= loads
    flows *= a
    return lam, loads, flows


def solve_active_set(
    cost: np.ndarray,
    slope: np.ndarray,
    demand: np.ndarray,
    support: np.ndarray | None = None,
    *,
    max_iter: int = 100,
    system: str = "auto",
) -> ActiveSetResult:
    """Exact equilibrium of the potential game on raw arrays (no validation, no certificate).

    This is the engine behind :func:`solve_equilibrium`; pricing and calibration call it in
    loops. Inputs are rescaled internally (flows by ``max D``, costs by the largest cost term),
    so token volumes from 1e3 to 1e13 and prices from 1e-3 to 1e2 are handled alike.

    Parameters
    ----------
    cost, slope, demand
        ``c`` (n, m), ``k`` (m,) with ``k > 0``, and ``D`` (n,) with ``D >= 0``.
    support
        Optional starting support (warm start), boolean ``(n, m)``.
    max_iter
        Budget of primal-dual active-set iterations before the monotone fallback takes over.
    system
        Passed to :func:`solve_support`.

    Returns
    -------
    ActiveSetResult
    """
    n, m = cost.shape
    flows = np.zeros((n, m))
    lam = np.zeros(n)
    active = demand > 0
    if not active.any():
        lam = cost.min(axis=1)
        return ActiveSetResult(flows, lam, np.zeros(m), np.zeros((n, m), bool), 0, False)
    d_scale = float(demand[active].max())
    c_scale = max(float(np.abs(cost[active]).max()), float(slope.max() * demand.sum()))
    ct = cost[active] / c_scale
    d = demand[active] / d_scale
    capa = c_scale / (slope * d_scale)
    if support is None:
        s = np.ones(ct.shape, bool)
    else:
        s = np.array(support[active], dtype=bool)
        empty = ~s.any(axis=1)
        if empty.any():
            s[empty, :] = ct[empty] <= ct[empty].min(axis=1, keepdims=True)
    try:
        with _blas_single_thread(max(n, m)):
            x, lt, _, s, iters, fallback = _pdas(ct, capa, d, s, max_iter, system)
    except LinAlgError as exc:
        raise EquilibriumError(f"linear algebra failure in the active-set solver: {exc}") from exc
    flows[active] = x * d_scale
    support_full = np.zeros((n, m), bool)
    support_full[active] = s
    loads_out = flows.sum(axis=0)
    lam[active] = lt * c_scale
    if (~active).any():
        # marginal cost of the first token for users without demand
        lam[~active] = (cost[~active] + slope * loads_out).min(axis=1)
    return ActiveSetResult(flows, lam, loads_out, support_full, iters, fallback)


def _pdas(
    ct: np.ndarray, capa: np.ndarray, d: np.ndarray, s: np.ndarray, max_iter: int, system: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Primal-dual active-set iteration; hands over to the monotone method on a cycle."""
    seen: set[bytes] = {np.packbits(s).tobytes()}
    inv_capa = 1.0 / capa
    x = None
    it = 0
    work = {key: np.empty_like(ct) for key in ("a", "ac", "b", "flows")}
    mu = np.empty_like(ct)
    for it in range(1, max_iter + 1):
        lam, loads, x = solve_support(ct, capa, d, s, system, work)
        np.subtract(ct, lam[:, None], out=mu)
        mu += loads * inv_capa
        eps = 1e-13 * max(1.0, float(np.abs(lam).max()))
        # keep used routes whose flow is not negative; add unused routes that are cheaper
        new = mu < -eps
        new &= ~s
        new |= s & (x >= 0.0)
        if np.array_equal(new, s):
            return (*_refine(ct, capa, d, s, x.copy(), lam, loads, system), s, it, False)
        s = new
        key = np.packbits(s).tobytes()
        if key in seen:
            break
        seen.add(key)
    # a cycle, or the budget is spent: monotone primal active set from a feasible point
    x0 = np.zeros_like(ct) if x is None else np.where(s, np.maximum(x, 0.0), 0.0)
    rows = x0.sum(axis=1)
    bad = rows <= 0
    if bad.any():
        x0[bad] = 0.0
        x0[bad, np.argmin(ct[bad], axis=1)] = 1.0
        rows = x0.sum(axis=1)
    x0 *= (d / rows)[:, None]
    x, lam, loads, s, extra = _primal_active_set(ct, capa, d, x0, system)
    return x, lam, loads, s, it + extra, True


def _refine(
    ct: np.ndarray,
    capa: np.ndarray,
    d: np.ndarray,
    s: np.ndarray,
    x: np.ndarray,
    lam: np.ndarray,
    loads: np.ndarray,
    system: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of iterative refinement of the demand constraints.

    ``f_ij = K_j (lambda_i - c_ij) - F_j`` cancels badly when a capacity is huge (congestion
    negligible), which leaves row sums off by ``K * eps``. The correction solves the same
    fixed-support system with the demand residual as right-hand side and zero costs, which moves
    every marginal cost of a user by the same amount and so keeps stationarity.
    """
    resid = d - x.sum(axis=1)
    if float(np.abs(resid).max()) > 1e-13 * float(d.max()):
        dlam, dloads, dx = solve_support(np.zeros_like(ct), capa, resid, s, system)
        x = x + dx
        lam = lam + dlam
        loads = loads + dloads
    return np.maximum(x, 0.0), lam, loads


def _primal_active_set(
    ct: np.ndarray,
    capa: np.ndarray,
    d: np.ndarray,
    x: np.ndarray,
    system: str,
    max_iter: int = 100000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
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
            continue
        x = np.where(w, xs, 0.0)
        mu = ct + (loads * inv_capa)[None, :] - lam[:, None]
        eps = 1e-13 * max(1.0, float(np.abs(lam).max()))
        add = ~w & (mu < -eps)
        if not add.any():
            x, lam, loads = _refine(ct, capa, d, w, xs, lam, loads, system)
            return x, lam, loads, w, it
        if single:
            k = np.unravel_index(np.argmin(np.where(add, mu, np.inf)), mu.shape)
            add = np.zeros_like(add)
            add[k] = True
            single = False
        w = w | add
    raise EquilibriumError(f"primal active-set method did not terminate in {max_iter} iterations")


# ------------------------------------------------------------------ public API
def solve_equilibrium(
    market: Market,
    prefs: Preferences | None = None,
    *,
    warm_start: Equilibrium | np.ndarray | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = 100,
    system: str = "auto",
    check_nash: bool = False,
) -> Equilibrium:
    """The unique user-side Nash equilibrium of a market (Theorem 1, Eq. 13), exact.

    Parameters
    ----------
    market
        The market.
    prefs
        The users' preferences; default ``Preferences()`` (``w_p = w_q = w_d = 1``, ``b = 0``).
    warm_start
        A previous :class:`Equilibrium`, a flow matrix (its positive entries give the starting
        support) or a boolean support matrix, shape ``(n, m)``. It changes the work done, never
        the answer.
    tol
        Largest relative KKT residual accepted (see :class:`KKTCertificate`).
    max_iter
        Primal-dual active-set iterations before the monotone fallback takes over (0: use the
        monotone primal active-set method alone).
    system
        ``"auto"``, ``"users"`` or ``"providers"``: which linear system to factorise.
    check_nash
        Also verify Definition 1 directly: compute every user's exact best response to the
        others' flows (water-filling) and require the cost gap to be within ``tol``. Independent
        of the multipliers; costs a sort per user.

    Returns
    -------
    Equilibrium
        Flows, multipliers, loads, user costs and the KKT certificate.

    Raises
    ------
    EquilibriumError
        If the result cannot be certified to ``tol``: the solver never returns an uncertified
        equilibrium.
    prillm.MarketError
        If the preferences do not fit the market, or the warm start has the wrong shape.

    References
    ----------
    Eq. (1) costs, Eq. (4-5) potential, Eq. (12) marginal costs, Eq. (13) the program,
    Eq. (14-17) KKT conditions of the paper.

    Examples
    --------
    >>> from prillm import Market, Preferences, solve_equilibrium
    >>> mkt = Market(demand=[1e6], price=[1.0, 1.0], capacity=[1e6, 1e6])
    >>> eq = solve_equilibrium(mkt, Preferences(w_q=1.0, w_d=0.0))
    >>> eq.flows.round(3).tolist()
    [[500000.0, 500000.0]]
    >>> eq.certificate.certified
    True
    """
    from prillm._validation import MarketError

    if prefs is None:
        prefs = Preferences()
    if system not in ("auto", "users", "providers"):
        raise ValueError(f"system: expected 'auto', 'users' or 'providers', got {system!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter: expected an integer >= 0, got {max_iter!r}")
    gc = game_coefficients(market, prefs)
    support = None
    if warm_start is not None:
        start = (
            warm_start.support if isinstance(warm_start, Equilibrium) else np.asarray(warm_start)
        )
        if start.shape != market.shape:
            raise MarketError(f"warm_start: expected shape {market.shape}, got shape {start.shape}")
        support = start if start.dtype == bool else start > 0
    raw = solve_active_set(gc.cost, gc.slope, gc.demand, support, max_iter=max_iter, system=system)
    return _package(market, prefs, gc.cost, gc.slope, raw, tol, nash=check_nash)


def _package(
    market: Market,
    prefs: Preferences,
    cost: np.ndarray,
    slope: np.ndarray,
    raw: ActiveSetResult,
    tol: float,
    *,
    method: str = "exact",
    nash: bool = False,
    require_certified: bool = True,
) -> Equilibrium:
    """Wrap raw solver output into an :class:`Equilibrium` with its certificate."""
    flows, lam, support = raw.flows, raw.multipliers, raw.support
    cert, g, loads = _certificate(cost, slope, market.demand, flows, lam, support, tol, nash)
    if require_certified and not cert.certified:
        gap = "not computed" if cert.nash_gap is None else f"{cert.nash_gap:.3e}"
        raise EquilibriumError(
            "could not certify the equilibrium: relative KKT residual "
            f"{cert.max_residual:.3e} (Nash gap {gap}) exceeds tol={tol:.1e}"
        )
    user_costs = (flows * (g - slope * flows)).sum(axis=1) / TOKENS_PER_PRICE_UNIT
    congestion = loads / market.capacity
    for arr in (flows, lam, loads, g, user_costs, support, congestion):
        arr.setflags(write=False)
    return Equilibrium(
        market=market,
        prefs=prefs,
        flows=flows,
        multipliers=lam,
        loads=loads,
        congestion=congestion,
        marginal_costs=g,
        user_costs=user_costs,
        support=support,
        certificate=cert,
        iterations=raw.iterations,
        method=method,
        info={"fallback": raw.fallback},
    )
