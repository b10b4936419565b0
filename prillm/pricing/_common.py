"""Shared pieces of the pricing methods: the problem (Eq. 2), the result type and the affine model.

Every method receives a :class:`PricingProblem` and returns a candidate price with diagnostics;
:func:`prillm.pricing.optimal_price` then evaluates that price in the *true* game (an exact
equilibrium by :func:`prillm.solve_equilibrium`) so that methods are compared on equal terms.

Scaling
-------
Methods work on scaled arrays: flows in units of ``max_i D_i`` and costs in units of the largest
cost term of the market over the price range, so that token volumes of 1e3 or 1e13 look alike.
The target's column of the fixed cost is affine in its price:
``c_is(p) = c0_is + w_p p / c_scale`` (Eq. 1, only column ``s`` moves).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg.blas import dger
from scipy.linalg.lapack import dpotrf, dpotrs

from prillm._validation import MarketError
from prillm.equilibrium import Equilibrium, solve_active_set, solve_equilibrium
from prillm.market import TOKENS_PER_PRICE_UNIT, Market, Preferences, game_coefficients

__all__ = [
    "AffineSupport",
    "PricingProblem",
    "PricingResult",
    "SupportMatrix",
    "affine_support",
]


@dataclass(frozen=True, eq=False)
class PricingResult:
    """The answer of a pricing method to Problem 1 (Eq. 2).

    Attributes
    ----------
    price
        The target's price ``p_s`` (USD per million tokens), within ``[p_min, p_max]``.
    profit
        ``(p_s - c_s) F_s(p_s) / 1e6`` in USD, evaluated in the true game at ``price`` with
        :func:`prillm.solve_equilibrium` (whatever model the method used internally).
    equilibrium
        The certified user-side equilibrium at ``price``.
    wall_time
        Seconds spent by the method's search (the common re-evaluation in the true game is
        reported separately as ``diagnostics["evaluation_time"]``).
    method
        The method's name.
    diagnostics
        Method-specific facts: breakpoints, iterations, solver status, certificates.
    target, p_min, p_max, marginal_cost
        The problem that was solved.
    """

    price: float
    profit: float
    equilibrium: Equilibrium
    wall_time: float
    method: str
    diagnostics: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    p_min: float = 0.0
    p_max: float = 0.0
    marginal_cost: float = 0.0

    @property
    def load(self) -> float:
        """The target's equilibrium load ``F_s`` at ``price`` (tokens per period)."""
        j = self.equilibrium.market.provider_index(self.target)
        return float(self.equilibrium.loads[j])

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (diagnostics converted to lists and floats)."""
        return {
            "method": self.method,
            "target": self.target,
            "price": self.price,
            "profit_usd": self.profit,
            "load": self.load,
            "p_min": self.p_min,
            "p_max": self.p_max,
            "marginal_cost": self.marginal_cost,
            "wall_time_s": self.wall_time,
            "diagnostics": _jsonable(self.diagnostics),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else str(v)
    return value if value is None or isinstance(value, str) else str(value)


@dataclass(frozen=True, eq=False)
class PricingProblem:
    """Problem 1 (Eq. 2) for one target, with the scaled arrays the methods work on.

    Attributes
    ----------
    market, prefs, target
        The game and the target's position ``s``.
    p_min, p_max, marginal_cost
        Price bounds and the target's marginal cost per million tokens.
    active
        Users with positive demand (the others never carry flow).
    cost0
        Scaled fixed costs of the active users with the target's price set to 0, ``(n_a, m)``.
    demand
        Scaled demand of the active users (``D_i / max D``).
    capa
        Scaled ``K_j = alpha_j / w_q`` (so that the congestion slope is ``1 / capa``).
    dcol
        Scaled cost change of column ``s`` per unit of price (``w_p / c_scale``).
    c_scale, d_scale
        The scales (USD per million tokens; tokens).
    """

    market: Market
    prefs: Preferences
    s: int
    p_min: float
    p_max: float
    marginal_cost: float
    active: np.ndarray
    cost0: np.ndarray
    demand: np.ndarray
    capa: np.ndarray
    dcol: float
    c_scale: float
    d_scale: float

    @property
    def target(self) -> str:
        """The target's provider id."""
        return self.market.provider_ids[self.s]

    @property
    def shape(self) -> tuple[int, int]:
        """``(active users, providers)`` of the scaled problem."""
        return self.cost0.shape  # type: ignore[return-value]

    def start_price(self, price: float | None = None) -> float:
        """``price`` (default: the target's market price) clipped to ``[p_min, p_max]``."""
        p = self.market.price[self.s] if price is None else price
        return float(min(max(p, self.p_min), self.p_max))

    def cost_at(self, price: float) -> np.ndarray:
        """Scaled fixed costs when the target charges ``price``."""
        c = self.cost0.copy()
        c[:, self.s] += self.dcol * price
        return c

    def dcost(self) -> np.ndarray:
        """Derivative of the scaled fixed costs with respect to the target's price."""
        dc = np.zeros_like(self.cost0)
        dc[:, self.s] = self.dcol
        return dc

    def profit_scaled(self, price: float | np.ndarray, load: float | np.ndarray) -> Any:
        """Profit in USD from a price and a *scaled* target load."""
        return (price - self.marginal_cost) * load * self.d_scale / TOKENS_PER_PRICE_UNIT

    def solve(self, price: float, support: np.ndarray | None = None) -> Any:
        """Exact equilibrium of the scaled game at ``price`` (raw engine, warm-startable)."""
        return solve_active_set(self.cost_at(price), 1.0 / self.capa, self.demand, support)

    def load_at(self, price: float, support: np.ndarray | None = None) -> tuple[float, Any]:
        """Scaled target load at ``price`` and the raw equilibrium (for warm starts)."""
        if self.demand.size == 0:
            return 0.0, None
        raw = self.solve(price, support)
        return float(raw.loads[self.s]), raw

    def evaluate(self, price: float) -> tuple[float, Equilibrium]:
        """Profit (USD) and certified equilibrium at ``price`` in the true game (Eq. 2)."""
        eq = solve_equilibrium(self.market.with_price(self.s, price), self.prefs)
        profit = (price - self.marginal_cost) * float(eq.loads[self.s]) / TOKENS_PER_PRICE_UNIT
        return profit, eq


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise MarketError(f"{name}: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise MarketError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise MarketError(f"{name}: must be finite, got {value!r}")
    return v


def make_problem(
    market: Market,
    prefs: Preferences | None,
    target: str | int,
    p_max: float | None,
    p_min: float,
    marginal_cost: float,
) -> PricingProblem:
    """Validate the inputs of Problem 1 and build the scaled problem.

    Raises
    ------
    prillm.MarketError
        For an unknown target, a NaN/inf bound, ``p_min < 0``, ``p_max <= p_min`` or
        ``p_max <= 0``, or a negative marginal cost.
    """
    if not isinstance(market, Market):
        raise MarketError(f"market: expected a prillm.Market, got {type(market).__name__}")
    prefs = Preferences() if prefs is None else prefs
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        s = market.provider_index(int(target))
    elif isinstance(target, str):
        if target not in market.provider_index_map:
            raise MarketError(
                f"target: unknown provider id {target!r}; known ids: "
                + ", ".join(repr(p) for p in market.provider_ids[:10])
                + (" ..." if market.n_providers > 10 else "")
            )
        s = market.provider_index_map[target]
    else:
        raise MarketError(f"target: expected a provider id or position, got {target!r}")
    p_min = _check_number("p_min", p_min)
    if p_min < 0:
        raise MarketError(f"p_min: prices must be >= 0, got {p_min!r}")
    cm = _check_number("marginal_cost", marginal_cost)
    if cm < 0:
        raise MarketError(f"marginal_cost: must be >= 0, got {marginal_cost!r}")
    gc = game_coefficients(market, prefs)
    w_p = float(prefs.values_for(market)[0])
    if p_max is None:
        p_max_v = default_p_max(market, prefs, s, p_min)
    else:
        p_max_v = _check_number("p_max", p_max)
        if p_max_v <= 0:
            raise MarketError(f"p_max: must be > 0, got {p_max!r}")
        if p_max_v <= p_min:
            raise MarketError(f"p_max: must be greater than p_min={p_min!r}, got {p_max!r}")
    active = gc.demand > 0
    cost0 = np.array(gc.cost[active], dtype=float)
    cost0[:, s] -= w_p * market.price[s]
    d = gc.demand[active]
    d_scale = float(d.max()) if d.size else 1.0
    span = np.abs(cost0).max() + abs(w_p) * max(p_max_v, p_min) if d.size else 1.0
    c_scale = max(float(span), float(gc.slope.max() * gc.demand.sum()), 1e-300)
    return PricingProblem(
        market=market,
        prefs=prefs,
        s=s,
        p_min=p_min,
        p_max=p_max_v,
        marginal_cost=cm,
        active=active,
        cost0=cost0 / c_scale,
        demand=d / d_scale,
        capa=c_scale / (gc.slope * d_scale),
        dcol=w_p / c_scale,
        c_scale=c_scale,
        d_scale=d_scale,
    )


def vanishing_price(market: Market, prefs: Preferences | None, target: str | int) -> float:
    """The lowest price at which the target's equilibrium load is zero (``inf`` if none).

    With the target removed, the rivals' equilibrium gives each user's multiplier
    ``lambda_i``; the target is unused exactly when ``c_is(p) >= lambda_i`` for every user with
    demand (Eq. 16 with ``F_s = 0``), i.e. for ``p >= max_i (lambda_i - w_d d_is + b_s) / w_p``.
    Returns ``inf`` if the target is the only provider or ``w_p <= 0`` (demand is inelastic,
    so a monopolist never loses its load). ``target`` is a provider id or position.

    Examples
    --------
    Alone, the rival carries 3e6 tokens; the larger user's marginal cost there is
    ``2 + (3e6 + 2e6) / 1e6 = 7`` USD per million tokens, the price at which the target is
    abandoned:

    >>> from prillm import Market, Preferences
    >>> mkt = Market(demand=[1e6, 2e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    >>> round(vanishing_price(mkt, Preferences(w_q=1.0, w_d=0.0), 0), 9)
    7.0
    """
    prefs = Preferences() if prefs is None else prefs
    s = market.provider_index(target)
    w_p, _, _, _ = prefs.values_for(market)
    gc = game_coefficients(market, prefs)
    active = gc.demand > 0
    if market.n_providers == 1 or w_p <= 0:
        return math.inf
    if not active.any():
        return 0.0
    keep = np.arange(market.n_providers) != s
    raw = solve_active_set(gc.cost[active][:, keep], gc.slope[keep], gc.demand[active])
    fixed = gc.cost[active, s] - w_p * market.price[s]
    return float(np.max((raw.multipliers - fixed) / w_p))


def default_p_max(market: Market, prefs: Preferences, s: int, p_min: float) -> float:
    """Default upper price bound.

    The price at which the target's load vanishes (:func:`vanishing_price`): above it the
    profit is zero, so nothing is lost. If that price is not above ``p_min`` (the target has no
    demand at any admissible price) or is infinite (a monopolist), fall back to ten times the
    highest price in the market (at least 1 USD per million tokens, and above ``p_min``).
    """
    pv = vanishing_price(market, prefs, s)
    if math.isfinite(pv) and pv > p_min:
        return pv
    return max(10.0 * float(market.price.max()), 1.0, 2.0 * p_min + 1.0)


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
        lam2 = _spd_solve(mat, rhs)
        loads2 = w[:, None] * (a.T @ lam2 - colc)
    else:
        base = np.empty((n, 2))
        base[:, 0] = prob.demand + ac @ capa
        base[:, 1] = a_s * capa[s]
        loads2 = _spd_solve(mat, a.T @ (base / rowk[:, None]) - colc)
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


def _spd_solve(mat: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Cholesky solve of a symmetric positive-definite system (LAPACK, no wrappers)."""
    chol, info = dpotrf(mat, lower=1, overwrite_a=0)
    if info != 0:
        raise np.linalg.LinAlgError(f"support system is not positive definite (info={info})")
    sol, info = dpotrs(chol, rhs, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"Cholesky solve failed (info={info})")
    return sol


_controller: Any = None


def blas_single_thread() -> Any:
    """Context manager limiting BLAS to one thread (tiny dense solves run faster that way)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")


def maximise_quadratic_piece(
    prob: PricingProblem, lo: float, hi: float, load_lo: float, dload: float
) -> tuple[float, float]:
    """Exact maximiser of ``(p - c_s) (load_lo + (p - lo) dload)`` on ``[lo, hi]`` (scaled load).

    Returns ``(price, profit in USD)``; on ties the lowest price wins.
    """
    cands = [lo, hi]
    if dload < 0:
        # d/dp: load_lo + (p - lo) dload + (p - c) dload = 0
        pv = (prob.marginal_cost * dload - load_lo + lo * dload) / (2.0 * dload)
        if lo < pv < hi:
            cands.insert(1, pv)
    best_p, best_v = lo, -math.inf
    for p in cands:
        v = prob.profit_scaled(p, load_lo + (p - lo) * dload)
        if v > best_v:
            best_p, best_v = p, v
    return best_p, float(best_v)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` and return its value and the elapsed wall time (s)."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0
