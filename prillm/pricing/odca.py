"""ODCA-style pricing with decoupled users (after Chen et al. 2020).

The paper groups ODCA (chen2020stackelberg) with SPGCE as "a simplified MPEC solver by ignoring
user interaction effects". We implement that idea, and only that idea (our interpretation; the
original targets a different market): the leader freezes every user's view of the others at the
current equilibrium (the market's prices, the target's clipped to ``[p_min, p_max]``) and
assumes each user alone re-optimises when the target's price changes. User ``i``'s response to
a price ``p`` is then its exact best response (a water-filling problem, Eq. 1 with the others'
flows fixed at ``F_j - f_ij``), and the leader's demand model is the sum of these responses. The
model ignores that the users' responses move each other's congestion, which is what the true
equilibrium (Eq. 13) accounts for.

The model's profit is maximised on a grid of ``n_points`` prices and refined by golden section
around the best one; the price is then evaluated in the true game by the caller. With
``rounds > 1`` the freeze is redone at the new price (a fixed-point heuristic); the default is
one round, the pure decoupled model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from prillm._threads import limit_threads
from prillm.pricing.problem import PricingProblem
from prillm.water_filling import water_filling

__all__ = ["solve"]

_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


def _model_profit(prob: PricingProblem, others: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """Model profit (USD) at each price: sum of decoupled best responses on column ``s``."""
    slope = 1.0 / prob.capa
    out = np.empty(len(prices))
    for k, p in enumerate(prices):
        intercept = prob.cost_at(float(p)) + slope * others
        br, _ = water_filling(intercept, 2.0 * slope, prob.demand)
        out[k] = prob.profit_scaled(float(p), float(br[:, prob.s].sum()))
    return out


def solve(
    prob: PricingProblem, n_points: int = 200, refine_iter: int = 40, rounds: int = 1
) -> tuple[float, dict[str, Any]]:
    """Decoupled-users pricing (see the module docstring).

    Parameters
    ----------
    prob
        The problem.
    n_points, refine_iter
        Grid size and golden-section iterations for the model's profit.
    rounds
        How many times the users' view is frozen anew at the latest price (>= 1).

    Returns
    -------
    price, diagnostics
        ``model_profit`` (the model's own profit at the price), ``rounds``, ``frozen_at``
        (the price of the last freeze), ``bracket`` and ``status``: ``"converged"`` when the
        model's maximiser is bracketed to ``1e-8 max(1, p_max)`` and, with several rounds, the
        last two rounds agree that closely (the model ignores the users' interaction: never a
        certified optimum of the true game).
    """
    if n_points < 2 or rounds < 1:
        raise ValueError(f"odca: n_points >= 2 and rounds >= 1 needed, got {n_points}, {rounds}")
    p0 = prob.start_price()
    price, model_v = p0, 0.0
    if prob.demand.size == 0:
        return p0, {
            "model_profit": 0.0,
            "rounds": 0,
            "status": "converged",
            "reason": "no user has demand: the profit is zero at every price",
        }
    tol = 1e-8 * max(1.0, prob.p_max)
    width = moved = math.inf
    with limit_threads():
        for _ in range(rounds):
            raw = prob.solve(p0)
            others = raw.loads[None, :] - raw.flows
            grid = np.linspace(prob.p_min, prob.p_max, n_points)
            vals = _model_profit(prob, others, grid)
            k = int(np.argmax(vals))
            price, model_v = float(grid[k]), float(vals[k])
            a, b = float(grid[max(k - 1, 0)]), float(grid[min(k + 1, n_points - 1)])
            for _ in range(refine_iter):
                c = b - _INV_PHI * (b - a)
                d = a + _INV_PHI * (b - a)
                fc, fd = _model_profit(prob, others, np.array([c, d]))
                if fc >= fd:
                    b = d
                else:
                    a = c
                for p, v in ((c, fc), (d, fd)):
                    if v > model_v:
                        price, model_v = float(p), float(v)
            width = b - a
            moved = abs(price - p0)
            frozen = p0
            p0 = price
    converged = width <= tol and (rounds == 1 or moved <= tol)
    reason = (
        f"the decoupled-users model's profit maximised to a bracket of {width:.2e} "
        f"({rounds} freeze{'s' if rounds > 1 else ''}); the model ignores how the users' "
        "responses move each other's congestion, so the price is not certified in the true game"
    )
    if not converged:
        reason += f" (not converged: bracket or last move above {tol:.1e})"
    return price, {
        "model_profit": model_v,
        "rounds": rounds,
        "frozen_at": frozen,
        "bracket": width,
        "status": "converged" if converged else "not_converged",
        "reason": reason,
    }
