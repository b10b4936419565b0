"""An independent check of price equilibria: the tests' own equilibrium solver and grid search.

Nothing here uses prillm's solvers. The user-side equilibrium is found by cvxpy (Clarabel) for
a first support guess, then solved exactly on that support by one dense linear system of the
KKT conditions (Eq. 14-17) written out route by route, and accepted only if it passes the KKT
sign conditions; the support of the previous call is tried first. A player's best response is
searched on a dense price grid with golden-section refinement around every local maximum.
"""

from __future__ import annotations

import math

import cvxpy as cp
import numpy as np

from prillm import Market, Preferences

__all__ = ["Reference"]

_GOLD = (math.sqrt(5.0) - 1.0) / 2.0


class Reference:
    """Equilibria and best responses of one market, by the tests' own means."""

    def __init__(self, market: Market, prefs: Preferences) -> None:
        w_p, w_q, w_d, b = prefs.values_for(market)
        self.market = market
        self.w_p = float(w_p)
        self.base = w_d * np.asarray(market.latency) - b[None, :]  # cost without the price
        self.slope = w_q / np.asarray(market.capacity)
        self.demand = np.asarray(market.demand)
        self.active = self.demand > 0
        self.scale = float(self.demand.max()) if self.active.any() else 1.0
        self.supports: dict[bytes, np.ndarray] = {}
        self.solves = 0

    # ---------------------------------------------------------------- equilibrium
    def loads(
        self, price: np.ndarray, keep: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Loads of every provider and each active user's multiplier at prices ``price``.

        ``keep`` (boolean per provider) restricts the market to some providers.
        """
        keep = np.ones(self.market.n_providers, bool) if keep is None else keep
        if not self.active.any():
            return np.zeros(self.market.n_providers), np.zeros(0)
        c = (self.w_p * np.asarray(price)[None, :] + self.base)[self.active][:, keep]
        k = self.slope[keep] * self.scale
        d = self.demand[self.active] / self.scale
        self.solves += 1
        key = keep.tobytes()
        if key in self.supports:
            out = _kkt(c, k, d, self.supports[key])
            if out is not None:
                return self._package(out, keep)
        guess = _cvxpy_support(c, k, d)
        support = guess
        for _ in range(60):
            out = _kkt(c, k, d, support)
            if out is not None:
                self.supports[key] = support
                return self._package(out, keep)
            x, lam = _kkt_values(c, k, d, support)
            mu = c + (k * x.sum(axis=0))[None, :] - lam[:, None]
            drop = support & (x < 0)
            add = ~support & (mu < 0)
            support = (support & ~drop) | add
            if not support.any(axis=1).all():
                support = guess | add
        raise AssertionError("the reference solver found no support passing the KKT test")

    def _package(self, out: tuple[np.ndarray, np.ndarray], keep: np.ndarray):
        x, lam = out
        loads = np.zeros(self.market.n_providers)
        loads[keep] = x.sum(axis=0) * self.scale
        return loads, lam

    def profit(self, price: np.ndarray, j: int, cost: float = 0.0) -> float:
        """Provider ``j``'s profit (USD) at prices ``price``."""
        loads, _ = self.loads(price)
        return float((price[j] - cost) * loads[j] / 1e6)

    def vanishing(self, price: np.ndarray, j: int) -> float:
        """The lowest price of ``j`` at which no active user sends it anything."""
        keep = np.arange(self.market.n_providers) != j
        _, lam = self.loads(price, keep)
        if lam.size == 0:
            return 0.0
        return float(np.max((lam - self.base[self.active, j]) / self.w_p))

    # ---------------------------------------------------------------- best response
    def best_response(
        self,
        price: np.ndarray,
        j: int,
        cost: float = 0.0,
        lo: float = 0.0,
        hi: float | None = None,
        n: int = 240,
        extra: tuple[float, ...] = (),
    ) -> tuple[float, float]:
        """``(price, profit)`` of the best grid price of ``j`` (with refinement), others fixed.

        ``extra`` prices are evaluated too (e.g. a claimed best response, to check its profit).
        """
        if hi is None:
            hi = max(self.vanishing(price, j), lo + 1e-9)
        grid = np.linspace(lo, hi, n)
        p = np.array(price, dtype=float)

        def value(x: float) -> float:
            p[j] = x
            return self.profit(p, j, cost)

        vals = np.array([value(x) for x in grid])
        best_x, best_v = float(grid[np.argmax(vals)]), float(vals.max())
        peaks = [
            i
            for i in range(n)
            if (i == 0 or vals[i] >= vals[i - 1]) and (i == n - 1 or vals[i] >= vals[i + 1])
        ]
        for i in peaks:
            a, b = grid[max(i - 1, 0)], grid[min(i + 1, n - 1)]
            c1, c2 = b - _GOLD * (b - a), a + _GOLD * (b - a)
            v1, v2 = value(c1), value(c2)
            for _ in range(60):
                if v1 >= v2:
                    b, c2, v2 = c2, c1, v1
                    c1 = b - _GOLD * (b - a)
                    v1 = value(c1)
                else:
                    a, c1, v1 = c1, c2, v2
                    c2 = a + _GOLD * (b - a)
                    v2 = value(c2)
            for x, v in ((c1, v1), (c2, v2)):
                if v > best_v:
                    best_x, best_v = float(x), float(v)
        for x in extra:
            v = value(float(x))
            if v > best_v:
                best_x, best_v = float(x), v
        return best_x, best_v


def _kkt_values(c: np.ndarray, k: np.ndarray, d: np.ndarray, support: np.ndarray):
    """Flows and multipliers solving the KKT equalities on ``support`` (route by route)."""
    n, m = c.shape
    routes = np.argwhere(support)
    r = len(routes)
    a = np.zeros((r + n, r + n))
    rhs = np.zeros(r + n)
    cols = routes[:, 1]
    same = cols[:, None] == cols[None, :]
    a[:r, :r] = same * k[cols][:, None]  # k_j F_j
    a[np.arange(r), np.arange(r)] += k[cols]  # + k_j f_ij
    a[np.arange(r), r + routes[:, 0]] = -1.0  # - lambda_i
    rhs[:r] = -c[routes[:, 0], cols]
    a[r + routes[:, 0], np.arange(r)] = 1.0  # sum_j f_ij = D_i
    rhs[r:] = d
    sol = np.linalg.solve(a, rhs)
    x = np.zeros((n, m))
    x[routes[:, 0], cols] = sol[:r]
    return x, sol[r:]


def _kkt(c: np.ndarray, k: np.ndarray, d: np.ndarray, support: np.ndarray):
    """The exact equilibrium on ``support`` if it passes the KKT sign conditions, else None."""
    if not support.any(axis=1).all():
        return None
    try:
        x, lam = _kkt_values(c, k, d, support)
    except np.linalg.LinAlgError:
        return None
    loads = x.sum(axis=0)
    mu = c + (k * loads)[None, :] - lam[:, None]
    tol = 1e-11 * max(1.0, float(np.abs(c).max()), float((k * loads).max()))
    if (x[support] < -1e-12 * d.max()).any() or (mu[~support] < -tol).any():
        return None
    return np.maximum(x, 0.0), lam


def _cvxpy_support(c: np.ndarray, k: np.ndarray, d: np.ndarray) -> np.ndarray:
    """A support guess from the potential (Eq. 4-5) minimised by cvxpy."""
    n, m = c.shape
    f = cp.Variable((n, m), nonneg=True)
    loads = cp.sum(f, axis=0)
    obj = cp.sum(cp.multiply(c, f)) + 0.5 * (
        cp.sum(cp.multiply(k, cp.square(loads))) + cp.sum(cp.multiply(k[None, :], cp.square(f)))
    )
    cp.Problem(cp.Minimize(obj), [cp.sum(f, axis=1) == d]).solve(solver=cp.CLARABEL)
    x = np.asarray(f.value)
    support = x > 1e-6 * d[:, None]
    return support
