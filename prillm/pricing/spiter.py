"""SPITER: segmentation-based pricing with iterative optimisation (Jin et al. 2024).

Jin, Guo, Bai, Wu, Liu and Wu, "Congestion-aware Stackelberg pricing game in urban
Internet-of-Things networks: a case study", Computer Networks 2024 (doi
10.1016/j.comnet.2024.110405; ``JIN2024110405`` in the paper, its default solver). Their
abstract states the idea: the MPEC is split into segments of the price range, each segment's
sub-problem is solved by iterative optimisation, which converges to a local maximum, and the
best segment wins. The paper's details were not available to us; this module implements that
idea for Problem 1 (Eq. 2) as follows, and this interpretation is ours:

1. Split ``[p_min, p_max]`` into ``n_segments`` ordered, equal intervals.
2. In each segment start at its midpoint and iterate: solve the user-side equilibrium at the
   current price (exact, warm-started), fix its support (the KKT branch, Eq. 14-17), which makes
   the equilibrium affine and the profit quadratic in the price; maximise that quadratic over
   the whole segment and move there. Stop when the price no longer moves (a fixed point: a local
   maximum of the profit within the segment, or a segment end) or after ``max_iter`` steps.
3. Return the best price seen over all segments (profits measured at exact equilibria).

The model of step 2 is only valid on the branch's own price interval, so an iterate can
overshoot into another branch; the next iteration re-linearises there. With enough segments the
segment containing the global maximiser's piece converges to it, but nothing certifies it: this
is a local method, unlike ``exact``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from prillm._threads import limit_threads
from prillm.pricing.affine import affine_support
from prillm.pricing.problem import PricingProblem, maximise_quadratic_piece

__all__ = ["solve"]


def solve(
    prob: PricingProblem, n_segments: int = 8, max_iter: int = 30
) -> tuple[float, dict[str, Any]]:
    """SPITER on Problem 1 (Eq. 2).

    Parameters
    ----------
    prob
        The problem; its price range is split into the segments.
    n_segments
        Number of ordered price segments (>= 1).
    max_iter
        Iterations per segment.

    Returns
    -------
    price, diagnostics
        ``segments`` (per segment: bounds, final price, profit, iterations, converged),
        ``equilibria`` (exact solves used), ``path_profit`` and ``status`` (``"converged"``
        when the best segment reached its fixed point).
    """
    if n_segments < 1:
        raise ValueError(f"spiter: n_segments must be >= 1, got {n_segments}")
    edges = np.linspace(prob.p_min, prob.p_max, n_segments + 1)
    best_p, best_v = prob.p_min, -np.inf
    segments: list[dict[str, Any]] = []
    best_seg: dict[str, Any] = {"converged": False, "iterations": 0}
    solves = 0
    s = prob.s
    with limit_threads():
        for a, b in itertools.pairwise(edges):
            a, b = float(a), float(b)
            p = 0.5 * (a + b)
            support = None
            seg_p, seg_v, converged, it = p, -np.inf, False, 0
            for it in range(1, max_iter + 1):  # noqa: B007 (reported)
                if prob.demand.size == 0:
                    load = 0.0
                    dload = 0.0
                else:
                    raw = prob.solve(p, support)
                    solves += 1
                    support = raw.support
                    aff = affine_support(prob, support, p)
                    load, dload = float(raw.loads[s]), float(aff.dloads[s])
                v = float(prob.profit_scaled(p, load))
                if v > seg_v:
                    seg_p, seg_v = p, v
                p_new, _ = maximise_quadratic_piece(prob, a, b, load + (a - p) * dload, dload)
                if abs(p_new - p) <= 1e-12 * max(1.0, abs(p)):
                    converged = True
                    break
                p = p_new
            segments.append(
                {
                    "bounds": (a, b),
                    "price": seg_p,
                    "profit": seg_v,
                    "iterations": it,
                    "converged": converged,
                }
            )
            if seg_v > best_v:
                best_p, best_v, best_seg = seg_p, seg_v, segments[-1]
    done = sum(seg["converged"] for seg in segments)
    if best_seg["converged"]:
        status = "converged"
        reason = (
            f"the best of {n_segments} segments reached a fixed point of its quadratic model "
            f"after {best_seg['iterations']} iterations ({done} of {n_segments} segments "
            "converged); a local method: not certified"
        )
    else:
        status = "not_converged"
        reason = (
            f"the best segment did not reach a fixed point in max_iter={max_iter} iterations "
            f"({done} of {n_segments} segments converged)"
        )
    return best_p, {
        "n_segments": n_segments,
        "segments": segments,
        "equilibria": solves,
        "path_profit": best_v,
        "status": status,
        "reason": reason,
    }
