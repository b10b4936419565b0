"""PriLLM's pricing pipeline as a pricing method: abstract the game, then solve the small one.

``optimal_price(market, prefs, target, method="prillm", K=2, solver="spiter")`` runs
:func:`solve`: the deep aggregation network (shipped weights unless ``weights`` is given)
reduces the rivals to ``K`` (paper Section 5.1), any other pricing method (SPITER by default,
the paper's choice) prices the target in the abstracted game over the original price range,
and :func:`prillm.pricing.optimal_price` evaluates the returned price in the *true* game, as for
every method. The reported wall time covers everything: the features' equilibrium at the
current prices, the network, the aggregation and the solver.

The pricing layer does not import this package: the facade (``prillm/__init__.py``) registers
the method name ``"prillm"`` with this module's path in :data:`prillm.pricing.METHODS`, resolved
on first use.

References
----------
Paper Section 5 (Dynamic pricing with game abstraction), Section 6.1 (DA with ``K = 2`` then
SPITER).
"""

from __future__ import annotations

import time
from typing import Any

from prillm.abstraction.core import METHODS as ABSTRACTIONS
from prillm.abstraction.core import abstract
from prillm.market import MarketError
from prillm.pricing import METHODS, optimal_price
from prillm.pricing.problem import PricingProblem

__all__ = ["solve"]

_KEEP = ("n_breakpoints", "path_profit", "equilibria", "n_segments", "success", "certificate")


def solve(
    prob: PricingProblem,
    K: int = 2,
    solver: str = "spiter",
    weights: Any = None,
    abstraction: str = "da",
    solver_opts: dict[str, Any] | None = None,
) -> tuple[float, dict[str, Any]]:
    """Price the target in the abstracted game (paper Section 5).

    Parameters
    ----------
    prob
        The problem in the true game.
    K
        Rivals kept in the abstraction (>= 1; with ``K >=`` the number of rivals the game is
        solved as it is, and the diagnostics say so).
    solver
        The pricing method run on the abstracted game (any of :data:`prillm.pricing.METHODS`
        but ``"prillm"``).
    weights
        A weights file or :class:`~prillm.abstraction.network.ScoreNetwork` (default: shipped).
    abstraction
        ``"da"`` (default), or the baselines ``"min"`` / ``"avg"``.
    solver_opts
        Options passed to the solver.

    Returns
    -------
    price, diagnostics
        ``abstraction`` (kept, merged and dropped rivals, scores, ``identity``, ``note``),
        ``abstract_price`` and ``abstract_profit`` (the abstracted game's optimum by the
        solver, profit in that game, USD), ``solver``, ``solver_diagnostics`` (a summary),
        ``abstraction_time`` and ``solver_time`` (s).

    Raises
    ------
    prillm.MarketError
        For a bad ``K``, an unknown solver or abstraction, a market without rivals or unusable
        weights.
    """
    if solver == "prillm" or solver not in METHODS:
        known = [m for m in METHODS if m != "prillm"]
        raise MarketError(
            f"solver: unknown pricing method {solver!r} for the abstracted game; "
            f"choose from {known}"
        )
    if abstraction not in ABSTRACTIONS:
        raise MarketError(
            f"abstraction: unknown method {abstraction!r}; choose from {ABSTRACTIONS}"
        )
    t0 = time.perf_counter()
    ab = abstract(prob.market, prob.prefs, prob.s, K=K, method=abstraction, weights=weights)
    t1 = time.perf_counter()
    sub = optimal_price(
        ab.market,
        ab.prefs,
        ab.target,
        method=solver,
        p_max=prob.p_max,
        p_min=prob.p_min,
        marginal_cost=prob.marginal_cost,
        **(solver_opts or {}),
    )
    t2 = time.perf_counter()
    diag = {
        "abstraction": ab.to_dict(),
        "abstract_price": sub.price,
        "abstract_profit": sub.profit,
        "solver": solver,
        "solver_diagnostics": {k: v for k, v in sub.diagnostics.items() if k in _KEEP},
        "abstraction_time": t1 - t0,
        "solver_time": t2 - t1,
    }
    if ab.identity and sub.status == "global_optimum":
        diag["status"] = "global_optimum"
        diag["reason"] = f"the abstraction is the identity; {solver}: {sub.reason}"
    elif sub.success:
        diag["status"] = "converged"
        diag["reason"] = (
            f"{solver} reached {sub.status} on the abstracted game ({ab.market.n_providers} "
            "providers); the price is not certified in the true game"
        )
    else:
        diag["status"] = "not_converged"
        diag["reason"] = f"{solver} on the abstracted game: {sub.reason}"
    return sub.price, diag
