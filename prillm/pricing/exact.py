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
6. The target's load does not grow with its own price, so at a breakpoint ``p_k`` no higher
   price earns more than ``(max(p_max, c_s) - c_s) F_s(p_k)``; :func:`solve` stops the path at
   the first breakpoint where that bound is at most the best profit found (``stop_early`` of
   :func:`price_path`; ``full_path=True`` follows it to ``p_max``).

Every piece is checked at both ends (flows >= 0 on the support, reduced costs >= 0 off it,
demand met by the flows, loads equal to the flows' column sums); the largest violation is
reported as the certificate together with the list of breakpoints (price, routes entering,
routes leaving). The optimum is certified when every piece's violation is at most
:data:`CERTIFY_TOL` and its checks can resolve that tolerance
(:data:`~prillm.pricing.path_system.RESOLUTION_FACTOR`: a flow is ``K_j`` times a gap, so
huge capacities blur the checks). The pieces that fail (extreme scales: a capacity of 1e12 x
the demand) are rebuilt, one run of consecutive failing pieces at a time, from certified
equilibria by support bisection over that run's interval only
(:func:`~prillm.pricing.support_bisection.repair_pieces`); the pieces that pass keep their
own certificate.

Cost of a piece
---------------
Each piece costs one factorisation of the ``min(n, m)`` KKT matrix and a fixed, small number of
passes over ``n x m`` arrays (or over the few routes near their boundary); the implementation is
organised around keeping both low.

* **One gap array.** With ``u_j = F_j / K_j`` (plus ``w_p p`` on column ``s``), the reduced cost
  of every route is the *gap* ``g_ij = c0_ij + u_j - lambda_i``: the flow of a used route is
  ``x_ij = -K_j g_ij`` and the reduced cost of an unused one is ``mu_ij = g_ij``. Its slope
  ``dg_ij = du_j - dlambda_i`` is an outer difference of two vectors. The linear solve returns
  vectors only (``lambda``, ``F`` and their slopes); the ratio test, both end checks and the
  classification of the next breakpoint read ``g`` and ``dg`` through per-route arrays
  (``-K_j`` or ``1``, the sign ``-1`` or ``+1``, the zero tolerance) that change only where the
  support does, so a piece makes about eighteen in-place passes over preallocated ``n x m``
  buffers and allocates no ``n x m`` temporary (at 200 x 100 a fresh 160 kB array costs more
  than the arithmetic on it).
* **Ratio test in one pass.** The hitting time of every route is ``-g_ij / dg_ij``; a route is a
  candidate when its gap moves towards zero: ``dg_ij > tol`` on the support (the flow
  decreases), ``dg_ij < -tol`` off it (the reduced cost decreases). Multiplying ``dg`` by the
  route's sign turns both cases into one comparison; a full division, a plain mask
  (``np.putmask``: ufuncs with ``where=`` were two to three times slower here) and one maximum
  give the next event.
* **Only the routes near their boundary** (markets of 10,000 routes or more). Most routes never
  come near an event. At a piece computed on the full arrays, the routes whose distance to
  their boundary (in gap units) is below ``h``, about the ``max(4 (n + m), n m / 16)``-th
  smallest, form the *near set*; ``h`` comes from a strided sample, not a full sort. Because
  ``g_ij - g_ij^0 = (u_j - u_j^0) - (lambda_i - lambda_i^0)`` exactly, every route outside the
  set keeps a distance of at least ``h - max_j |u_j - u_j^0| - max_i |lambda_i - lambda_i^0|``
  (a convex function of the price, checked at both ends of each piece): while that is above the
  zero tolerances, the ratio test, both end checks and the classification run over the near
  set only, which is a proof, not a heuristic, that nothing outside it happens on the piece.
  When the bound no longer holds, the piece is redone on the full arrays and the set rebuilt
  (twice as large if the last one did not last a single piece). The near set runs the same
  floating-point operations on the same routes, so both give the same path bit for bit; at
  200 x 100 about nine pieces in ten use it.
* **Support bookkeeping by position.** A breakpoint changes the support only at its degenerate
  routes, a handful of flat positions. The 0/1 support, the masked costs ``a_ij c0_ij`` and the
  per-route arrays are assigned at those positions (exact, nothing accumulates); the row and
  column sums the right-hand sides need are recomputed from them by four BLAS matrix-vector
  products per piece; the KKT matrix is rebuilt for each piece while that is cheap
  (``n m min(n, m)`` up to :data:`~prillm.pricing.path_system.FRESH_MATRIX_MAX`, about 60 x
  60), else updated in place by BLAS rank-one terms (``dger``) over the changed rows (or
  columns) only (:class:`~prillm.equilibrium.KKTMatrix`, told which positions changed, and
  rebuilt from scratch every 32 updates). The critical-cone QP of step 3 likewise reads the
  slopes at the degenerate positions only.
* **A fresh factorisation per piece.** Rank-one Cholesky up- and downdates would save the
  ``O(min(n, m)^3)`` factorisation, but each one is a sequential loop over the columns, which
  in Python costs more than LAPACK's factorisation at these sizes (``dpotrf`` on a 100 x 100
  matrix takes tens of microseconds); the factorisation is not the bottleneck of a piece.

Zero tests are relative: a slope ``dg`` counts as zero below ``1e-11`` times the largest slope
term ``max(|du|, |dlambda|, w_p)``; a route is degenerate at a breakpoint when its gap is at most
``1e-10 min(1, D_i / K_j)`` (scaled units; :func:`~prillm.pricing.path_system.zero_tolerance`):
its flow at most ``1e-10 min(D_i, K_j)``, its reduced cost at most ``1e-10 min(1, D_i / K_j)``.
A degenerate route may change sides at its breakpoint, and its value then carries over (a
reduced cost ``mu`` becomes the flow ``-K_j mu``), so the tolerance is one in gap units: the
carried-over value is at most ``1e-10 D_i`` as a flow and ``1e-10`` as a reduced cost, below
:data:`CERTIFY_TOL`. (A reduced-cost tolerance of ``1e-10`` whatever ``K_j`` let routes enter
with flows of ``-K_j 1e-10``; scaled capacities of 20-500 are ordinary, and such paths failed
their checks.)

References
----------
Eq. (2) Problem 1; Eq. (12)-(17) the user-side equilibrium and its KKT conditions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.linalg import LinAlgError

from prillm._threads import limit_threads
from prillm.equilibrium import EquilibriumError
from prillm.pricing.critical_cone import PathError, choose_direction
from prillm.pricing.path_system import EMPTY, NearRoutes, PathSystem
from prillm.pricing.problem import PricingProblem, maximise_quadratic_piece
from prillm.pricing.support_bisection import bisection_path, repair_pieces

__all__ = ["NEAR_MIN_SIZE", "PathError", "certified_path", "price_path", "proven_pieces", "solve"]

#: Markets with at least this many routes run the ratio test over the routes near zero
#: (measured on the benchmark's markets: the full arrays are 2-9 % faster up to 100 x 50 and
#: 80 x 80, the near set 2-7 % faster from 100 x 100 on, 16 % at 200 x 100).
NEAR_MIN_SIZE = 10_000


def price_path(
    prob: PricingProblem, max_pieces: int | None = None, stop_early: bool = False
) -> dict[str, Any]:
    """Follow the equilibrium path over ``[p_min, p_max]``.

    Parameters
    ----------
    prob
        The pricing problem (:func:`~prillm.pricing.problem.make_problem`).
    max_pieces
        Optional cap on the number of pieces (default ``20 n m + 100``).
    stop_early
        Stop at the first breakpoint ``p_k`` at which no higher price can earn more than the
        best profit found so far: the target's load ``F_s`` is non-increasing in its own price
        (the equilibrium minimises a convex potential whose only ``p_s`` term is
        ``w_p p_s F_s``, so the minimum is concave in ``p_s`` and its derivative
        ``w_p F_s`` non-increasing), hence every price in ``[p_k, p_max]`` earns at most
        ``(max(p_max, c_s) - c_s) F_s(p_k)``. Off by default: the profit curve needs the
        whole path.

    Returns
    -------
    dict
        ``pieces``: list of ``(p_start, p_end, load_start, dload)`` with *real* loads (tokens)
        and slopes (tokens per USD/M); ``breakpoints``: list of dicts (``price``, ``entered``,
        ``left`` as ``(user, provider)`` id pairs); ``best``: ``(price, profit)``;
        ``kkt_max_violation``; ``linear_solves``; ``zero_length_pieces``;
        ``near_set_pieces`` (pieces whose ratio test ran over the near set only);
        ``stopped_at``: ``(price, bound)`` where ``stop_early`` ended the path (``bound`` the
        profit no higher price can exceed, USD), else ``None``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # zero slopes off the candidates
        return _follow(prob, max_pieces, stop_early and prob.dcol >= 0)


def _next_price(p: float, t: float, p_max: float) -> float:
    """The end of a piece starting at ``p`` whose next event is ``t`` away."""
    p_next = min(p + t, p_max)
    if p_max - p_next <= 1e-13 * max(1.0, abs(p_max)):
        p_next = p_max  # an event within round-off of the end is the end
    return p_next


def _follow(prob: PricingProblem, max_pieces: int | None, stop_early: bool) -> dict[str, Any]:
    """The body of :func:`price_path`."""
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
            "piece_violations": [0.0],
            "piece_resolutions": [0.0],
            "linear_solves": 0,
            "zero_length_pieces": 0,
            "near_set_pieces": 0,
            "stopped_at": None,
        }
    max_pieces = max_pieces or 20 * n * m + 100
    users = np.flatnonzero(prob.active)
    uid = prob.market.user_ids
    pid = prob.market.provider_ids
    raw = prob.solve(p)
    # active rows only (no zero-demand users here)
    system = PathSystem(prob, raw.support, fine=CERTIFY_TOL)
    system.solve(p)
    solves = 1
    system.gaps()
    deg = system.degenerate(system.dist)
    if deg.size:
        solves += choose_direction(system, p, deg, np.zeros(deg.size, bool))
    pieces: list[tuple[float, float, float, float]] = []
    events: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
    violations: list[float] = []  # per piece: the larger of its two end checks
    resolutions: list[float] = []  # per piece: what those checks can resolve
    best_p, best_v = p, -math.inf
    worst = 0.0
    zero_len = 0
    # large markets: the ratio test runs over the routes near their boundary (see NearRoutes)
    near_count = max(4 * (n + m), n * m // 16) if n * m >= NEAR_MIN_SIZE else 0
    near: NearRoutes | None = None
    near_pieces = 0
    stopped_at = None
    # the price at which the bound of ``stop_early`` is evaluated: (p - c_s) grows with p
    bound_price = max(p_max, prob.marginal_cost)
    while True:
        # ``view``: the near set when its bound vouches for the whole piece, else None (full)
        view = near if near is not None and near.valid(system, 0.0) else None
        if view is not None:
            start = view.gaps(system)
            t = max(view.ratio_test(system.tol_g), 0.0)
            p_next = _next_price(p, t, p_max)
            if view.valid(system, p_next - p):
                view.used += 1
                near_pieces += 1
            else:
                view = None
        if view is None:
            if near is not None and near.used == 0:
                near_count *= 2  # the set did not last one piece: widen it
            start = system.gaps()
            near = NearRoutes(system, near_count) if 0 < near_count <= n * m // 4 else None
            t = max(system.ratio_test(), 0.0)
            p_next = _next_price(p, t, p_max)
        if p_next <= p:
            zero_len += 1
        load0, dload = float(system.loads[s]), float(system.dloads[s])
        pieces.append((p, p_next, load0 * prob.d_scale, dload * prob.d_scale))
        cand_p, cand_v = maximise_quadratic_piece(prob, p, p_next, load0, dload)
        if cand_v > best_v:
            best_p, best_v = cand_p, cand_v
        last = p_next >= p_max
        if view is not None:
            hit = EMPTY if last else view.hits(t)
            violation = max(start, view.end(system, p_next - p))
        else:
            hit = EMPTY if last else system.hits(t)
            violation = max(start, system.end(p_next - p))
        violations.append(violation)
        resolutions.append(system.resolution)
        worst = max(worst, violation)
        if last:
            break
        if stop_early:
            bound = float(prob.profit_scaled(bound_price, load0 + (p_next - p) * dload))
            if bound <= best_v:
                stopped_at = (p_next, bound)
                break
        if len(pieces) >= max_pieces:
            raise PathError(f"more than {max_pieces} pieces on the price path")
        # the degenerate routes at the breakpoint (the hit routes are exactly zero)
        deg = system.end_degenerate(hit) if view is None else view.end_degenerate(system)
        before = system.in_support(deg)
        # first guess: the routes that just became tight enter, the other degenerate ones wait
        guess = system.marked(deg, hit) & ~before
        solves += choose_direction(system, p_next, deg, guess)
        after = system.in_support(deg)
        events.append((p_next, deg, before, after))  # routes listed at the end
        p = p_next

    def pairs(flat: np.ndarray) -> list[tuple[str, str]]:
        return [(uid[users[k // m]], pid[k % m]) for k in flat.tolist()]

    return {
        "pieces": pieces,
        "breakpoints": [
            {
                "price": price,
                "entered": pairs(deg[after & ~before]),
                "left": pairs(deg[before & ~after]),
            }
            for price, deg, before, after in events
        ],
        "best": (best_p, best_v),
        "kkt_max_violation": worst,
        "piece_violations": violations,
        "piece_resolutions": resolutions,
        "linear_solves": solves,
        "zero_length_pieces": zero_len,
        "near_set_pieces": near_pieces,
        "stopped_at": stopped_at,
    }


#: The largest KKT violation along the path (scaled units) for which the optimum is certified.
CERTIFY_TOL = 1e-9


def solve(
    prob: PricingProblem, max_pieces: int | None = None, full_path: bool = False
) -> tuple[float, dict[str, Any]]:
    """Exact global optimum of Problem 1 (Eq. 2) by the price path.

    Parameters
    ----------
    prob, max_pieces
        As in :func:`price_path`.
    full_path
        Follow the path up to ``p_max`` (for the profit curve: ``diagnostics["pieces"]``
        then covers the whole price range). By default the path stops at the first
        breakpoint beyond which no price can earn more than the best found (see
        ``stop_early`` of :func:`price_path`); the optimum is the same. A path that stopped
        early but fails its checks is followed again in full before it is repaired.

    Returns
    -------
    price, diagnostics
        ``diagnostics`` holds the breakpoints (the optimality certificate: the profit is an
        explicit quadratic on each piece between them), ``pieces``, ``n_breakpoints``,
        ``path_profit`` (the optimum on the path, USD), ``kkt_max_violation``,
        ``check_resolution`` (the coarsest resolution of a piece's checks),
        ``repaired_pieces`` (pieces rebuilt from certified equilibria), ``linear_solves``,
        ``stopped_at`` (``{"price", "bound"}`` where the path stopped early, else ``None``), and
        ``status``: ``"global_optimum"`` when every piece was either checked at both ends to a
        KKT violation of at most :data:`CERTIFY_TOL` by checks that resolve it, or rebuilt
        from certified equilibria with its midpoint checked; ``"not_certified"`` otherwise.

    When the path cannot be followed in double precision at all (a support's matrix that is
    not numerically positive definite, or more than ``max_pieces`` pieces: round-off
    chattering where a capacity dwarfs the demand), the whole price range is rebuilt from
    certified equilibria instead (:func:`~prillm.pricing.support_bisection.bisection_path`),
    and the reason says so.

    Raises
    ------
    prillm.equilibrium.EquilibriumError
        If the path cannot be followed and an equilibrium of the rebuild cannot be certified
        either (the message names both causes).
    """
    try:
        with limit_threads():
            path = price_path(prob, max_pieces, stop_early=not full_path)
            if path["stopped_at"] is not None and not certified_path(path):
                # the bound that stopped the path reads a load the checks did not vouch for
                path = price_path(prob, max_pieces)
    except (LinAlgError, PathError) as exc:
        return _rebuilt(prob, exc)
    price, value = path["best"]
    worst = path["kkt_max_violation"]
    pieces = len(path["pieces"])
    repaired = 0
    coarsest = max(path["piece_resolutions"])
    stop = path["stopped_at"]
    if certified_path(path):
        status = "global_optimum"
        reason = (
            f"exact price path: {pieces} pieces, each checked at both ends (KKT violation "
            f"{worst:.1e}, resolved to {coarsest:.0e}); the profit is a quadratic on each, "
            "maximised in closed form"
        )
        if stop is not None:
            reason += (
                f"; the path stopped at {stop[0]:.6g} USD/M, above which no price earns more "
                f"than {stop[1]:.6g} USD (the load there times the highest margin; the "
                "target's load does not grow with its own price), at most the best found"
            )
    else:
        failing = sum(
            max(v, r) > CERTIFY_TOL
            for v, r in zip(path["piece_violations"], path["piece_resolutions"], strict=True)
        )
        status = "not_certified"
        unresolved = sum(r > CERTIFY_TOL for r in path["piece_resolutions"])
        causes = []
        if worst > CERTIFY_TOL:
            causes.append(f"violate the KKT conditions by up to {worst:.1e} (> {CERTIFY_TOL:.0e})")
        if unresolved:
            causes.append(
                f"have checks that resolve only {coarsest:.0e} (> {CERTIFY_TOL:.0e}; a capacity "
                "dwarfs the demand)"
            )
        why = " or ".join(causes)
        reason = (
            f"exact price path: {failing} of {pieces} pieces {why}; the price is the best on "
            "the path as computed"
        )
        with limit_threads():
            repair = _repair(prob, path)
        if repair is not None and repair["ok"]:
            price, value = repair["best"]
            status = "global_optimum"
            repaired = repair["repaired"]
            reason = (
                f"exact price path repaired: the {failing} of {pieces} pieces that {why} were "
                f"rebuilt from {repair['solves']} certified equilibria, supports located by "
                f"bisection; the other pieces checked at both ends (KKT violation <= "
                f"{CERTIFY_TOL:.0e}); the profit is a quadratic on each, maximised in closed form"
            )
            path["breakpoints"] = _repaired_breakpoints(prob, path, repair)
            path["pieces"] = repair["pieces"]
            pieces = len(repair["pieces"])
        elif repair is not None:
            reason += (
                f"; a repair from certified equilibria did not check out (a piece's midpoint "
                f"is off by {repair['midpoint_error']:.1e} of the demand)"
            )
        else:
            reason += "; a repair from certified equilibria failed (an equilibrium on the way "
            reason += "could not be certified)"
    diag = {
        "n_breakpoints": len(path["breakpoints"]),
        "breakpoints": path["breakpoints"],
        "pieces": path["pieces"],
        "path_profit": value,
        "kkt_max_violation": worst,
        "check_resolution": coarsest,
        "repaired_pieces": repaired,
        "linear_solves": path["linear_solves"],
        "zero_length_pieces": path["zero_length_pieces"],
        "stopped_at": None if stop is None else {"price": stop[0], "bound": stop[1]},
        "certificate": "global optimum over the listed pieces (profit quadratic on each)"
        + ("" if stop is None else "; above the last, bounded by the load there"),
        "status": status,
        "reason": reason,
    }
    return float(price), diag


def proven_pieces(prob: PricingProblem) -> tuple[list[tuple[float, float, float, float]], bool]:
    """The pieces of the whole price path, and whether they are proven.

    The path as followed when every piece passes its end checks (:func:`certified_path`);
    otherwise (or when it cannot be followed in double precision) the pieces of :func:`solve`
    with ``full_path=True``, repaired or rebuilt from certified equilibria, proven when its
    status is ``"global_optimum"``. For callers that read the whole curve (the joint profit of
    :mod:`prillm.pricing.collusion`) rather than only its best point.
    """
    try:
        with limit_threads():
            path = price_path(prob)
        if certified_path(path):
            return list(path["pieces"]), True
    except (LinAlgError, PathError):
        pass
    _, diag = solve(prob, full_path=True)
    return list(diag["pieces"]), diag["status"] == "global_optimum"


def _rebuilt(prob: PricingProblem, cause: Exception) -> tuple[float, dict[str, Any]]:
    """The optimum from the price range rebuilt from certified equilibria (the path failed)."""
    try:
        with limit_threads():
            rebuilt = bisection_path(prob)
    except EquilibriumError as exc:
        raise EquilibriumError(
            f"exact price path: could not be followed in double precision ({cause}), and "
            f"rebuilding it from certified equilibria failed too ({exc})"
        ) from exc
    price, value = rebuilt["best"]
    pieces = rebuilt["pieces"]
    how = (
        f"the double-precision path could not be followed ({cause}); the price range was "
        f"rebuilt from {rebuilt['solves']} certified equilibria, supports located by bisection"
    )
    if rebuilt["ok"]:
        status = "global_optimum"
        reason = (
            f"exact price path rebuilt: {how}, each of the {len(pieces)} pieces checked at its "
            "midpoint; the profit is a quadratic on each, maximised in closed form"
        )
    else:
        status = "not_certified"
        reason = (
            f"exact price path rebuilt: {how}, but a piece's midpoint is off by "
            f"{rebuilt['midpoint_error']:.1e} of the demand; the price is the best on the "
            "rebuilt path"
        )
    breakpoints = [{"price": b, "entered": [], "left": []} for _, b in rebuilt["breakpoints"]]
    diag = {
        "n_breakpoints": len(breakpoints),
        "breakpoints": breakpoints,
        "pieces": pieces,
        "path_profit": value,
        "kkt_max_violation": None,  # no piece of a followed path was checked
        "check_resolution": None,
        "repaired_pieces": len(pieces),
        "linear_solves": rebuilt["solves"],
        "zero_length_pieces": 0,
        "stopped_at": None,
        "certificate": "global optimum over the listed pieces (profit quadratic on each), "
        "rebuilt from certified equilibria",
        "status": status,
        "reason": reason,
        "path_error": str(cause),
    }
    return float(price), diag


def certified_path(path: dict[str, Any]) -> bool:
    """Whether every piece of a :func:`price_path` passed its end checks, and the checks resolve
    the tolerance (:data:`CERTIFY_TOL`): then its best point is the proven optimum."""
    return path["kkt_max_violation"] <= CERTIFY_TOL and not any(
        r > CERTIFY_TOL for r in path["piece_resolutions"]
    )


def _repair(prob: PricingProblem, path: dict[str, Any]) -> dict[str, Any] | None:
    """The failing pieces of ``path`` rebuilt from certified equilibria (None when one cannot
    be certified); see :func:`~prillm.pricing.support_bisection.repair_pieces`."""
    try:
        flags = [
            max(v, r)
            for v, r in zip(path["piece_violations"], path["piece_resolutions"], strict=True)
        ]
        return repair_pieces(prob, path["pieces"], flags, CERTIFY_TOL)
    except EquilibriumError:
        return None


def _repaired_breakpoints(
    prob: PricingProblem, path: dict[str, Any], repair: dict[str, Any]
) -> list[dict[str, Any]]:
    """The path's breakpoints outside the rebuilt runs (with their routes), the ends of the
    runs inside ``(p_min, p_max)`` and the breakpoints located in them (routes not listed)."""
    runs = repair["runs"]
    kept = [b for b in path["breakpoints"] if not any(a <= b["price"] <= c for a, c in runs)]
    ends = [p for run in runs for p in run if prob.p_min < p < prob.p_max]
    new = sorted(set(ends) | set(repair["breakpoints"]))
    kept.extend({"price": p, "entered": [], "left": []} for p in new)
    return sorted(kept, key=lambda b: b["price"])
