"""Exact pricing by following the equilibrium's piecewise-affine path in the target's price.

Problem 1 (Eq. 2) asks for ``max_p (p - c_s) F_s(p)`` over ``[p_min, p_max]``, where ``F_s(p)``
is the target's load in the user-side equilibrium (Eq. 13). Only column ``s`` of the fixed cost
``c_ij = w_p p_j + w_d d_ij - b_j`` moves with ``p``; the equilibrium is the solution of a
strictly convex QP whose linear term is affine in ``p``. For a fixed support the KKT system
(Eq. 14-17) is linear, so flows, loads and multipliers are affine in ``p`` on each piece of
``[p_min, p_max]`` on which the support is constant, and the profit is a quadratic there.

The path
--------
1. Solve the equilibrium at ``p_min`` exactly (active set).
2. At the current price, with the values of the current support, classify every route:
   *strictly used* (flow > 0), *strictly unused* (reduced cost
   ``mu_ij = c_ij + k_j F_j - lambda_i > 0``) or *degenerate* (both zero).
3. Choose the support of the next piece from the directional derivative of the parametric QP:
   the derivative ``(dx, dlambda)`` minimises the same kind of QP with costs ``dc/dp`` (non-zero
   only on column ``s``), zero demand, ``dx`` free on strictly used routes, ``dx >= 0`` on
   degenerate ones and ``dx = 0`` on strictly unused ones (the critical cone). That small QP is
   solved by the same active-set idea over the degenerate routes only. Ties (identical users or
   providers), several simultaneous events and routes that would enter and leave at once are
   therefore resolved exactly, without nudging the price.
4. One Cholesky factor gives the values at the breakpoint and the slope; a ratio test gives the
   next event: a used route whose flow reaches 0 or an unused route whose reduced cost reaches
   0. The event is applied exactly at its breakpoint (the hit routes are set to exactly zero).
5. On each piece the profit is a quadratic, maximised in closed form; the best over all pieces is
   the global optimum of Problem 1.

Every piece is checked at both ends (flows >= 0 on the support, reduced costs >= 0 off it,
demand met); the largest violation is reported as the certificate together with the list of
breakpoints (price, routes entering, routes leaving).

References
----------
Eq. (2) Problem 1; Eq. (12)-(17) the user-side equilibrium and its KKT conditions.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from prillm.pricing._common import (
    AffineSupport,
    PricingProblem,
    SupportMatrix,
    affine_support,
    blas_single_thread,
    maximise_quadratic_piece,
)

__all__ = ["price_path", "solve"]

_TOL = 1e-10


class PathError(RuntimeError):
    """The price path could not be followed (a degenerate case beyond the enumeration limit)."""


def _thresholds(aff: AffineSupport, prob: PricingProblem) -> tuple[float, float]:
    """Zero thresholds for the slopes ``dx`` and ``dmu`` (relative ``1e-11``), cached on ``aff``."""
    cached = getattr(aff, "_thresholds", None)
    if cached is not None:
        return cached
    sx = max(float(aff.dx.max()), -float(aff.dx.min())) if aff.dx.size else 0.0
    smu = max(float(aff.dmu.max()), -float(aff.dmu.min()), abs(prob.dcol))
    out = (1e-11 * max(sx, 1e-300), 1e-11 * max(smu, 1e-300))
    aff._thresholds = out  # type: ignore[attr-defined]
    return out


def _direction_support(
    prob: PricingProblem,
    p: float,
    used: np.ndarray,
    degenerate: np.ndarray,
    guess: np.ndarray | None = None,
    system: SupportMatrix | None = None,
) -> tuple[AffineSupport, int]:
    """Support of the next piece: the critical-cone QP solved by active set over ``degenerate``.

    Returns the affine model at ``p`` on ``used | chosen`` where the chosen degenerate routes
    have ``dx >= 0`` and the others have ``dmu >= 0`` (up to a relative ``1e-11``). ``guess``
    is a first guess of the chosen degenerate routes (e.g. those that just became tight).
    """
    inc = np.zeros_like(degenerate) if guess is None else guess & degenerate
    seen: set[bytes] = {np.packbits(inc).tobytes()}
    aff = affine_support(prob, used | inc, p, system)
    calls = 1
    for _ in range(4 * int(degenerate.sum()) + 4):
        ex, emu = _thresholds(aff, prob)
        drop = inc & (aff.dx < -ex)
        add = degenerate & ~inc & (aff.dmu < -emu)
        if not drop.any() and not add.any():
            return aff, calls
        inc = (inc & ~drop) | add
        key = np.packbits(inc).tobytes()
        if key in seen:
            break
        seen.add(key)
        aff = affine_support(prob, used | inc, p, system)
        calls += 1
    # rare: cycling among degenerate routes; the QP is strictly convex, so its unique solution
    # is reached by at least one subset -- enumerate (small sets only)
    aff, more = _enumerate_direction(prob, p, used, degenerate, system)
    return aff, calls + more


def _enumerate_direction(
    prob: PricingProblem,
    p: float,
    used: np.ndarray,
    degenerate: np.ndarray,
    system: SupportMatrix | None = None,
) -> tuple[AffineSupport, int]:
    """The critical-cone QP by enumeration of the degenerate subsets (at most 16 routes)."""
    idx = np.argwhere(degenerate)
    if len(idx) > 16:
        raise PathError(f"{len(idx)} degenerate routes at price {p!r}: too many to enumerate")
    calls = 0
    for r in range(len(idx) + 1):
        for combo in itertools.combinations(range(len(idx)), r):
            inc = np.zeros_like(degenerate)
            for k in combo:
                inc[tuple(idx[k])] = True
            aff = affine_support(prob, used | inc, p, system)
            calls += 1
            ex, emu = _thresholds(aff, prob)
            if (
                not (inc & (aff.dx < -ex)).any()
                and not (degenerate & ~inc & (aff.dmu < -emu)).any()
            ):
                return aff, calls
    raise PathError(f"no direction support found at price {p!r}")


def _classify(
    prob: PricingProblem, support: np.ndarray, x: np.ndarray, mu: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    xtol = _TOL * prob.demand[:, None]
    used = support & (x > xtol)
    degenerate = (support & ~used) | (~support & (mu <= _TOL))
    return used, degenerate


def _violation(prob: PricingProblem, support: np.ndarray, x: np.ndarray, mu: np.ndarray) -> float:
    """Largest KKT violation of a piece end: negative flow or reduced cost, unmet demand.

    ``x`` is zero off the support and ``mu`` zero on it, so their minima cover both signs.
    """
    primal = float(np.abs(x.sum(axis=1) - prob.demand).max())
    return max(-float(x.min()), -float(mu.min()), primal, 0.0)


def price_path(prob: PricingProblem, max_pieces: int | None = None) -> dict[str, Any]:
    """Follow the equilibrium path over ``[p_min, p_max]``.

    Returns
    -------
    dict
        ``pieces``: list of ``(p_start, p_end, load_start, dload)`` with *real* loads (tokens)
        and slopes (tokens per USD/M); ``breakpoints``: list of dicts (``price``, ``entered``,
        ``left`` as ``(user, provider)`` id pairs); ``best``: ``(price, profit)``;
        ``kkt_max_violation``; ``linear_solves``; ``zero_length_pieces``.
    """
    n, m = prob.shape
    p = prob.p_min
    p_max = prob.p_max
    s = prob.s
    if n == 0:
        best = maximise_quadratic_piece(prob, p, p_max, 0.0, 0.0)
        return {
            "pieces": [(p, p_max, 0.0, 0.0)],
            "breakpoints": [],
            "best": best,
            "kkt_max_violation": 0.0,
            "linear_solves": 0,
            "zero_length_pieces": 0,
        }
    max_pieces = max_pieces or 20 * n * m + 100
    users = np.flatnonzero(prob.active)
    uid = prob.market.user_ids
    pid = prob.market.provider_ids
    raw = prob.solve(p)
    support = raw.support[:]  # active rows only (no zero-demand users here)
    system = SupportMatrix(prob)
    aff = affine_support(prob, support, p, system)
    used, degenerate = _classify(prob, support, aff.x, aff.mu)
    solves = 1
    if degenerate.any():
        aff, calls = _direction_support(prob, p, used, degenerate, None, system)
        solves += calls
    pieces: list[tuple[float, float, float, float]] = []
    events: list[tuple[float, np.ndarray, np.ndarray]] = []
    best_p, best_v = p, -math.inf
    worst = 0.0
    zero_len = 0
    while True:
        supp = aff.support
        x, mu, dx, dmu = aff.x, aff.mu, aff.dx, aff.dmu
        worst = max(worst, _violation(prob, supp, x, mu))
        ex, emu = _thresholds(aff, prob)
        leave = np.flatnonzero(dx < -ex)  # dx is zero off the support
        enter = np.flatnonzero(dmu < -emu)  # dmu is zero on the support
        t_leave = np.maximum(x.ravel()[leave], 0.0) / -dx.ravel()[leave]
        t_enter = np.maximum(mu.ravel()[enter], 0.0) / -dmu.ravel()[enter]
        t = min(
            float(t_leave.min()) if leave.size else math.inf,
            float(t_enter.min()) if enter.size else math.inf,
        )
        p_next = min(p + t, p_max)
        if p_max - p_next <= 1e-13 * max(1.0, abs(p_max)):
            p_next = p_max  # an event within round-off of the end is the end
        if p_next <= p:
            zero_len += 1
        load0, dload = float(aff.loads[s]), float(aff.dloads[s])
        pieces.append((p, p_next, load0 * prob.d_scale, dload * prob.d_scale))
        cand_p, cand_v = maximise_quadratic_piece(prob, p, p_next, load0, dload)
        if cand_v > best_v:
            best_p, best_v = cand_p, cand_v
        step = p_next - p
        x_end = dx * step
        x_end += x  # zero off the support
        mu_end = dmu * step
        mu_end += mu  # zero on the support
        worst = max(worst, _violation(prob, supp, x_end, mu_end))
        if p_next >= p_max:
            break
        if len(pieces) >= max_pieces:
            raise PathError(f"more than {max_pieces} pieces on the price path")
        np.put(x_end, leave[t_leave <= t], 0.0)
        hit_enter = np.zeros(supp.shape, bool)
        np.put(hit_enter, enter[t_enter <= t], True)
        mu_end[hit_enter] = 0.0
        used, degenerate = _classify(prob, supp, x_end, mu_end)
        aff, calls = _direction_support(prob, p_next, used, degenerate, hit_enter, system)
        solves += calls
        new = aff.support
        events.append((p_next, np.flatnonzero(new & ~supp), np.flatnonzero(supp & ~new)))
        p = p_next

    def pairs(flat: np.ndarray) -> list[tuple[str, str]]:
        return [(uid[users[k // m]], pid[k % m]) for k in flat.tolist()]

    return {
        "pieces": pieces,
        "breakpoints": [
            {"price": price, "entered": pairs(inn), "left": pairs(out)}
            for price, inn, out in events
        ],
        "best": (best_p, best_v),
        "kkt_max_violation": worst,
        "linear_solves": solves,
        "zero_length_pieces": zero_len,
    }


def solve(prob: PricingProblem, **opts: Any) -> tuple[float, dict[str, Any]]:
    """Exact global optimum of Problem 1 (Eq. 2) by the price path.

    Parameters
    ----------
    prob
        The problem.
    max_pieces
        Optional cap on the number of pieces (default ``20 n m + 100``).

    Returns
    -------
    price, diagnostics
        ``diagnostics`` holds the breakpoints (the optimality certificate: the profit is an
        explicit quadratic on each piece between them), ``pieces``, ``n_breakpoints``,
        ``path_profit`` (the optimum on the path, USD), ``kkt_max_violation`` and
        ``linear_solves``.
    """
    unknown = set(opts) - {"max_pieces"}
    if unknown:
        raise TypeError(f"exact: unknown option {sorted(unknown)[0]!r}")
    with blas_single_thread():
        path = price_path(prob, opts.get("max_pieces"))
    price, value = path["best"]
    diag = {
        "n_breakpoints": len(path["breakpoints"]),
        "breakpoints": path["breakpoints"],
        "pieces": path["pieces"],
        "path_profit": value,
        "kkt_max_violation": path["kkt_max_violation"],
        "linear_solves": path["linear_solves"],
        "zero_length_pieces": path["zero_length_pieces"],
        "certificate": "global optimum over the listed pieces (profit quadratic on each)",
    }
    return float(price), diag
