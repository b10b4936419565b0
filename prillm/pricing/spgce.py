"""SPGCE-style pricing with one aggregate, homogeneous population of users (after Harks et al.).

Harks and co-authors study Stackelberg pricing games with congestion effects in which the
followers form a nonatomic congestion game: a homogeneous population of infinitesimal users,
each choosing one resource whose cost is its price plus a linear congestion term. The paper
cites it (harks2021stackelberg) as a simplified solver that ignores user interaction effects.
We implement that model (our interpretation for Problem 1, Eq. 2):

* the users are merged into one population with demand ``sum_i D_i`` and, for each provider,
  the demand-weighted mean latency ``sum_i D_i d_ij / sum_i D_i`` (heterogeneity is dropped);
* the population reaches a Wardrop equilibrium, where the cost of every used provider is
  ``c_j + k_j F_j`` (no user internalises its own congestion, unlike Eq. 12). For one user of
  the atomic game the marginal cost is ``c_j + 2 k_j F_j``, so the Wardrop equilibrium equals a
  one-user game whose capacities are doubled;
* that one-user game's pricing problem is solved exactly by the price path (:mod:`.exact`),
  and the price is evaluated in the true game by the caller.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prillm._threads import limit_threads
from prillm.market import Market
from prillm.pricing import exact
from prillm.pricing.problem import PricingProblem, make_problem

__all__ = ["aggregate_market", "solve"]


def aggregate_market(market: Market) -> Market:
    """The one-population surrogate: total demand, demand-weighted latency, doubled capacity."""
    d = market.demand
    total = float(d.sum())
    weights = d / total if total > 0 else np.full(market.n_users, 1.0 / market.n_users)
    return Market(
        demand=[total],
        price=market.price,
        capacity=2.0 * market.capacity,
        latency=(weights @ market.latency)[None, :],
        provider_ids=market.provider_ids,
        user_ids=["population"],
    )


def solve(prob: PricingProblem) -> tuple[float, dict[str, Any]]:
    """Optimal price of the aggregate Wardrop model (see the module docstring).

    Returns
    -------
    price, diagnostics
        ``model_profit`` (the surrogate's optimum, USD), ``model_breakpoints``,
        ``model_status`` (the exact method's status on the surrogate) and ``status``
        ``"converged"`` (the surrogate is solved exactly; the true game is not).
    """
    agg = aggregate_market(prob.market)
    sub = make_problem(agg, prob.prefs, prob.s, prob.p_max, prob.p_min, prob.marginal_cost)
    with limit_threads():
        price, path = exact.solve(sub)  # the path, repaired or rebuilt where it must be
    return float(price), {
        "model_profit": path["path_profit"],
        "model_breakpoints": path["n_breakpoints"],
        "model_kkt_max_violation": path["kkt_max_violation"],
        "model_status": path["status"],
        "status": "converged",
        "reason": (
            "exact optimum of the one-population surrogate (its price path, "
            f"{len(path['pieces'])} pieces); the true game's users are heterogeneous and "
            "interact, so the price is not certified there"
        ),
    }
