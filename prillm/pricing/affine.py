"""The equilibrium on a fixed support as an affine function of the target's price.

:func:`affine_support` solves the fixed-support KKT system (Eq. 14-17) of the kernel
(:mod:`prillm.equilibrium.kkt`) at a price and its price derivative with one Cholesky factor:
the system is linear in the costs, and only the target's column of the costs moves with its
price. The brute force and SPITER build on it; the exact path keeps the same system up to date
piece by piece (:mod:`prillm.pricing.path_system`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prillm.equilibrium import KKTMatrix
from prillm.equilibrium.kkt import (
    factor,
    kkt_matrix,
    solve_factored,
    system_weights,
    use_users_system,
)
from prillm.pricing.problem import PricingProblem

__all__ = ["AffineSupport", "affine_support"]


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


def affine_support(
    prob: PricingProblem,
    support: np.ndarray,
    p0: float,
    system: KKTMatrix | None = None,
) -> AffineSupport:
    """Solve the KKT system (Eq. 14-17) of a fixed support at ``p0`` and its price derivative.

    One Cholesky factor serves both right-hand sides: the equilibrium at ``p0`` (costs
    ``c(p0)``, demand ``D``) and its derivative (costs ``dc/dp``, non-zero only on column ``s``,
    and zero demand), since the system is linear in ``(c, D)`` for a fixed support. ``system``
    (a :class:`prillm.equilibrium.KKTMatrix`) supplies the matrix by low-rank updates when
    consecutive calls use similar supports.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> from prillm.pricing.problem import make_problem
    >>> mkt = Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    >>> prob = make_problem(mkt, Preferences(w_q=1.0, w_d=0.0), 0, 5.0, 0.0, 0.0)
    >>> aff = affine_support(prob, np.ones((1, 2), bool), 1.0)
    >>> bool(aff.dloads[0] < 0 < aff.dloads[1])  # raising the target's price moves load away
    True
    """
    cost = prob.cost_at(p0)
    capa = prob.capa
    s = prob.s
    a = support.astype(float)
    n, m = a.shape
    nj = a.sum(axis=0)
    rowk = a @ capa
    users = use_users_system((n, m)) if system is None else system.users
    weight, diag = system_weights(capa, nj, rowk, users)
    if system is None:
        chol = factor(kkt_matrix(a, weight, diag, users), overwrite=True)
    else:
        chol = factor(system.matrix(support, None, a, nj, rowk), overwrite=system.disposable)
    ac = a * cost
    a_s = a[:, s] * prob.dcol  # derivative of a * cost: column s only
    row = np.empty((n, 2))  # the kernel's row terms r (value, slope: zero demand)
    row[:, 0] = prob.demand + ac @ capa
    row[:, 1] = a_s * capa[s]
    col = np.zeros((m, 2))  # column terms q
    col[:, 0] = ac.sum(axis=0)
    col[s, 1] = prob.dcol * nj[s]
    lam2, loads2 = solve_factored(chol, a, weight, users, row, col)
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
