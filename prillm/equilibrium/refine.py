"""Accurate refinement of the final support's solve, and the support's last check at full accuracy.

Why
---
When a capacity is large against the demand (``K_j = 1/k_j`` huge in scaled units: congestion
nearly negligible), a flow ``f_ij = K_j (lambda_i - c_ij) - F_j`` is a huge factor times a small
difference of two costs. A double holds ``lambda_i`` and ``c_ij`` to about ``1e-16`` of their
size, so the flows come out wrong by about ``1e-16 K_j`` of the demand: at ``K_j = 1e13`` a
thousandth of it, although every KKT residual is tiny. The same rounding decides near-ties: an
unused route whose reduced cost is ``-1e-20`` would carry ``1e-20 K_j`` tokens.

How
---
Iterative refinement with an accurate residual (Wilkinson; Higham, *Accuracy and Stability of
Numerical Algorithms*, ch. 12): the fixed costs carry their rounding error
(:func:`prillm.market.cost_rounding_error`) and the multipliers a second double, so that every
difference ``lambda_i - c_ij`` is formed to about 106 bits (:mod:`prillm._dd`); the residuals
of the demand (Eq. 15) and load equations are formed from those differences and corrected with
the support's Cholesky factor (:mod:`prillm.equilibrium.kkt`). Corrections repeat (at most
``steps``) until each flow moves by less than ``1e-17`` of its user's demand. The support is then
checked again with the accurate flows and reduced costs; an unused route whose accurate reduced
cost times ``-K_j`` (about the flow it would draw) exceeds ``1e-15`` of its user's demand enters,
a used route whose accurate flow is negative leaves, and the refinement repeats (one change at a
time if a support repeats).

The bound on each flow (:attr:`Refined.error`, the certificate's ``flow_error`` once divided by
the user's demand) is twice the last correction ``|K_j delta lambda_i - delta F_j|`` (the forward
error estimate of iterative refinement), plus the round-off of the flow's own evaluation, plus the
floor of double-double differences ``8 eps^2 K_j (|lambda_i| + |c_ij|)``, plus, for an unused
route, the little it could draw below the entry threshold; it is infinite when the support could
not be settled.
"""

from __future__ import annotations

import numpy as np

from prillm._dd import dd_add, dd_sub, two_prod, two_sum
from prillm.equilibrium.kkt import SupportKKT

__all__ = ["Refined", "refine_support"]

#: Relative size (of its user's demand) below which a flow's correction counts as converged.
_CONVERGED = 1e-17
#: The unit round-off of a double.
_EPS = 2.0**-53
#: An unused route enters when the flow it would draw exceeds this share of its user's demand.
_ENTER = 1e-15


class Refined:
    """The refined equilibrium in scaled units.

    Attributes
    ----------
    flows, lam, lam_lo, loads, support
        Flows, multipliers (with their low parts), loads and support.
    error
        ``(n, m)``: each flow's forward error estimate (scaled flow units): the size of the
        last correction plus the round-off of the flow's evaluation; ``inf`` everywhere when the
        support could not be settled within the allowed changes.
    rounds
        Support changes made at full accuracy.
    kkt
        The factorised system of the final support.
    """

    __slots__ = ("error", "flows", "kkt", "lam", "lam_lo", "loads", "rounds", "support")

    def __init__(self, flows, lam, lam_lo, loads, support, error, rounds, kkt):
        self.flows = flows
        self.lam = lam
        self.lam_lo = lam_lo
        self.loads = loads
        self.support = support
        self.error = error
        self.rounds = rounds
        self.kkt = kkt


def _flows(lam, lam_lo, loads, loads_lo, cost, cost_lo, capa):
    """``K_j (lambda_i - c_ij) - F_j`` to about the round-off of its own size, on every route.

    The difference ``lambda_i - c_ij`` and the loads are carried to about 106 bits, so that the
    result is accurate relative to itself even when both terms are huge (``K_j``) or the loads
    dwarf a small user's flow.
    """
    dh, dl = dd_sub(lam[:, None], lam_lo[:, None], cost, cost_lo)
    ph, pl = two_prod(dh, capa)
    pl += dl * capa
    fh, fl = dd_sub(ph, pl, np.broadcast_to(loads, ph.shape), np.broadcast_to(loads_lo, ph.shape))
    return fh + fl


def _column_sums(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column sums of ``x`` as double-doubles (compensated summation over the rows)."""
    hi = np.zeros(x.shape[1])
    lo = np.zeros(x.shape[1])
    for row in x:
        hi, err = two_sum(hi, row)
        lo += err
    return hi, lo


@np.errstate(over="ignore", invalid="ignore")  # an overflow shows as an infinite estimate
def refine_support(
    cost: np.ndarray,
    cost_lo: np.ndarray,
    capa: np.ndarray,
    demand: np.ndarray,
    support: np.ndarray,
    lam: np.ndarray,
    loads: np.ndarray,
    system: str = "auto",
    steps: int = 8,
    max_rounds: int = 20,
) -> Refined:
    """Refine ``(lambda, F)`` on ``support`` with accurate residuals; recheck the support.

    Parameters
    ----------
    cost, cost_lo
        Scaled fixed costs and their rounding errors (both ``(n, m)``; ``cost + cost_lo`` is
        the exact scaled cost to about 106 bits).
    capa
        Scaled ``K_j = 1 / k_j``, shape ``(m,)``.
    demand
        Scaled demands, all positive, shape ``(n,)``.
    support, lam, loads
        The active-set solver's support, multipliers and loads.
    system
        Which reduced system to factorise (see :class:`~prillm.equilibrium.kkt.SupportKKT`).
    steps
        Corrections per support.
    max_rounds
        Support changes allowed at full accuracy.

    Returns
    -------
    Refined
        Where the double-double arithmetic overflows (terms beyond about ``1e300``: a capacity
        of ``1e-300`` next to ordinary ones), the error estimate is infinite, so that the
        caller's certificate fails and the exact rational path takes over; no floating-point
        warning is raised on the way.
    """
    s = support.copy()
    lam_lo = np.zeros_like(lam)
    lam = lam.copy()
    loads = loads.copy()
    loads_lo = np.zeros_like(loads)
    rounds = 0
    seen: set[bytes] = set()
    while True:
        kkt = SupportKKT(capa, s, system)
        a = kkt.a
        error = np.full(s.shape, np.inf)
        for _ in range(steps):
            flows = _flows(lam, lam_lo, loads, loads_lo, cost, cost_lo, capa)
            flows *= a
            row = demand - flows.sum(axis=1)
            sum_hi, sum_lo = _column_sums(flows)
            col = ((loads - sum_hi) + (loads_lo - sum_lo)) / capa
            dlam, dloads = kkt.solve(row, col)
            lam, lam_lo = dd_add(lam, lam_lo, dlam, np.zeros_like(dlam))
            loads, loads_lo = dd_add(loads, loads_lo, dloads, np.zeros_like(dloads))
            error = np.multiply.outer(dlam, capa)
            error -= dloads
            error *= a
            np.abs(error, out=error)
            if bool((error <= _CONVERGED * demand[:, None]).all()):
                break
        # K_j (lambda_i - c_ij) - F_j: the flow of a used route, and for an unused one the
        # reduced cost c + F / K - lambda times -K (positive: the route is cheaper than the rest)
        flows = _flows(lam, lam_lo, loads, loads_lo, cost, cost_lo, capa)
        leave = s & (flows < 0.0)
        enter = ~s & (flows > _ENTER * demand[:, None])
        if (not leave.any() and not enter.any()) or rounds >= max_rounds:
            # an unused route that would draw a little (below the entry threshold) may carry
            # that much in the exact equilibrium: it counts in the bound
            error += np.maximum(flows, 0.0) * ~s
            flows *= a
            settled = not leave.any() and not enter.any()
            # the forward error estimate of each flow: the last correction (what the refinement
            # still moved), the round-off of the flow's own evaluation, and nothing certain at
            # all where the support could not be settled
            # twice the last correction (refinement converges at least twice as fast as that
            # here), the flows' own round-off, and the floor of the double-double differences
            error *= 2.0
            error += 4.0 * _EPS * np.abs(flows)
            floor = np.abs(lam)[:, None] + np.abs(cost)
            floor *= capa
            floor *= 8.0 * _EPS * _EPS
            error += floor * a
            if not settled or not np.isfinite(error).all():
                error[:] = np.inf
            np.maximum(flows, 0.0, out=flows)
            return Refined(flows, lam, lam_lo, loads, s, error, rounds, kkt)
        rounds += 1
        key = np.packbits(s).tobytes()
        if key in seen:  # a cycle: one change at a time, the largest violation first
            score = np.where(leave, -flows, np.where(enter, flows, -np.inf))
            k = np.unravel_index(int(np.argmax(score)), score.shape)
            leave = np.zeros_like(leave)
            enter = np.zeros_like(enter)
            (leave if s[k] else enter)[k] = True
        seen.add(key)
        s = (s & ~leave) | enter
        empty = ~s.any(axis=1)
        if empty.any():  # keep each user's cheapest route
            best = np.argmax(flows, axis=1)
            s[np.flatnonzero(empty), best[empty]] = True
