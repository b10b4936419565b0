"""The first support of the active-set iteration: a cheap guess of the equilibrium's routes.

Without a warm start the active-set iteration (:mod:`prillm.equilibrium.active_set`) starts
from a cheap guess rather than from every route (real markets leave most routes unused): the
users are merged into one population (demand-weighted fixed costs, congestion
``k_j (1 + 1/n)`` as for ``n`` identical users, ``k_j (1 + 2/n)`` when the loads are updated),
whose equilibrium is one water-filling; every user then water-fills against those loads. On
markets of 200 routes or more, the loads these flows imply move by a Jacobi step of the
providers' reduced system (:mod:`prillm.equilibrium.kkt`) and the users water-fill again (one
round up to 1,600 routes, two from there on). The routes so chosen are the first support. On
random markets of 20 x 20 and 50 x 50 this takes the iterations from about 3.3-4.5 to
1.5-2.6; it changes the work, never the answer (the iteration ends on the same support, whose
solve gives the flows).

On small markets the cost is the number of numpy calls, not the flops: the level sums come
from one matrix-vector product of a stacked buffer (the routes below the levels as 0/1 floats
over their intercepts), and a level is divided out without a mask unless some user has no
route below it.
"""

from __future__ import annotations

import numpy as np

from prillm.equilibrium._work import ones

__all__ = ["first_support"]

#: The first support's load updates (:func:`first_support`): one from this many routes on, two
#: from the second (measured on random markets: below 200 routes an update costs more than the
#: iterations it saves; the second pays at 50 x 50, not at 20 x 20).
_ROUNDS_FROM = (200, 1600)
#: Reductions called directly (``x.max()`` goes through a Python wrapper first).
_max = np.maximum.reduce
_min = np.minimum.reduce


def _population_loads(cost: np.ndarray, inv_curv: np.ndarray, total: float) -> np.ndarray:
    """Water-filling for one row (the population): sort once, then walk the sorted prefix.

    The same level as :func:`prillm.water_filling` (the consistent prefix found from the
    cheapest provider up), in a plain loop that stops at the first provider above the level:
    for the handful of providers a population uses that costs far fewer numpy calls.
    """
    order = cost.argsort()
    a_s = cost[order].tolist()
    w_s = inv_curv[order].tolist()
    num, den = total, 0.0
    level = a_s[0]
    for a_j, w_j in zip(a_s, w_s, strict=True):
        if a_j > level and den > 0.0:
            break
        num += a_j * w_j
        den += w_j
        level = num / den
    x = level - cost
    np.maximum(x, 0.0, out=x)
    x *= inv_curv
    return x


def _population_guess(cost: np.ndarray, capa: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """The guess of :func:`first_support` without load updates (its small markets).

    The users are merged into one population (demand-weighted fixed costs; congestion
    ``k_j (1 + 1/n)`` at the margin, as for ``n`` identical users), whose equilibrium loads
    ``F`` are one water-filling. User ``i`` then faces the intercepts
    ``a_ij = c_ij + k_j F_j (1 - D_i / D)`` (the others' share of the loads) with curvatures
    ``2 k_j``; its water level is approached from above by two Newton steps, and the routes
    below the level form the guess. For one user the population is the user itself.
    """
    n = demand.shape[0]
    slope = 1.0 / capa
    total = float(np.add.reduce(demand))
    share = demand / total
    loads = _population_loads(share.dot(cost), capa / (1.0 + 1.0 / n), total)
    inter = np.multiply((1.0 - share)[:, None], slope * loads)
    inter += cost
    half = 0.5 * capa  # 1 / (2 k_j)
    # a level above the water: all of the demand on one provider
    work = np.multiply(demand[:, None], 2.0 * slope)
    work += inter
    lam = work.min(axis=1)
    below = np.empty(inter.shape, bool)
    for _ in range(2):
        # the level of the routes below the current one: (D + sum a / 2k) / sum 1 / 2k
        np.less(inter, lam[:, None], out=below)
        work[...] = below
        weight = work.dot(half)
        work *= inter
        level = work.dot(half)
        level += demand
        _new_level(level, weight, lam)
    return _nonempty(inter < lam[:, None], inter)


def _new_level(level: np.ndarray, weight: np.ndarray, lam: np.ndarray) -> bool:
    """``lam = level / weight`` where ``weight > 0`` (elsewhere ``lam`` is kept); all positive?

    A level with no route below it (round-off at huge capacities) keeps the previous one.
    The weights are sums of capacities (``>= 0``): counting the non-zero ones is the test
    ``min > 0`` at a third of a reduction's cost.
    """
    if np.count_nonzero(weight) == weight.shape[0]:
        np.divide(level, weight, out=lam)
        return True
    np.divide(level, weight, out=lam, where=weight > 0)
    return False


def _nonempty(guess: np.ndarray, inter: np.ndarray) -> np.ndarray:
    """``guess`` with each empty row given its cheapest intercept (a level no route is below)."""
    rows = np.logical_or.reduce(guess, 1)
    if np.count_nonzero(rows) < rows.shape[0]:
        empty = np.flatnonzero(~rows)
        guess[empty, inter[empty].argmin(axis=1)] = True
    return guess


def first_support(
    cost: np.ndarray, capa: np.ndarray, demand: np.ndarray, rounds: int | None = None
) -> np.ndarray:
    """A guess of the equilibrium's support: one population, then a few damped load updates.

    With ``rounds=0`` (the default below 200 routes) this is the guess of
    :func:`_population_guess`. Otherwise the users are merged into one population
    (demand-weighted fixed costs; congestion ``k_j (1 + 2/n)`` at the margin), whose
    equilibrium loads ``F`` are one water-filling.
    Holding the loads ``F`` fixed, user ``i`` faces the intercepts ``a_ij = c_ij + k_j F_j``
    with curvature ``k_j`` (its flows ``f_ij = K_j (lambda_i - c_ij) - F_j``, the stationarity
    of Eq. 14); its water level is approached from above by two Newton steps on the piecewise
    linear ``sum_j max(0, K_j (lambda - a_ij)) - D_i`` (each step is exact for the routes below
    the current level and never undershoots). The flows so found imply loads ``T``; each round
    moves the loads by one Jacobi step of the providers' reduced system (Eq. 14-17,
    :mod:`prillm.equilibrium.kkt`) on the routes below the levels,
    ``F_j += (T_j - F_j) / (1 + n_j - K_j sum_i a_ij / kappa_i)``, and shifts every level up
    by the largest intercept increase (so it stays above the water). The routes below the
    final levels form the guess. Only the work depends on it, never the answer.

    Parameters
    ----------
    cost, capa, demand
        Scaled ``c`` (n, m), ``K = 1/k`` (m,) and ``D > 0`` (n,).
    rounds
        Load updates (default: by the number of routes, :data:`_ROUNDS_FROM`); 0: the
        population's guess alone.

    Returns
    -------
    numpy.ndarray
        Boolean ``(n, m)``; every row holds at least its cheapest intercept.
    """
    n, m = cost.shape
    if rounds is None:
        rounds = int(n * m >= _ROUNDS_FROM[0]) + int(n * m >= _ROUNDS_FROM[1])
    if rounds == 0:
        return _population_guess(cost, capa, demand)
    slope = 1.0 / capa
    total = float(np.add.reduce(demand))
    loads = _population_loads((demand / total).dot(cost), capa / (1.0 + 2.0 / n), total)
    inter = np.multiply(slope, loads)
    inter = np.add(cost, inter)
    # a level above the water: all of the demand on one provider
    top = np.multiply(demand[:, None], slope)
    top += inter
    lam = _min(top, 1)
    below = np.empty((n, m), bool)
    # the routes below the levels (0/1 floats) and their intercepts, stacked: one product
    # gives kappa_i = sum K and sum K a over them
    both = np.empty((2 * n, m))
    mask, work = both[:n], both[n:]
    stats = np.empty((3, n))  # rows: the levels, 1 / kappa, ones
    stats[2] = 1.0
    ones_n = ones(n)
    for r in range(rounds + 1):
        for _ in range(2):
            # the level of the routes below the current one: (D + sum K a) / sum K
            np.less(inter, lam[:, None], out=below)
            mask[...] = below  # 0/1 floats (an assignment costs half of np.copyto)
            np.multiply(mask, inter, out=work)
            sums = both.dot(capa)
            kappa, level = sums[:n], sums[n:]
            level += demand
            full = _new_level(level, kappa, lam)
        if r == rounds:
            break
        # the loads implied by the last step (its routes, the new levels), one Jacobi step
        stats[0] = lam
        if full:
            np.divide(1.0, kappa, out=stats[1])
        else:  # a user without routes below its level: any finite weight (its row is zero)
            np.divide(1.0, kappa, out=stats[1], where=kappa > 0)
        col = stats.dot(mask)  # sum_i a_ij lambda_i, sum_i a_ij / kappa_i, n_j
        step = col[0] - ones_n.dot(work)
        step *= capa
        step -= loads
        denom = col[1]
        denom *= capa
        np.subtract(col[2], denom, out=denom)
        denom += 1.0
        step /= denom
        loads += step
        step *= slope  # the intercepts' changes
        inter += step
        lam += max(float(_max(step)), 0.0)
    return _nonempty(inter < lam[:, None], inter)
