"""Dense price grid with the exact equilibrium solver, then local refinement (a brute force).

The profit ``(p - c_s) F_s(p)`` (Eq. 2) is evaluated on ``n_points`` equally spaced prices in
``[p_min, p_max]``; each equilibrium is warm-started from the previous grid point's support
(neighbouring prices share most of their support, so each solve takes one or two active-set
iterations). Around the best grid point the bracket ``[p_{k-1}, p_{k+1}]`` is refined by golden
section search. The profit is continuous and piecewise quadratic, so on a fine grid the bracket
contains the global maximiser's piece and the refinement converges to it; on a coarse grid it
can miss a narrow peak, which is what makes this a baseline rather than a certificate.

:func:`price_sweep` is the grid's first step on its own, keeping what each solve found (the
target's load, the support, the solver's iterations); :func:`profit_curve` keeps the profits
only. Both run the same warm-started loop, so their profits are the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm._threads import limit_threads
from prillm.pricing.problem import PricingProblem

__all__ = ["PriceSweep", "price_sweep", "profit_curve", "solve"]

_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0
#: The refinement has converged when its bracket is this narrow (relative to ``max(1, p_max)``).
_BRACKET_TOL = 1e-8


def _warm_sweep(prob: PricingProblem, prices: np.ndarray) -> Iterator[tuple[float, float, Any]]:
    """``(price, scaled load, raw equilibrium)`` at each price, each solve warm-started from the
    previous one's support (``raw`` is ``None`` when no user has demand)."""
    support = None
    with limit_threads():
        for p in prices:
            load, raw = prob.load_at(float(p), support)
            support = None if raw is None else raw.support
            yield float(p), load, raw


def profit_curve(prob: PricingProblem, prices: np.ndarray) -> np.ndarray:
    """Profit (USD, Eq. 2) at each price, exact equilibria warm-started along the (sorted) prices.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> from prillm.pricing import make_problem
    >>> mkt = Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    >>> prob = make_problem(mkt, Preferences(w_q=1.0, w_d=0.0), 0, 4.0, 0.0, 0.0)
    >>> profit_curve(prob, np.array([0.0, 1.0, 2.0, 4.0])).round(6).tolist()
    [0.0, 0.75, 1.0, 0.0]
    """
    out = np.empty(len(prices))
    for k, (p, load, _) in enumerate(_warm_sweep(prob, prices)):
        out[k] = prob.profit_scaled(p, load)
    return out


@dataclass(frozen=True)
class PriceSweep:
    """The target's exact equilibrium at each price of a grid (:func:`price_sweep`).

    Attributes
    ----------
    prices
        ``(N,)`` the target's prices (USD per million tokens), as given.
    load
        ``(N,)`` the target's equilibrium load ``F_s(p)`` (tokens, Eq. 13).
    profit
        ``(N,)`` its profit ``(p - c_s) F_s(p) / 1e6`` (USD, Eq. 2); the values of
        :func:`profit_curve`.
    support
        ``(N, n_a, m)`` which routes carry flow, for the users with demand
        (:attr:`PricingProblem.active`).
    iterations
        ``(N,)`` the linear solves of each (warm-started) active-set solve.
    """

    prices: np.ndarray
    load: np.ndarray
    profit: np.ndarray
    support: np.ndarray
    iterations: np.ndarray


def price_sweep(prob: PricingProblem, prices: np.ndarray) -> PriceSweep:
    """The target's equilibrium along the (sorted) prices, as :func:`profit_curve` computes it.

    Each price's equilibrium is solved exactly by the active-set method on the problem's scaled
    arrays (:meth:`PricingProblem.solve`, not certified), warm-started from the previous
    price's support: neighbouring prices share most of their support, so a solve usually takes
    one or two linear solves.

    Parameters
    ----------
    prob
        The problem (:func:`~prillm.pricing.make_problem`).
    prices
        ``(N,)`` prices of the target, best in increasing order (for the warm starts).

    Returns
    -------
    PriceSweep

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> from prillm.pricing import make_problem
    >>> mkt = Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    >>> prob = make_problem(mkt, Preferences(w_q=1.0, w_d=0.0), 0, 5.0, 0.0, 0.0)
    >>> sweep = price_sweep(prob, np.array([1.0, 2.0, 5.0]))
    >>> sweep.load.round(3).tolist()
    [750000.0, 500000.0, 0.0]
    >>> sweep.support[:, 0].tolist()  # the user's routes to the target and to the rival
    [[True, True], [True, True], [False, True]]
    """
    p = np.asarray(prices, dtype=float)
    n = len(p)
    load, profit, iterations = np.empty(n), np.empty(n), np.zeros(n, dtype=int)
    support = np.zeros((n, *prob.shape), dtype=bool)
    for k, (price, scaled, raw) in enumerate(_warm_sweep(prob, p)):
        load[k] = scaled * prob.d_scale
        profit[k] = prob.profit_scaled(price, scaled)
        if raw is not None:
            support[k] = raw.support
            iterations[k] = raw.iterations
    return PriceSweep(prices=p, load=load, profit=profit, support=support, iterations=iterations)


def solve(
    prob: PricingProblem, n_points: int = 1000, refine_iter: int = 60
) -> tuple[float, dict[str, Any]]:
    """Best grid price, refined by golden section.

    Parameters
    ----------
    prob
        The problem; the grid spans ``[p_min, p_max]``.
    n_points
        Grid size (>= 2).
    refine_iter
        Golden-section iterations in the bracket around the best grid point (0: none).

    Returns
    -------
    price, diagnostics
        ``n_points``, ``grid_best_price``, ``grid_best_profit``, ``refine_iterations``,
        ``equilibria`` (solves used), ``path_profit`` (profit at the returned price),
        ``bracket`` (the final golden-section bracket) and ``status``: ``"converged"`` when the
        bracket is below ``1e-8 max(1, p_max)`` (never a global optimum: a narrow peak between
        grid points can be missed).
    """
    if n_points < 2:
        raise ValueError(f"grid: n_points must be >= 2, got {n_points}")
    prices = np.linspace(prob.p_min, prob.p_max, n_points)
    values = profit_curve(prob, prices)
    k = int(np.argmax(values))
    best_p, best_v = float(prices[k]), float(values[k])
    grid_p, grid_v = best_p, best_v
    lo = float(prices[max(k - 1, 0)])
    hi = float(prices[min(k + 1, n_points - 1)])
    solves = n_points
    width = hi - lo  # the bracket the answer is known to lie in (around the best grid point)

    def f(p: float) -> float:
        return float(prob.profit_scaled(p, prob.load_at(p)[0]))

    with limit_threads():
        if refine_iter > 0 and hi > lo:
            a, b = lo, hi
            c = b - _INV_PHI * (b - a)
            d = a + _INV_PHI * (b - a)
            fc, fd = f(c), f(d)
            solves += 2
            for _ in range(refine_iter):
                if fc >= fd:
                    b, d, fd = d, c, fc
                    c = b - _INV_PHI * (b - a)
                    fc = f(c)
                else:
                    a, c, fc = c, d, fd
                    d = a + _INV_PHI * (b - a)
                    fd = f(d)
                solves += 1
                for p, v in ((c, fc), (d, fd)):
                    if v > best_v:
                        best_p, best_v = p, v
            width = b - a
    converged = width <= _BRACKET_TOL * max(1.0, prob.p_max)
    reason = (
        f"{n_points}-point grid, then golden section to a bracket of {width:.2e} around the best "
        "grid point; not certified: a peak narrower than the grid spacing can be missed"
    )
    return best_p, {
        "n_points": n_points,
        "status": "converged" if converged else "not_converged",
        "reason": reason if converged else reason + f" (bracket above {_BRACKET_TOL:.0e})",
        "bracket": width,
        "grid_best_price": grid_p,
        "grid_best_profit": grid_v,
        "refine_iterations": refine_iter,
        "equilibria": solves,
        "path_profit": best_v,
    }
