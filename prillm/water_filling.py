"""Water-filling: a user's exact best response, vectorised over users.

A user with demand ``D`` who faces affine marginal costs ``a_j + h_j x_j`` on each provider
(``h_j > 0``) minimises ``sum_j a_j x_j + h_j x_j^2 / 2`` over ``x >= 0, sum_j x_j = D``.
Its KKT conditions give ``x_j = max(0, (lam - a_j) / h_j)`` with the water level ``lam`` fixed by
the demand: sort the providers by ``a_j`` and take the largest prefix whose last intercept is
below the level of that prefix.

In the user-side game of the paper (Eq. 1), user ``i``'s cost given the others' loads ``G_j`` is
``sum_j x_j (c_ij + k_j G_j) + k_j x_j^2``: water-filling with ``a_j = c_ij + k_j G_j`` and
``h_j = 2 k_j``. This gives the exact best response used to verify Definition 1 (Nash gap), and
the closed-form equilibrium of a one-user market.
"""

from __future__ import annotations

import numpy as np

__all__ = ["water_filling"]


def water_filling(
    intercept: np.ndarray, curvature: np.ndarray, demand: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``sum_j a_j x_j + h_j x_j^2 / 2`` over the scaled simplex, for each row.

    Parameters
    ----------
    intercept
        ``a``, shape ``(m,)`` or ``(n, m)``.
    curvature
        ``h > 0``, broadcastable to ``intercept``.
    demand
        ``D >= 0``, scalar or shape ``(n,)``.

    Returns
    -------
    x : numpy.ndarray
        The unique minimiser(s), same shape as ``intercept``; each row sums to its demand.
    level : numpy.ndarray
        The water level ``lam`` (the common marginal cost on the used providers), one per row.
        For zero demand it is ``min_j a_j``.

    Examples
    --------
    >>> x, lam = water_filling(np.array([0.0, 1.0]), np.array([1.0, 1.0]), 3.0)
    >>> x.tolist(), float(lam)
    ([2.0, 1.0], 2.0)
    """
    a = np.asarray(intercept, dtype=float)
    vector = a.ndim == 1
    if vector:
        a = a.reshape(1, -1)
    n, m = a.shape
    inv = 1.0 / np.asarray(curvature, dtype=float)
    d = np.asarray(demand, dtype=float)
    col = d.reshape(-1, 1) if d.ndim else d
    # sort each row by its intercepts; gather through flat positions (take_along_axis costs more)
    order = a.argsort(axis=1)
    flat = order + np.arange(0, n * m, m).reshape(-1, 1) if n > 1 else order
    a_s = a.reshape(-1)[flat]
    if inv.ndim == 2:
        inv_s = inv.reshape(-1)[flat]
    elif inv.ndim == 1 and inv.shape[0] == m:
        inv_s = inv[order]
    else:
        inv_s = np.broadcast_to(inv, a.shape).reshape(-1)[flat]
    # intercepts relative to each row's cheapest (exact for nearby values), so that the level's
    # round-off is relative to the water height, not to the intercepts: with huge 1/h (nearly
    # flat costs) the flows ``(level - a) / h`` would otherwise lose all their digits
    base = a_s[:, :1].copy()
    a_s -= base
    cum_inv = inv_s.cumsum(axis=1)
    levels = np.multiply(a_s, inv_s).cumsum(axis=1)
    levels += col
    levels /= cum_inv
    # prefix r is consistent when its last intercept lies below its level; the consistent
    # prefixes form an initial run (in exact arithmetic), and the last one is the answer
    valid = a_s <= levels
    valid[:, 0] = True  # the cheapest provider alone is always consistent (round-off aside)
    last = (m - 1) - valid[:, ::-1].argmax(axis=1)
    level = levels.reshape(-1)[np.arange(0, n * m, m) + last] if n > 1 else levels[0, last]
    shifted = a - base
    x = np.subtract(level.reshape(-1, 1), shifted)
    np.maximum(x, 0.0, out=x)
    x *= inv
    # one Newton step on sum_j x_j = D over the routes in use (exact on a fixed prefix)
    used = x > 0
    weight = np.where(used, np.broadcast_to(inv, x.shape), 0.0).sum(axis=1)
    resid = (d.reshape(-1) if d.ndim else d) - x.sum(axis=1)
    level = level.reshape(-1) + np.divide(resid, weight, out=np.zeros(n), where=weight > 0)
    x = np.subtract(level.reshape(-1, 1), shifted)
    np.maximum(x, 0.0, out=x)
    x *= inv
    # what round-off still leaves (about 1e-16 level / h of the flattest route) goes to the
    # flattest used route, whose marginal cost hardly moves: the split is exactly feasible and
    # its cost is off by second-order terms only
    resid = (d.reshape(-1) if d.ndim else d) - x.sum(axis=1)
    flat_inv = np.where(x > 0, np.broadcast_to(inv, x.shape), -np.inf)
    flattest = flat_inv.argmax(axis=1)
    rows = np.arange(n)
    x[rows, flattest] = np.maximum(x[rows, flattest] + resid, 0.0)
    level = level + base[:, 0]
    idle = d <= 0
    if idle.any():
        x[np.broadcast_to(idle, (n,))] = 0.0
        level = np.where(idle, base[:, 0], level)
    if vector:
        return x[0], level[0]
    return x, level
