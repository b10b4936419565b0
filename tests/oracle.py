"""An independent exact oracle for the user-side equilibrium: the KKT system in rational arithmetic.

Nothing here uses the library's solver or its floating-point coefficients. The market's stored
doubles are read as exact rationals (:class:`fractions.Fraction`), the coefficients
``c_ij = w_p p_j + w_d d_ij - b_j`` and ``k_j = w_q / alpha_j`` are formed exactly, and the
fixed-support KKT system (Eq. 14-15 of the paper: ``c_ij + k_j (F_j + f_ij) = lambda_i`` on the
support, ``sum_j f_ij = D_i``) is solved by Gaussian elimination over the rationals. A support is
accepted only when the exact flows are non-negative on it and every reduced cost
``c_ij + k_j F_j - lambda_i`` off it is non-negative: then, the potential being strictly convex,
these are *the* equilibrium flows, exactly. Starting from a hint (any support), a primal-dual
active-set iteration in rationals finds that support; a repeated support switches to one change
at a time.

Used by the extreme-scale tests and by ``scripts/stress_equilibrium.py``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from prillm.market import Market, Preferences

__all__ = ["ExactEquilibrium", "exact_equilibrium", "flow_error"]

Q = Fraction


class ExactEquilibrium:
    """Exact flows (rationals), multipliers and the support of the unique equilibrium."""

    def __init__(self, flows: list[list[Fraction]], lam: list[Fraction], support: np.ndarray):
        self.flows = flows
        self.lam = lam
        self.support = support

    def as_float(self) -> np.ndarray:
        """The exact flows rounded to the nearest doubles."""
        return np.array([[float(v) for v in row] for row in self.flows], dtype=float)


def _solve(mat: list[list[Fraction]], rhs: list[Fraction]) -> list[Fraction]:
    """Gaussian elimination over the rationals (the matrix is non-singular: SPD)."""
    size = len(rhs)
    aug = [[*row, rhs[i]] for i, row in enumerate(mat)]
    for col in range(size):
        piv = next(r for r in range(col, size) if aug[r][col] != 0)
        aug[col], aug[piv] = aug[piv], aug[col]
        prow = aug[col]
        inv = 1 / prow[col]
        for r in range(col + 1, size):
            factor = aug[r][col]
            if factor:
                factor *= inv
                row = aug[r]
                for c in range(col, size + 1):
                    if prow[c]:
                        row[c] -= factor * prow[c]
    out = [Q(0)] * size
    for r in range(size - 1, -1, -1):
        acc = aug[r][size]
        for c in range(r + 1, size):
            if aug[r][c]:
                acc -= aug[r][c] * out[c]
        out[r] = acc / aug[r][r]
    return out


def _support_solution(c, kinv, demand, sup):
    """``(lambda, F, f)`` of the support ``sup`` (list of sets of providers per user), exactly.

    With ``K_j = 1/k_j`` and ``n_j`` the users of provider ``j``: ``F_j = sum_{i in S_j}
    K_j (lambda_i - c_ij) / (1 + n_j)`` and, for each user, ``sum_{j in S_i} (K_j (lambda_i -
    c_ij) - F_j) = D_i``: an ``n x n`` system in ``lambda``.
    """
    n, m = len(c), len(kinv)
    users_of = [[i for i in range(n) if j in sup[i]] for j in range(m)]
    w = [kinv[j] / (1 + len(users_of[j])) for j in range(m)]
    mat = [[Q(0)] * n for _ in range(n)]
    rhs = [Q(0)] * n
    for i in range(n):
        rhs[i] = demand[i]
        for j in sup[i]:
            mat[i][i] += kinv[j]
            rhs[i] += kinv[j] * c[i][j]
            # - F_j = - w_j sum over S_j of (lambda - c)
            for other in users_of[j]:
                mat[i][other] -= w[j]
                rhs[i] -= w[j] * c[other][j]
    lam = _solve(mat, rhs)
    loads = [w[j] * sum((lam[i] - c[i][j] for i in users_of[j]), Q(0)) for j in range(m)]
    flows = [
        [kinv[j] * (lam[i] - c[i][j]) - loads[j] if j in sup[i] else Q(0) for j in range(m)]
        for i in range(n)
    ]
    return lam, loads, flows


def exact_equilibrium(
    market: Market,
    prefs: Preferences,
    hint: np.ndarray | None = None,
    max_iter: int = 500,
) -> ExactEquilibrium:
    """The exact equilibrium of ``market`` under ``prefs`` (rational arithmetic throughout).

    Parameters
    ----------
    market, prefs
        The game; its doubles are taken as exact rationals.
    hint
        A starting support (boolean ``(n, m)``); default: each user's cheapest fixed cost.
    max_iter
        Budget of active-set iterations.
    """
    w_p, w_q, w_d, b = prefs.values_for(market)
    n, m = market.shape
    price = [Q(float(v)) for v in market.price]
    b_q = [Q(float(v)) for v in b]
    lat = [[Q(float(v)) for v in row] for row in np.asarray(market.latency, float)]
    c_all = [
        [Q(float(w_p)) * price[j] + Q(float(w_d)) * lat[i][j] - b_q[j] for j in range(m)]
        for i in range(n)
    ]
    kinv = [Q(float(a)) / Q(float(w_q)) for a in market.capacity]  # 1 / k_j
    d_all = [Q(float(v)) for v in market.demand]
    act = [i for i in range(n) if d_all[i] > 0]
    c = [c_all[i] for i in act]
    demand = [d_all[i] for i in act]
    na = len(act)
    if hint is None:
        sup = [{min(range(m), key=lambda j, i=i: c[i][j])} for i in range(na)]
    else:
        sup = [set(np.flatnonzero(hint[i]).tolist()) for i in act]
        for i in range(na):
            if not sup[i]:
                sup[i] = {min(range(m), key=lambda j, i=i: c[i][j])}
    seen: set[tuple] = set()
    single = False
    for _ in range(max_iter):
        lam, loads, flows = _support_solution(c, kinv, demand, sup)
        neg = [(flows[i][j], i, j) for i in range(na) for j in sup[i] if flows[i][j] < 0]
        kj = [1 / v for v in kinv]
        red = [
            (c[i][j] + kj[j] * loads[j] - lam[i], i, j)
            for i in range(na)
            for j in range(m)
            if j not in sup[i]
        ]
        add = [t for t in red if t[0] < 0]
        if not neg and not add:
            full = [[Q(0)] * m for _ in range(n)]
            lam_full = [Q(0)] * n
            support = np.zeros((n, m), bool)
            for r, i in enumerate(act):
                full[i] = flows[r]
                lam_full[i] = lam[r]
                for j in sup[r]:
                    support[i, j] = flows[r][j] > 0
            for i in range(n):
                if d_all[i] == 0:
                    lam_full[i] = min(
                        c_all[i][j] + kj[j] * sum((full[r][j] for r in range(n)), Q(0))
                        for j in range(m)
                    )
            return ExactEquilibrium(full, lam_full, support)
        key = tuple(tuple(sorted(s)) for s in sup)
        if key in seen:
            single = True
        seen.add(key)
        if single:  # one change at a time: the most negative flow, else the cheapest addition
            if neg:
                _, i, j = min(neg)
                sup[i].discard(j)
                if not sup[i]:
                    sup[i] = {min(range(m), key=lambda j, i=i: c[i][j] + kj[j] * loads[j])}
            else:
                _, i, j = min(add)
                sup[i].add(j)
            continue
        for _, i, j in neg:
            sup[i].discard(j)
        for _, i, j in add:
            sup[i].add(j)
        for i in range(na):
            if not sup[i]:
                sup[i] = {min(range(m), key=lambda j, i=i: c[i][j] + kj[j] * loads[j])}
    raise RuntimeError("exact oracle: no support found within the iteration budget")


def flow_error(flows: np.ndarray, exact: ExactEquilibrium, demand: np.ndarray) -> float:
    """``max_ij |f_ij - f*_ij| / D_i`` over users with demand, computed exactly."""
    worst = Q(0)
    for i, row in enumerate(exact.flows):
        d = Q(float(demand[i]))
        if d <= 0:
            continue
        for j, v in enumerate(row):
            err = abs(Q(float(flows[i, j])) - v) / d
            if err > worst:
                worst = err
    return float(worst)
