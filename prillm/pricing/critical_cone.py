"""The support of the next piece of the price path: the critical-cone QP over the degenerate routes.

At a breakpoint some routes are *degenerate* (flow and reduced cost both zero). The derivative
``(dx, dlambda)`` of the parametric QP minimises the same kind of QP with costs ``dc/dp``
(non-zero only on the target's column), zero demand, ``dx`` free on strictly used routes,
``dx >= 0`` on degenerate ones and ``dx = 0`` on strictly unused ones (the critical cone). Its
solution says which degenerate routes belong to the next piece's support.
:func:`choose_direction` solves it by an active-set iteration over the degenerate routes only
(each step one solve of the fixed-support system with the derivative right-hand side); on a
cycle (rare) it enumerates the subsets (at most :data:`MAX_ENUMERATION` routes).
:func:`direction_support` and :func:`enumerate_direction_support` are the same two algorithms
as stand-alone functions (for tests and for readers).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from prillm.pricing.affine import AffineSupport
from prillm.pricing.path_system import PathSystem, zero_tolerance
from prillm.pricing.problem import PricingProblem

__all__ = [
    "MAX_ENUMERATION",
    "PathError",
    "choose_direction",
    "classify",
    "direction_support",
    "enumerate_direction_support",
]

#: Degenerate routes beyond which the critical-cone QP is not enumerated.
MAX_ENUMERATION = 16
#: Up to this many degenerate routes, :func:`_wrong_way` first checks them as scalars.
_FEW = 8
_NONE = np.zeros(0, dtype=bool)  # "no route" (all() of it is True, any() False)


class PathError(RuntimeError):
    """The price path could not be followed (a degenerate case beyond the enumeration limit)."""


def _wrong_way(system: PathSystem, deg: np.ndarray, inc: np.ndarray) -> tuple[Any, Any]:
    """Routes among ``deg`` to drop (chosen, flow decreasing) and to add (not chosen, reduced
    cost decreasing), by the slopes of the gap at those positions."""
    if deg.size <= _FEW:  # the usual breakpoint: a scalar check, and nothing wrong
        m, du, dlam, tol = system.shape[1], system.du, system.dlam, system.tol_g
        for k, chosen in zip(deg.tolist(), inc.tolist(), strict=True):
            i, j = divmod(k, m)
            dg = du[j] - dlam[i]
            if (dg > tol) if chosen else (dg < -tol):
                break
        else:
            return _NONE, _NONE
    rows, cols = np.divmod(deg, system.shape[1])
    dg = system.du[cols] - system.dlam[rows]
    return inc & (dg > system.tol_g), ~inc & (dg < -system.tol_g)


def choose_direction(system: PathSystem, p: float, deg: np.ndarray, inc: np.ndarray) -> int:
    """Solve the critical-cone QP over the degenerate routes ``deg`` (flat positions).

    ``inc`` is the first guess of the degenerate routes in the next piece's support (e.g. those
    that just became tight). On return ``system`` holds the next piece's support, solved at
    ``p``: the chosen degenerate routes have ``dx >= 0`` and the others ``dmu >= 0`` (up to the
    zero-slope tolerance). Returns the number of linear solves.
    """
    seen: set[bytes] = {inc.tobytes()}
    system.assign(deg, inc)
    system.solve(p)
    calls = 1
    for _ in range(4 * deg.size + 4):
        drop, add = _wrong_way(system, deg, inc)
        if drop is _NONE or (not drop.any() and not add.any()):
            return calls
        inc = (inc & ~drop) | add
        key = inc.tobytes()
        if key in seen:
            break
        seen.add(key)
        system.assign(deg, inc)
        system.solve(p)
        calls += 1
    # rare: cycling among degenerate routes; the QP is strictly convex, so its unique solution
    # is reached by at least one subset -- enumerate (small sets only)
    return calls + _enumerate(system, p, deg)


def _enumerate(system: PathSystem, p: float, deg: np.ndarray) -> int:
    """The critical-cone QP by enumeration of the subsets of ``deg`` (at most 16 routes)."""
    if deg.size > MAX_ENUMERATION:
        raise PathError(f"{deg.size} degenerate routes at price {p!r}: too many to enumerate")
    calls = 0
    for r in range(deg.size + 1):
        for combo in itertools.combinations(range(deg.size), r):
            inc = np.zeros(deg.size, dtype=bool)
            inc[list(combo)] = True
            system.assign(deg, inc)
            system.solve(p)
            calls += 1
            drop, add = _wrong_way(system, deg, inc)
            if not drop.any() and not add.any():
                return calls
    raise PathError(f"no direction support found at price {p!r}")


def direction_support(
    prob: PricingProblem,
    p: float,
    used: np.ndarray,
    degenerate: np.ndarray,
    guess: np.ndarray | None = None,
) -> tuple[AffineSupport, int]:
    """Support of the next piece: the critical-cone QP solved by active set over ``degenerate``.

    Returns the affine model at ``p`` on ``used | chosen`` and the number of linear solves;
    ``guess`` is a first guess of the chosen degenerate routes. ``used`` and ``degenerate`` are
    boolean ``(n, m)`` arrays as returned by :func:`classify`.
    """
    deg = np.flatnonzero(degenerate)
    inc = np.zeros(deg.size, bool) if guess is None else guess.reshape(-1)[deg]
    system = PathSystem(prob, used & ~degenerate)
    calls = choose_direction(system, p, deg, inc)
    return system.affine(p), calls


def enumerate_direction_support(
    prob: PricingProblem, p: float, used: np.ndarray, degenerate: np.ndarray
) -> tuple[AffineSupport, int]:
    """The critical-cone QP by enumeration of the degenerate subsets (at most 16 routes)."""
    deg = np.flatnonzero(degenerate)
    system = PathSystem(prob, used & ~degenerate)
    calls = _enumerate(system, p, deg)
    return system.affine(p), calls


def classify(
    prob: PricingProblem, support: np.ndarray, x: np.ndarray, mu: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Strictly used and degenerate routes from full flow and reduced-cost arrays."""
    tol = zero_tolerance(support, prob.demand, prob.capa)  # the path's own tolerances
    used = support & (x > tol)
    degenerate = (support & ~used) | (~support & (mu <= tol))
    return used, degenerate
