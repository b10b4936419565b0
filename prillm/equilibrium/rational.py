"""The equilibrium in exact rational arithmetic: the solver's last resort (Eq. 14-17).

Why
---
When a capacity is huge against the demand *and* the congestion weight is tiny *and* prices are
large (congestion below about ``1e-17`` of the costs), a flow ``K_j (lambda_i - c_ij) - F_j`` is
a factor ``K_j`` up to ``1e23`` times a cost difference that not even the double-double
refinement (:mod:`prillm.equilibrium.refine`) resolves: it cannot tell which routes are used.
The equilibrium is still unique (the potential of Eq. 4-5 is strictly convex), and this module
computes it exactly.

How
---
Every stored double is a dyadic rational, so after scaling by powers of two the game is integer:
``C_ij = 2^ec c_ij`` (``c_ij = w_p p_j + w_d d_ij - b_j``, formed exactly), ``A_j = 2^ea
alpha_j``, and ``T_i = 2^(ec + ea) w_q D_i``. With ``x_i = 2^ec lambda_i`` and
``z_j = 2^(ec + ea) w_q F_j``, the fixed-support KKT system of :mod:`prillm.equilibrium.kkt`
(stationarity ``c_ij + k_j (F_j + f_ij) = lambda_i`` on the support, Eq. 14; demand
``sum_j f_ij = D_i``, Eq. 15; ``F_j = sum_i f_ij``) reads

.. math::

    \\Big(\\sum_{j \\in S_i} A_j\\Big) x_i - \\sum_{j \\in S_i} z_j
        = T_i + \\sum_{j \\in S_i} A_j C_{ij}, \\qquad
    (1 + n_j) z_j - A_j \\sum_{i \\in U_j} x_i = -A_j \\sum_{i \\in U_j} C_{ij},

with ``S_i`` user ``i``'s routes and ``U_j`` the ``n_j`` users of provider ``j``. Eliminating
``z`` gives the users' system of :mod:`~prillm.equilibrium.kkt` times ``L = lcm(1 + n_j)``: an
integer symmetric positive-definite matrix, solved by fraction-free Gaussian elimination
(Bareiss, *Math. Comp.* 22, 1968) with exact divisions, ``x = X / det``. Each route's
``y_ij = A_j (x_i - C_ij) - z_j = 2^(ec + ea) w_q f_ij`` is then known exactly: on the support
it is the flow (it must be ``>= 0``, Eq. 15), off it minus the reduced cost times ``A_j``
(``mu_ij = c_ij + k_j F_j - lambda_i >= 0`` needs ``y_ij <= 0``, Eq. 16-17).

The support starts from the one the floating-point passes proposed and is settled by
primal-dual active-set steps (drop every negative flow, add every route with ``y > 0``); a
repeated support hands over to the monotone primal active-set method (Nocedal and Wright,
*Numerical Optimization*, Alg. 16.3) from a feasible point, one route added at a time on the
face's minimiser and stripped of its zero flows, so that the potential falls strictly between
two faces and none repeats: it terminates. The exact flows are finally rounded to the nearest
doubles; their error, computed exactly, is the certificate's ``flow_error``.

Cost: ``O(n^2 m)`` to build and ``O(n^3)`` operations on integers of up to ``n`` times a few
hundred bits to solve, per support; the path is offered up to :data:`MAX_USERS` users with
demand and :data:`MAX_ROUTES` routes ``n m``.
"""

from __future__ import annotations

from fractions import Fraction
from math import lcm

import numpy as np

from prillm.equilibrium.active_set import ActiveSetResult
from prillm.equilibrium.certificate import EquilibriumError
from prillm.market import Market, Preferences

__all__ = ["MAX_ROUTES", "MAX_USERS", "rational_equilibrium", "size_limit"]

#: The exact path is offered to markets of at most this many users with demand (the system's
#: size) ...
MAX_USERS = 32
#: ... and this many routes ``n m``. Measured on a shared machine: a 32 x 32 market with 386
#: routes used takes 0.05-0.2 s from the floating-point passes' support and 0.9 s from a cold
#: start (6 supports); with 60 users one solve already takes 2.5-3.5 s, so the bound is on ``n``.
MAX_ROUTES = 1024
#: Primal-dual active-set steps before the monotone method takes over.
_PDAS_STEPS = 50


def size_limit(market: Market) -> str | None:
    """Why :func:`rational_equilibrium` declines ``market`` (too large), or ``None``."""
    n, m = market.shape
    users = int(np.count_nonzero(np.asarray(market.demand) > 0))
    if users <= MAX_USERS and n * m <= MAX_ROUTES:
        return None
    return (
        f"the exact rational path takes markets of at most MAX_USERS={MAX_USERS} users with "
        f"demand and MAX_ROUTES={MAX_ROUTES} routes (n*m); this one has {users} users with "
        f"demand and {n} x {m} = {n * m} routes"
    )


def _dyadic(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Integers ``N`` (an object array) and ``e`` with ``values == N / 2**e`` exactly."""
    flat = np.asarray(values, dtype=float).ravel()
    pairs = [float(v).as_integer_ratio() for v in flat]
    e = max((den.bit_length() - 1 for _, den in pairs), default=0)
    ints = [num << (e - den.bit_length() + 1) for num, den in pairs]
    out = np.empty(len(ints), dtype=object)
    out[:] = ints
    return out.reshape(np.shape(values)), e


def _bareiss(mat: list[list[int]], rhs: list[int]) -> tuple[list[int], int]:
    """``X`` and ``det > 0`` with ``mat @ X = det * rhs``, exactly (fraction-free elimination).

    ``mat`` must have positive leading principal minors (an SPD matrix times positive row
    factors): no pivoting is needed, and every division below is exact.
    """
    size = len(rhs)
    rows = [[*row, r] for row, r in zip(mat, rhs, strict=True)]
    prev = 1
    for k in range(size):
        pivot_row = rows[k]
        pivot = pivot_row[k]
        if pivot <= 0:
            raise EquilibriumError("exact KKT solve: the support's matrix is not positive definite")
        for row in rows[k + 1 :]:
            factor = row[k]
            for col in range(k + 1, size + 1):
                row[col] = (row[col] * pivot - factor * pivot_row[col]) // prev
        prev = pivot
    det = rows[-1][size - 1] if size else 1
    x = [0] * size
    for i in range(size - 1, -1, -1):
        row = rows[i]
        acc = det * row[size] - sum(row[c] * x[c] for c in range(i + 1, size))
        x[i] = acc // row[i]
    return x, det


class _Game:
    """The game of the users with demand in integers (see the module's docstring)."""

    def __init__(self, market: Market, prefs: Preferences) -> None:
        w_p, w_q, w_d, b = prefs.values_for(market)
        act = np.asarray(market.demand) > 0
        ((wp, wd, wq),), e_w = _dyadic(np.array([[w_p, w_d, w_q]]))
        e_wp = e_wd = e_wq = e_w
        price, e_p = _dyadic(market.price)
        lat, e_l = _dyadic(np.asarray(market.latency))
        bias, e_b = _dyadic(b)
        alpha, self.ea = _dyadic(market.capacity)
        dem, e_d = _dyadic(np.asarray(market.demand)[act])
        ec = max(e_wp + e_p, e_wd + e_l, e_b, e_wq + e_d - self.ea)
        cost = (wp * price) << (ec - e_wp - e_p)
        cost = (wd * lat << (ec - e_wd - e_l)) + cost[None, :]
        self.cost_all = cost - (bias << (ec - e_b))[None, :]  # C = 2^ec c, (n, m)
        self.cost = self.cost_all[act]
        self.alpha = alpha  # A = 2^ea alpha
        self.total = (wq * dem) << (ec + self.ea - e_wq - e_d)  # T = 2^(ec + ea) w_q D
        self.ec, self.e_wq, self.wq, self.e_d, self.dem = ec, e_wq, wq, e_d, dem

    def solve(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
        """``Y = det L y`` on every route, ``X``, ``S_j - det Q_j``, ``det`` and ``L`` of ``s``."""
        n, m = s.shape
        nj = s.sum(axis=0)
        big_l = lcm(*(int(v) + 1 for v in nj))
        w = self.alpha * np.array([big_l // (int(v) + 1) for v in nj], dtype=object)  # L A/(1+n)
        kp = (s * self.alpha[None, :]).sum(axis=1) * big_l
        ac = s * self.cost
        q = ac.sum(axis=0)  # sum_{i in U_j} C_ij
        rhs = (self.total + (ac * self.alpha[None, :]).sum(axis=1)) * big_l
        rhs -= (s * (w * q)).sum(axis=1)
        mat = [[0] * n for _ in range(n)]
        for j in range(m):
            users = np.flatnonzero(s[:, j]).tolist()
            wj = w[j]
            for i in users:
                row = mat[i]
                for other in users:
                    row[other] -= wj
        for i in range(n):
            mat[i][i] += kp[i]
        x, det = _bareiss(mat, rhs.tolist())
        xs = np.empty(n, dtype=object)
        xs[:] = x
        loads = (s * xs[:, None]).sum(axis=0) - det * q  # (S_j - det Q_j)
        y = (xs[:, None] - det * self.cost) * (nj + 1)[None, :] - loads[None, :]
        y *= w[None, :]  # Y_ij = det L (A_j (x_i - C_ij) - z_j)
        return y, xs, loads, det, big_l


def _monotone(game: _Game, s: np.ndarray, flows: np.ndarray, steps: int) -> tuple:
    """Monotone primal active set (Nocedal and Wright, Alg. 16.3) from feasible ``flows``.

    ``flows`` (Fractions in ``y`` units, rows summing to ``T``; positive on ``s``) stay
    feasible: each step moves to the minimiser of the face ``s`` or stops at the first flow that
    reaches zero (ratio test), so the potential never rises. On a face's minimiser the zero flows
    leave ``s`` and the route with the largest ``y > 0`` enters (its flow grows from zero).
    """
    for _ in range(steps):
        sol = game.solve(s)
        y, den = sol[0], sol[3] * sol[4]
        target = np.where(s, y, 0) * Fraction(1, den)
        neg = s & (y < 0)
        if neg.any():
            t = min(flows[k] / (flows[k] - target[k]) for k in zip(*np.nonzero(neg), strict=True))
            flows = flows + t * (target - flows)
            hit = neg & (flows <= 0)
            flows[hit] = Fraction(0)  # the blocking flows, exactly zero
            s = s & ~hit
            continue
        flows = target
        s = s & (y > 0)  # zero flows leave the face (its minimiser stays the same)
        add = ~s & (y > 0)
        if not add.any():
            return s, sol
        s[np.unravel_index(int(np.argmax(np.where(add, y, 0))), y.shape)] = True
    raise EquilibriumError(f"exact active-set method: no equilibrium in {steps} steps")


def _feasible(game: _Game, s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A feasible point near the last solve: its non-negative flows, each row scaled to ``T``."""
    flows = np.where(s & (y > 0), y, 0) * Fraction(1)
    for i, row in enumerate(flows):
        total = row.sum()
        if total == 0:
            row[int(np.argmax(y[i]))] = Fraction(1)
            total = Fraction(1)
        flows[i] = row * (game.total[i] / total)
    return flows > 0, flows


def rational_equilibrium(
    market: Market, prefs: Preferences, support: np.ndarray | None = None
) -> ActiveSetResult:
    """The exact equilibrium (Eq. 13-17) in rational arithmetic, rounded to doubles.

    Parameters
    ----------
    market, prefs
        The game; its stored doubles are taken as exact rationals.
    support
        A starting support, boolean ``(n, m)`` (e.g. the floating-point passes' last one); it
        changes the work, never the answer. Default: each user's cheapest fixed cost.

    Returns
    -------
    ActiveSetResult
        In the market's units, with ``path="rational"``. ``flow_error[i]`` bounds
        ``max_j |f_ij - f*_ij| / D_i`` where ``f*`` is the exact equilibrium: only the rounding
        of the exact flows to doubles (at most ``2^-53`` of the user's demand), computed exactly
        and rounded up.

    Raises
    ------
    EquilibriumError
        If the market exceeds :data:`MAX_USERS` users with demand or :data:`MAX_ROUTES` routes.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> res = rational_equilibrium(Market(demand=[3.0], price=[1.0, 1.0], capacity=[1.0, 2.0]),
    ...                            Preferences(w_d=0.0))
    >>> res.flows.tolist(), res.path
    ([[1.0, 2.0]], 'rational')
    """
    n, m = market.shape
    too_large = size_limit(market)
    if too_large is not None:
        raise EquilibriumError(too_large)
    game = _Game(market, prefs)
    act = np.asarray(market.demand) > 0
    s = np.zeros(game.cost.shape, bool) if support is None else np.array(support, bool)[act]
    cheapest = np.argmin(game.cost, axis=1) if m else np.zeros(0, int)
    empty = np.flatnonzero(~s.any(axis=1))
    s[empty, cheapest[empty]] = True
    seen: set[bytes] = set()
    sol = game.solve(s)
    steps, fallback = 1, False
    while True:
        y = sol[0]
        drop, add = s & (y < 0), ~s & (y > 0)
        if not drop.any() and not add.any():
            break
        key = np.packbits(s).tobytes()
        if key in seen or steps >= _PDAS_STEPS:  # a cycle: the monotone method finishes
            s, sol = _monotone(game, *_feasible(game, s, y), 10 * n * m + 100)
            fallback = True
            break
        seen.add(key)
        new = (s & ~drop) | add
        empty = np.flatnonzero(~new.any(axis=1))
        new[empty, np.argmax(y[empty], axis=1)] = True  # keep its least negative route
        s = new
        sol = game.solve(s)
        steps += 1
    return _rounded(market, game, act, s, sol, steps, fallback)


def _rounded(market, game, act, s, sol, steps, fallback) -> ActiveSetResult:
    """The exact solution rounded to doubles, with the exact rounding error of each flow."""
    y, xs, loads, det, big_l = sol
    n, m = market.shape
    y = np.where(s & (y > 0), y, 0)
    # f = y / (2^(ec + ea) w_q) with y = Y / (det L) and w_q = wq / 2^e_wq
    num = y * (1 << game.e_wq)
    den = det * big_l * game.wq << (game.ec + game.ea)
    flows = np.zeros((n, m))
    flows[act] = (num / den).astype(float)  # correctly rounded (int true division)
    err = np.zeros(n)
    for r, i in enumerate(np.flatnonzero(act)):
        worst = 0.0
        for j in np.flatnonzero(num[r]):
            p, q = flows[i, j].as_integer_ratio()
            e_num = abs(p * den - int(num[r, j]) * q) << game.e_d
            if e_num:  # |fl(f) - f| / D_i, rounded up
                rel = e_num / (q * den * int(game.dem[r]))
                worst = max(worst, float(np.nextafter(rel, np.inf)))
        err[i] = worst
    lam = np.zeros(n)
    lam[act] = (xs / (det << game.ec)).astype(float)
    nj = s.sum(axis=0)
    kf = [Fraction(int(v), det * (int(c) + 1)) for v, c in zip(loads, nj, strict=True)]
    for i in np.flatnonzero(~act):  # the marginal cost of the first token, exactly
        best = min(Fraction(int(c)) + f for c, f in zip(game.cost_all[i], kf, strict=True))
        lam[i] = float(best / (1 << game.ec))
    support = np.zeros((n, m), bool)
    support[act] = s
    return ActiveSetResult(flows, lam, flows.sum(axis=0), support, steps, fallback, err, "rational")
