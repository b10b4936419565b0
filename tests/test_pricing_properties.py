"""Properties of Problem 1 (Eq. 2): the exact path, statuses, prices checked before any bound."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prillm import Market, Preferences, solve_equilibrium
from prillm.pricing import METHODS, STATUSES, optimal_price, register_method
from prillm.pricing.exact import price_path
from prillm.pricing.problem import make_problem

from .markets import markets, random_market

EXAMPLES = int(os.environ.get("PRILLM_PRICING_EXAMPLES", "15"))


def _profit(market: Market, prefs: Preferences, s: int, price: float) -> float:
    return price * solve_equilibrium(market.with_price(s, price), prefs).loads[s] / 1e6


@settings(max_examples=EXAMPLES)
@given(markets(max_users=4, max_providers=4, extreme=False), st.integers(0, 3))
def test_profit_is_continuous_at_every_breakpoint(
    case: tuple[Market, Preferences], target: int
) -> None:
    market, prefs = case
    s = target % market.n_providers
    prob = make_problem(market, prefs, s, None, 0.0, 0.0)
    pieces = price_path(prob)["pieces"]
    scale = max(float(market.demand.sum()), 1.0)
    for (a0, b0, f0, d0), (a1, _, f1, _) in itertools.pairwise(pieces):
        assert b0 == a1  # the pieces tile the price range
        left = b0 * (f0 + (b0 - a0) * d0)  # the profit at the breakpoint, from either piece
        right = a1 * f1
        assert abs(left - right) <= 1e-9 * b0 * scale
        # and both are the true equilibrium's
        truth = b0 * solve_equilibrium(market.with_price(s, b0), prefs).loads[s]
        assert abs(left - truth) <= 1e-8 * b0 * scale


@settings(max_examples=EXAMPLES)
@given(markets(max_users=4, max_providers=4, extreme=False), st.integers(0, 2**32 - 1))
def test_exact_beats_every_price_and_the_grid(case: tuple[Market, Preferences], seed: int) -> None:
    market, prefs = case
    s = market.n_providers - 1
    ex = optimal_price(market, prefs, s)
    assert ex.status == "global_optimum" and ex.success, ex.reason
    grid = optimal_price(market, prefs, s, method="grid", n_points=50, refine_iter=10)
    slack = 1e-9 * max(abs(ex.profit), 1e-12)
    assert ex.profit >= grid.profit - slack
    rng = np.random.default_rng(seed)
    for p in rng.uniform(ex.p_min, ex.p_max, 5):
        assert ex.profit >= _profit(market, prefs, s, float(p)) - slack


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_states_its_status_and_stays_in_bounds(method: str) -> None:
    market, prefs = random_market(np.random.default_rng(11), 3, 3)
    res = optimal_price(market, prefs, 1, method=method, p_min=0.5, p_max=12.0)
    raw = res.diagnostics["raw_price"]  # the method's own answer, before any bound
    assert 0.5 <= raw <= 12.0, (method, raw)
    assert res.diagnostics["clamped"] is False and res.price == raw
    assert res.status in STATUSES and res.reason, (method, res.status, res.reason)
    assert res.success == (res.status in ("global_optimum", "converged"))
    assert res.to_dict()["status"] == res.status
    if method in ("exact", "bf", "scip"):
        assert res.status == "global_optimum", res.reason
    else:
        assert res.status != "global_optimum", res.reason


def test_an_escaping_price_is_recorded_not_hidden() -> None:
    market, prefs = random_market(np.random.default_rng(2), 2, 2)

    def escaping(prob, offset=1.0):  # a method that overshoots its upper bound
        return prob.p_max + offset, {"status": "global_optimum", "reason": "claims a proof"}

    register_method("escaping", lambda: escaping)
    try:
        res = optimal_price(market, prefs, 0, method="escaping", p_max=5.0)
        assert res.diagnostics["raw_price"] == 6.0 and res.diagnostics["clamped"] is True
        assert res.price == 5.0 and res.status == "not_certified"
        assert "outside [0.0, 5.0]" in res.reason and not res.success
        tiny = optimal_price(market, prefs, 0, method="escaping", p_max=5.0, offset=1e-12)
        assert tiny.status == "global_optimum" and "bound tolerance" in tiny.reason
        with pytest.raises(ValueError, match="unknown option 'offst'; valid options: offset"):
            optimal_price(market, prefs, 0, method="escaping", offst=2.0)
        with pytest.raises(ValueError, match="already registered"):
            register_method("escaping", lambda: escaping)
    finally:
        del METHODS["escaping"]

    def silent(prob):
        return float("nan"), {}

    register_method("silent", lambda: silent)
    try:
        res = optimal_price(market, prefs, 0, method="silent")
        assert res.status == "not_converged" and "no status" in res.reason
        assert res.price == res.p_min and np.isnan(res.diagnostics["raw_price"])
    finally:
        del METHODS["silent"]


def test_a_failed_local_method_says_so() -> None:
    market, prefs = random_market(np.random.default_rng(4), 3, 3)
    res = optimal_price(market, prefs, 0, method="spiter", max_iter=1)
    assert res.status == "not_converged" and "fixed point" in res.reason
    res = optimal_price(market, prefs, 0, method="grid", refine_iter=0, n_points=20)
    assert res.status == "not_converged" and "bracket" in res.reason
