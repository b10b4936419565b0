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
    a = np.atleast_2d(np.asarray(intercept, dtype=float))
    h = np.broadcast_to(np.asarray(curvature, dtype=float), a.shape)
    d = np.broadcast_to(np.asarray(demand, dtype=float), a.shape[:1])
    order = np.argsort(a, axis=1, kind="stable")
    a_s = np.take_along_axis(a, order, axis=1)
    inv_h = 1.0 / np.take_along_axis(h, order, axis=1)
    cum_inv = np.cumsum(inv_h, axis=1)
    levels = (d[:, None] + np.cumsum(a_s * inv_h, axis=1)) / cum_inv
    # prefix r is consistent when its last intercept lies below its level; the valid prefixes form
    # an initial run, and the largest one is the answer.
    valid = a_s <= levels
    valid[:, 0] = True  # the cheapest provider alone is always consistent (round-off aside)
    last = a.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1)
    level = levels[np.arange(a.shape[0]), last]
    x = np.maximum(level[:, None] - a, 0.0) / h
    idle = d <= 0
    if idle.any():
        x[idle] = 0.0
        level[idle] = a_s[idle, 0]
    if np.ndim(intercept) == 1:
        return x[0], level[0]
    return x, level
