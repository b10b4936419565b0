"""The price path rebuilt from accurate equilibria: supports located by bisection.

The exact path (:mod:`prillm.pricing.exact`) follows the equilibrium's piecewise-affine path by
its derivative, in double precision. When a capacity dwarfs the demand, the path's flows are a
huge factor times small cost differences and its end checks can fail (the path then reports
"not certified"). This module repairs such a path from certified equilibria only, on the
whole price range (:func:`bisection_path`) or only over the runs of pieces that fail their
checks (:func:`repair_pieces`, what the exact method uses):

1. Solve the equilibrium (:func:`prillm.solve_equilibrium`, with its accurate refinement and
   forward error bound) on a grid of prices over ``[p_min, p_max]``, plus two prices just
   around each hinted breakpoint (the double-precision path's), so that those are bracketed
   narrowly.
2. Between two neighbouring prices whose equilibria use different routes, bisect until the
   interval is shorter than ``rtol`` (relative): a breakpoint lies inside.
3. Between two prices with the *same* routes (a run of such neighbours is one piece) the support
   is constant and the target's load affine in the price. Proof: the equilibrium is the
   minimiser of a strictly convex QP whose linear term is affine in the price; the set of prices
   at which a given set of routes is an optimal active set is convex (a critical region of a
   parametric QP: Bemporad, Morari, Dua and Pistikopoulos, *Automatica* 38, 2002), so it holds
   on the whole interval, where the solution is that of one equality-constrained QP, affine in
   the price. Each such piece is also checked at its midpoint (the accurate load equals the
   interpolated one), a safeguard against a support misread at round-off level.
4. On each piece the profit is a quadratic, maximised in closed form; between the two ends of a
   located breakpoint the load is continuous, so the best of both ends is within the profit's
   variation over ``rtol`` of it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from prillm.equilibrium import EquilibriumError, solve_equilibrium
from prillm.pricing.problem import PricingProblem, maximise_quadratic_piece

__all__ = ["bisection_path", "repair_pieces"]


class _Point:
    __slots__ = ("key", "load", "price")

    def __init__(self, price: float, load: float, key: bytes):
        self.price = price
        self.load = load
        self.key = key


def bisection_path(
    prob: PricingProblem,
    grid: int = 33,
    rtol: float = 1e-12,
    max_solves: int = 20000,
    hints: Sequence[float] = (),
    hint_width: float = 1e-7,
    lo: float | None = None,
    hi: float | None = None,
    evaluate: bool = True,
) -> dict[str, Any]:
    """Pieces, breakpoints and the best price of Problem 1 from accurate equilibria.

    Parameters
    ----------
    prob
        The problem.
    grid
        Prices of the first grid (the ends included).
    rtol
        Breakpoints are located to ``rtol * max(1, p)``.
    max_solves
        Budget of equilibrium solves.
    hints
        Prices near which breakpoints are expected (e.g. those of the double-precision path).
        Each adds the two prices ``h (1 -/+ hint_width)`` to the first grid, so that a
        breakpoint there is bracketed narrowly and located in few bisections. Hints only place
        grid points: every interval is still judged by certified equilibria at its ends, so a
        wrong hint costs two solves and changes nothing else.
    hint_width
        Relative half-width of the bracket around each hint.
    lo, hi
        The price interval to rebuild (default ``[p_min, p_max]``): the exact path repairs only
        its pieces that fail their end checks. ``hi == lo`` gives one zero-length piece.
    evaluate
        Whether ``best`` is evaluated in the true game (one more solve); otherwise its profit
        is the piece's quadratic at the best price.

    Returns
    -------
    dict
        ``best`` ``(price, profit)``, ``pieces`` ``(p_start, p_end, load_start, dload)`` (loads
        in tokens), ``breakpoints`` (the located intervals), ``solves``, ``midpoint_error`` (the
        largest relative mismatch of a piece's midpoint load), ``ok`` (every check passed).

    Raises
    ------
    EquilibriumError
        If an equilibrium on the way cannot be certified.
    """
    market, prefs, s = prob.market, prob.prefs, prob.s
    active = prob.active
    total = float(market.demand.sum()) or 1.0
    solves = 0

    def point(price: float) -> _Point:
        nonlocal solves
        solves += 1
        if solves > max_solves:
            raise EquilibriumError(f"support bisection: more than {max_solves} solves")
        eq = solve_equilibrium(market.with_price(s, price), prefs)
        key = np.packbits(eq.flows[active] > 0).tobytes()
        return _Point(price, float(eq.loads[s]), key)

    lo = prob.p_min if lo is None else float(lo)
    hi = prob.p_max if hi is None else float(hi)
    if not prob.p_min <= lo <= hi <= prob.p_max:
        raise ValueError(
            f"lo, hi: expected p_min <= lo <= hi <= p_max = {prob.p_max!r}, got {lo!r}, {hi!r}"
        )
    prices = np.linspace(lo, hi, max(grid, 2)) if hi > lo else np.array([lo])
    if len(hints) and hi > lo:
        h = np.asarray(hints, dtype=float)
        h = h[np.isfinite(h)]
        near = np.concatenate([h * (1.0 - hint_width), h * (1.0 + hint_width)])
        near = near[(near > lo) & (near < hi)]
        prices = np.unique(np.concatenate([prices, near]))
    pts = [point(float(p)) for p in prices]
    # bisect every interval whose ends use different routes
    out: list[_Point] = [pts[0]]
    breakpoints: list[tuple[float, float]] = []
    stack = [(pts[k], pts[k + 1]) for k in range(len(pts) - 1)][::-1]
    while stack:
        a, b = stack.pop()
        if a.key == b.key:
            out.append(b)
            continue
        if b.price - a.price <= rtol * max(1.0, abs(a.price)):
            breakpoints.append((a.price, b.price))
            out.append(b)
            continue
        mid = point(0.5 * (a.price + b.price))
        stack.append((mid, b))
        stack.append((a, mid))
    # a run of neighbours with the same routes is one piece (convexity: the routes hold on the
    # whole run, the load is affine on it): keep only each run's first and last point
    out = [
        pt
        for k, pt in enumerate(out)
        if k in (0, len(out) - 1) or not (out[k - 1].key == pt.key == out[k + 1].key)
    ]
    # pieces: neighbours with the same routes (load affine between them), midpoint-checked
    pieces: list[tuple[float, float, float, float]] = []
    best_p, best_v = lo, -math.inf
    worst_mid = 0.0
    if len(out) == 1:  # a single price (lo == hi)
        pieces.append((lo, lo, out[0].load, 0.0))
        best_v = prob.profit_scaled(lo, out[0].load / prob.d_scale)
    for a, b in itertools.pairwise(out):
        slope = (b.load - a.load) / (b.price - a.price) if b.price > a.price else 0.0
        if a.key == b.key and b.price > a.price:
            mid = point(0.5 * (a.price + b.price))
            # interpolated at the midpoint as rounded: on a steep piece (a capacity that dwarfs
            # the demand) the rounding of the price alone moves the load by far more than tol
            t = (mid.price - a.price) / (b.price - a.price)
            interp = a.load + t * (b.load - a.load)
            worst_mid = max(worst_mid, abs(mid.load - interp) / total)
        pieces.append((a.price, b.price, a.load, slope))
        cand_p, cand_v = maximise_quadratic_piece(
            prob, a.price, b.price, a.load / prob.d_scale, slope / prob.d_scale
        )
        if cand_v > best_v:
            best_p, best_v = cand_p, cand_v
    value = prob.evaluate(best_p)[0] if evaluate else float(best_v)
    return {
        "best": (best_p, value),
        "pieces": pieces,
        "breakpoints": breakpoints,
        "solves": solves,
        "midpoint_error": worst_mid,
        "ok": worst_mid <= 1e-9,
    }


def repair_pieces(
    prob: PricingProblem,
    pieces: Sequence[tuple[float, float, float, float]],
    violations: Sequence[float],
    tol: float,
) -> dict[str, Any]:
    """Rebuild from certified equilibria only the pieces of a path that fail their end checks.

    A piece whose two end checks pass (KKT violation at most ``tol``) keeps its support, load
    and slope: the checks certify it on its own, whatever its neighbours. Each run of
    consecutive failing pieces, the interval ``[a, b]`` they cover, is rebuilt by
    :func:`bisection_path` on ``[a, b]`` alone (the grid: its two ends, plus the two prices around
    each inner breakpoint of the run as hints). Where the path's failing piece has the right
    support this costs the two ends and a midpoint check; otherwise the bisection locates the
    true breakpoints inside ``[a, b]``.

    Parameters
    ----------
    prob
        The problem.
    pieces
        The path's pieces ``(p_start, p_end, load_start, dload)`` (loads in tokens), in order.
    violations
        Each piece's KKT violation (the larger of its two end checks, scaled units).
    tol
        The violation above which a piece is rebuilt.

    Returns
    -------
    dict
        ``pieces`` (the good pieces and the rebuilt ones, in order), ``best`` ``(price,
        profit)`` over them (the quadratic of each piece, maximised in closed form),
        ``runs`` (the rebuilt intervals ``(a, b)``), ``repaired`` (the number of path pieces
        rebuilt), ``breakpoints`` (the prices located inside the runs), ``solves``,
        ``midpoint_error``, ``ok``.

    Raises
    ------
    EquilibriumError
        If an equilibrium on the way cannot be certified.
    """
    if len(pieces) != len(violations):
        raise ValueError(
            f"violations: expected one per piece ({len(pieces)}), got {len(violations)}"
        )
    out: list[tuple[float, float, float, float]] = []
    runs: list[tuple[float, float]] = []
    located: list[float] = []
    solves, worst_mid, ok, repaired = 0, 0.0, True, 0
    k = 0
    while k < len(pieces):
        if violations[k] <= tol:
            out.append(tuple(pieces[k]))  # type: ignore[arg-type]
            k += 1
            continue
        end = k
        while end + 1 < len(pieces) and violations[end + 1] > tol:
            end += 1
        a, b = pieces[k][0], pieces[end][1]
        hints = [pieces[j][0] for j in range(k + 1, end + 1)]
        part = bisection_path(prob, grid=2, hints=hints, lo=a, hi=b, evaluate=False)
        out.extend(part["pieces"])
        runs.append((a, b))
        located.extend(hi for _, hi in part["breakpoints"])
        solves += part["solves"]
        worst_mid = max(worst_mid, part["midpoint_error"])
        ok = ok and part["ok"]
        repaired += end - k + 1
        k = end + 1
    best_p, best_v = prob.p_min, -math.inf
    for a, b, load, slope in out:
        cand_p, cand_v = maximise_quadratic_piece(
            prob, a, b, load / prob.d_scale, slope / prob.d_scale
        )
        if cand_v > best_v:
            best_p, best_v = cand_p, cand_v
    return {
        "pieces": out,
        "best": (best_p, best_v),
        "runs": runs,
        "repaired": repaired,
        "breakpoints": located,
        "solves": solves,
        "midpoint_error": worst_mid,
        "ok": ok,
    }
