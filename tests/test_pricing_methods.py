"""The baseline pricing methods: bounds, true-game profits, SCIP ground truth, failure reports."""

from __future__ import annotations

import numpy as np
import pytest

from prillm import Market, Preferences, solve_equilibrium
from prillm.pricing import METHODS, optimal_price
from prillm.pricing.spgce import aggregate_market

from .markets import random_market


def _profit_at(market: Market, prefs: Preferences, s: int, price: float) -> float:
    eq = solve_equilibrium(market.with_price(s, price), prefs)
    return price * eq.loads[s] / 1e6


@pytest.fixture(scope="module")
def small() -> tuple[Market, Preferences]:
    return random_market(np.random.default_rng(11), 3, 3)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_is_in_bounds_and_never_beats_the_exact_optimum(
    method: str, small: tuple[Market, Preferences]
) -> None:
    market, prefs = small
    best = optimal_price(market, prefs, "p2", p_min=0.5, p_max=12.0)
    res = optimal_price(market, prefs, "p2", method=method, p_min=0.5, p_max=12.0)
    assert 0.5 <= res.diagnostics["raw_price"] <= 12.0  # the method's answer, before any bound
    assert res.price == res.diagnostics["raw_price"]
    assert res.profit == _profit_at(market, prefs, 2, res.price)
    assert res.profit <= best.profit * (1 + 1e-9)
    assert res.method == method and res.wall_time > 0
    assert res.equilibrium.certificate.certified


@pytest.mark.parametrize(("n", "m", "seed"), [(2, 2, 0), (2, 3, 1), (3, 3, 2)])
def test_scip_global_optimum_equals_exact_and_bf(n: int, m: int, seed: int) -> None:
    market, prefs = random_market(np.random.default_rng(seed), n, m)
    ex = optimal_price(market, prefs, 0)
    bf = optimal_price(market, prefs, 0, method="bf")
    sc = optimal_price(market, prefs, 0, method="scip")
    assert sc.status == "global_optimum" and sc.diagnostics["success"], sc.reason
    assert sc.profit == pytest.approx(ex.profit, rel=1e-8)
    assert bf.profit == pytest.approx(ex.profit, rel=1e-12)


def test_local_solvers_reach_the_optimum_on_a_small_market() -> None:
    market, prefs = random_market(np.random.default_rng(5), 2, 2)
    ex = optimal_price(market, prefs, 0)
    for method in ("pmpec", "smooth", "spiter", "grid"):
        res = optimal_price(market, prefs, 0, method=method)
        assert res.profit == pytest.approx(ex.profit, rel=1e-6), method
        assert res.price == pytest.approx(ex.price, rel=1e-2), method


def test_nlp_failures_are_reported_not_hidden(small: tuple[Market, Preferences]) -> None:
    market, prefs = small
    for method in ("pmpec", "smooth"):
        res = optimal_price(market, prefs, 0, method=method, time_limit=0.0)
        assert res.diagnostics["success"] is False and res.status == "not_converged"
        assert res.diagnostics["stages"][0]["termination"] == "time limit"
        # the start price is returned and still evaluated in the true game
        assert res.price == pytest.approx(market.price[0])
        assert res.profit == _profit_at(market, prefs, 0, res.price)


def test_decoupled_users_is_exact_for_a_single_user() -> None:
    market, prefs = random_market(np.random.default_rng(4), 1, 4)
    ex = optimal_price(market, prefs, 1)
    od = optimal_price(market, prefs, 1, method="odca")
    assert od.profit == pytest.approx(ex.profit, rel=1e-7)


def test_aggregate_population_model() -> None:
    market, _ = random_market(np.random.default_rng(6), 4, 3)
    agg = aggregate_market(market)
    assert agg.shape == (1, 3)
    assert agg.demand[0] == pytest.approx(market.demand.sum())
    w = market.demand / market.demand.sum()
    assert np.allclose(agg.latency[0], w @ market.latency)
    assert np.allclose(agg.capacity, 2 * market.capacity)


def test_size_limits_are_clear() -> None:
    market, prefs = random_market(np.random.default_rng(0), 5, 4)
    with pytest.raises(ValueError, match="max_routes"):
        optimal_price(market, prefs, 0, method="scip")
    with pytest.raises(ValueError, match="max_branches"):
        optimal_price(market, prefs, 0, method="bf", max_branches=10)
    with pytest.raises(ValueError, match="unknown option 'n_points'; valid options: max_pieces"):
        optimal_price(market, prefs, 0, method="exact", n_points=3)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_market_without_demand_earns_nothing(method: str) -> None:
    market = Market(demand=[0.0, 0.0], price=[1.0, 2.0], capacity=[1e6, 1e6])
    res = optimal_price(market, Preferences(), 0, method=method)
    assert res.profit == 0.0 and res.p_max == 20.0
    raw = res.diagnostics["raw_price"]  # the method's own answer, before any bound
    assert 0.0 <= raw <= res.p_max, (method, raw)
    assert res.diagnostics["clamped"] is False and res.price == raw


@pytest.mark.slow
@pytest.mark.parametrize(("n", "m", "seed"), [(3, 4, 7), (4, 4, 9)])
def test_exact_bf_and_scip_agree_on_larger_small_markets(n: int, m: int, seed: int) -> None:
    market, prefs = random_market(np.random.default_rng(seed), n, m)
    ex = optimal_price(market, prefs, 1)
    bf = optimal_price(market, prefs, 1, method="bf")
    sc = optimal_price(market, prefs, 1, method="scip")
    assert sc.status == "global_optimum" and sc.diagnostics["success"], sc.reason
    assert bf.profit == pytest.approx(ex.profit, rel=1e-12)
    assert sc.profit == pytest.approx(ex.profit, rel=1e-8)
