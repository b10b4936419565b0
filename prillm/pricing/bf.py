"""The paper's brute force (BF): enumerate the KKT branches of the user-side game.

Every complementarity pattern of Eq. (14-17) is a support ``S`` (each user with demand uses a
non-empty set of providers). For a fixed ``S`` the KKT system is linear, so the equilibrium it
describes is affine in the target's price ``p``; it *is* the equilibrium exactly on the interval
of prices where its flows are >= 0 on ``S`` and its reduced costs are >= 0 off ``S``. On that
interval (intersected with ``[p_min, p_max]``) the profit is a quadratic, maximised in closed
form; the best over all feasible branches is the global optimum of Problem 1 (Eq. 2).

There are ``(2^m - 1)^n`` branches, so this is for small markets only: :func:`solve` refuses
above ``max_branches`` (default 200 000) with a clear error. With a ``time_limit`` (and
``max_branches=None``) it enumerates as far as the budget allows and says how far it got, which
is how an experiment measures what the brute force would cost on a larger market. It shares no
path logic with the ``exact`` method, which makes it an independent check of it.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any

import numpy as np

from prillm._threads import limit_threads
from prillm.pricing.affine import affine_support
from prillm.pricing.exact import CERTIFY_TOL
from prillm.pricing.path_system import RESOLUTION_FACTOR
from prillm.pricing.problem import PricingProblem, maximise_quadratic_piece

__all__ = ["n_branches", "solve"]

#: Default refusal limit on the number of branches.
MAX_BRANCHES = 200_000
_FEAS_TOL = 1e-13


def n_branches(n_users: int, n_providers: int) -> int:
    """Number of KKT branches (supports with non-empty rows): ``(2^m - 1)^n``."""
    return (2**n_providers - 1) ** n_users


def _interval(values: np.ndarray, slopes: np.ndarray, tol: float) -> tuple[float, float]:
    """Prices ``t`` (relative to the reference price) with ``values + t slopes >= -tol``."""
    lo, hi = -math.inf, math.inf
    pos = slopes > 0
    neg = slopes < 0
    if pos.any():
        lo = float(np.max((-tol - values[pos]) / slopes[pos]))
    if neg.any():
        hi = float(np.min((-tol - values[neg]) / slopes[neg]))
    flat = ~(pos | neg)
    if flat.any() and float(values[flat].min()) < -tol:
        return math.inf, -math.inf
    return lo, hi


def solve(
    prob: PricingProblem,
    max_branches: int | None = MAX_BRANCHES,
    time_limit: float | None = None,
) -> tuple[float, dict[str, Any]]:
    """Global optimum of Problem 1 (Eq. 2) by enumerating every KKT branch.

    Parameters
    ----------
    prob
        The problem.
    max_branches
        Refuse markets with more branches than this (``None``: never refuse).
    time_limit
        Stop enumerating after this many seconds (``None``: no limit; at least one branch is
        enumerated). A stopped enumeration returns the best piece of the branches it saw, with
        status ``"not_converged"``.

    Returns
    -------
    price, diagnostics
        ``branches`` (of the market), ``enumerated`` (how many were enumerated),
        ``time_limit_reached``, ``feasible_branches`` (with a non-empty price interval),
        ``best_support`` (as ``(user, provider)`` id pairs), ``path_profit``,
        ``check_resolution`` (what the branches' feasibility tests resolve, scaled units:
        ``RESOLUTION_FACTOR eps sqrt(n + m) max K_j``, as the exact path's end checks) and
        ``status`` (``"global_optimum"``: every branch was enumerated and the tests resolve
        :data:`~prillm.pricing.exact.CERTIFY_TOL`; ``"not_certified"`` when they do not: a
        capacity dwarfs the demand).

    Raises
    ------
    ValueError
        If the market has more than ``max_branches`` branches, or ``time_limit <= 0``.
    """
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"bf: time_limit must be > 0 seconds, got {time_limit!r}")
    t_start = time.perf_counter()
    n, m = prob.shape
    total = n_branches(n, m) if n else 1
    if max_branches is not None and total > max_branches:
        raise ValueError(
            f"bf: {n} users with demand x {m} providers give {total} KKT branches "
            f"(2^m - 1)^n, above max_branches={max_branches}; use method='exact'"
        )
    if n == 0:
        price, value = maximise_quadratic_piece(prob, prob.p_min, prob.p_max, 0.0, 0.0)
        return price, {
            "branches": 1,
            "enumerated": 1,
            "time_limit_reached": False,
            "feasible_branches": 1,
            "path_profit": value,
            "status": "global_optimum",
            "reason": "no user has demand: the profit is zero at every price",
        }
    # every non-empty row of a support, in binary counting order (most significant provider
    # first), as one table: rows[k] is the bits of k + 1
    codes = np.arange(1, 2**m, dtype=np.int64)
    rows = ((codes[:, None] >> np.arange(m - 1, -1, -1)) & 1).astype(bool)
    p_ref = prob.p_min
    best_p, best_v, best_s = prob.p_min, -math.inf, None
    feasible = 0
    enumerated = 0
    stopped = False
    deadline = math.inf if time_limit is None else t_start + time_limit
    with limit_threads():
        for combo in itertools.product(range(len(rows)), repeat=n):
            if enumerated and time.perf_counter() > deadline:
                stopped = True
                break
            enumerated += 1
            support = rows[list(combo)]
            aff = affine_support(prob, support, p_ref)
            vals = np.concatenate([aff.x[support], aff.mu[~support]])
            slopes = np.concatenate([aff.dx[support], aff.dmu[~support]])
            lo, hi = _interval(vals, slopes, _FEAS_TOL)
            lo = max(lo + p_ref, prob.p_min)
            hi = min(hi + p_ref, prob.p_max)
            if lo > hi:
                continue
            feasible += 1
            load_lo = float(aff.loads[prob.s] + (lo - p_ref) * aff.dloads[prob.s])
            p, v = maximise_quadratic_piece(prob, lo, hi, load_lo, float(aff.dloads[prob.s]))
            if v > best_v:
                best_p, best_v, best_s = p, v, support
    # what the feasibility tests resolve: a flow ``K_j (lambda_i - c_ij) - F_j`` carries the
    # round-off of the exact path's end checks (:data:`~prillm.pricing.path_system.
    # RESOLUTION_FACTOR`), over every provider (any branch may use any)
    resolution = RESOLUTION_FACTOR * np.finfo(float).eps * math.sqrt(n + m) * float(prob.capa.max())
    users = np.flatnonzero(prob.active)
    pairs = (
        [
            (prob.market.user_ids[users[i]], prob.market.provider_ids[j])
            for i, j in np.argwhere(best_s)
        ]
        if best_s is not None
        else []
    )
    if stopped:
        status = "not_converged"
        reason = (
            f"time_limit={time_limit} s reached after {enumerated} of {total} KKT branches "
            f"({enumerated / total:.3g} of them; {feasible} feasible); the best piece seen so far"
        )
    elif best_s is None:
        status = "not_certified"
        reason = f"none of the {total} KKT branches was feasible at any admissible price"
    elif resolution > CERTIFY_TOL:
        status = "not_certified"
        reason = (
            f"every one of the {total} KKT branches enumerated ({feasible} feasible on some "
            "price interval), but their feasibility tests in double precision resolve only "
            f"{resolution:.0e} (> {CERTIFY_TOL:.0e}; a capacity dwarfs the demand): a branch "
            "may be misjudged; the best quadratic piece over those judged feasible"
        )
    else:
        status = "global_optimum"
        reason = (
            f"every one of the {total} KKT branches enumerated ({feasible} feasible on some "
            "price interval); the best quadratic piece over all of them"
        )
    return float(best_p), {
        "branches": total,
        "enumerated": enumerated,
        "time_limit_reached": stopped,
        "feasible_branches": feasible,
        "best_support": pairs,
        "path_profit": best_v,
        "check_resolution": resolution,
        "status": status,
        "reason": reason,
    }
