"""Problem 1 (Eq. 2): the exact price path against the brute force and a dense grid."""

from __future__ import annotations

import itertools
import math
import os

import numpy as np
import pytest
from hypothesis import given, settings

from prillm import Market, MarketError, Preferences, solve_equilibrium
from prillm.pricing import optimal_price, vanishing_price
from prillm.pricing.exact import price_path
from prillm.pricing.problem import make_problem

from .markets import markets, random_market


def _profit_at(market: Market, prefs: Preferences, s: int, price: float, cost: float = 0.0):
    eq = solve_equilibrium(market.with_price(s, price), prefs)
    return (price - cost) * eq.loads[s] / 1e6


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


@pytest.mark.parametrize(("n", "m"), [(1, 2), (2, 3), (3, 3), (3, 2), (2, 4)])
def test_exact_equals_brute_force_on_small_markets(n: int, m: int) -> None:
    for seed in range(3):
        market, prefs = random_market(np.random.default_rng(100 * n + 10 * m + seed), n, m)
        for s in range(m):
            ex = optimal_price(market, prefs, s)
            bf = optimal_price(market, prefs, s, method="bf")
            assert _close(ex.profit, bf.profit), (n, m, seed, s, ex.profit, bf.profit)
            assert _close(ex.diagnostics["path_profit"], ex.profit)


@settings(max_examples=int(os.environ.get("PRILLM_PRICING_EXAMPLES", "15")))
@given(case=markets(max_users=3, max_providers=3, extreme=False))
def test_exact_equals_brute_force_on_degenerate_markets(case: tuple[Market, Preferences]) -> None:
    market, prefs = case
    for s in range(market.n_providers):
        ex = optimal_price(market, prefs, s)
        bf = optimal_price(market, prefs, s, method="bf")
        assert _close(ex.profit, bf.profit, 1e-8), (ex.profit, bf.profit)
        assert ex.diagnostics["zero_length_pieces"] == 0


def test_exact_beats_a_dense_refined_grid_on_20x20_markets() -> None:
    for seed in range(2):
        market, prefs = random_market(np.random.default_rng(seed), 20, 20)
        ex = optimal_price(market, prefs, seed)
        grid = optimal_price(market, prefs, seed, method="grid", n_points=10_000)
        assert ex.profit >= grid.profit * (1 - 1e-9), (ex.profit, grid.profit)
        assert ex.diagnostics["kkt_max_violation"] < 1e-12


def test_path_is_continuous_and_matches_the_true_equilibrium(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 8, 6)
    prob = make_problem(market, prefs, 2, None, 0.0, 0.0)
    path = price_path(prob)
    pieces = path["pieces"]
    assert pieces[0][0] == prob.p_min and pieces[-1][1] == prob.p_max
    for (a0, b0, f0, d0), (a1, _, f1, _) in itertools.pairwise(pieces):
        assert b0 == a1 and b0 > a0
        assert math.isclose(f0 + (b0 - a0) * d0, f1, rel_tol=1e-9, abs_tol=1e-6 * prob.d_scale)
    prices = [b["price"] for b in path["breakpoints"]]
    assert prices == sorted(prices) and len(set(prices)) == len(prices)
    for p in rng.uniform(prob.p_min, prob.p_max, 25):
        a, _, f0, d0 = next(pc for pc in pieces if pc[0] <= p <= pc[1])
        eq = solve_equilibrium(market.with_price(2, p), prefs)
        assert math.isclose(f0 + (p - a) * d0, eq.loads[2], rel_tol=1e-9, abs_tol=1e-3)
    for bp in path["breakpoints"]:
        assert bp["entered"] or bp["left"]


def test_identical_rivals_and_users_enter_together() -> None:
    # two identical users and two identical rivals: at the breakpoint four routes enter at once
    market = Market(
        demand=[1e6, 1e6],
        price=[1.0, 5.0, 5.0],
        capacity=[1e6, 2e6, 2e6],
        latency=0.0,
        provider_ids=["t", "r1", "r2"],
    )
    prefs = Preferences(w_q=1.0, w_d=0.0, b=0.0)
    ex = optimal_price(market, prefs, "t")
    bf = optimal_price(market, prefs, "t", method="bf")
    assert _close(ex.profit, bf.profit)
    bps = ex.diagnostics["breakpoints"]
    assert bps[0]["price"] == pytest.approx(2.0) and len(bps[0]["entered"]) == 4
    assert ex.diagnostics["zero_length_pieces"] == 0
    # the rivals carry identical flows at the optimum
    f = ex.equilibrium.flows
    assert np.allclose(f[:, 1], f[:, 2], rtol=1e-12)


def test_target_priced_out_before_p_max() -> None:
    market, prefs = random_market(np.random.default_rng(7), 4, 3)
    pv = vanishing_price(market, prefs, 0)
    ex = optimal_price(market, prefs, 0, p_max=3 * pv, full_path=True)
    # by default the path stops where the load (hence every higher price's profit) is gone
    short = optimal_price(market, prefs, 0, p_max=3 * pv)
    assert short.diagnostics["stopped_at"]["price"] <= pv * (1 + 1e-9)
    assert short.price == ex.price
    last = ex.diagnostics["pieces"][-1]
    assert last[2] == pytest.approx(0.0, abs=1e-6) and last[3] == pytest.approx(0.0, abs=1e-9)
    assert last[0] == pytest.approx(pv, rel=1e-9)
    bf = optimal_price(market, prefs, 0, method="bf", p_max=3 * pv)
    assert _close(ex.profit, bf.profit)
    assert _profit_at(market, prefs, 0, pv * 1.000001) == 0.0


def test_target_with_no_demand_at_any_price() -> None:
    market = Market(demand=[1e6, 2e6], price=[1.0, 1.0], capacity=[1e6, 1e6], latency=[0.0, 50.0])
    prefs = Preferences(w_q=1.0, w_d=1.0, b=0.0)
    assert vanishing_price(market, prefs, 1) <= 0
    res = optimal_price(market, prefs, 1)
    assert res.profit == 0.0 and res.load == 0.0
    assert res.p_max == pytest.approx(10.0)  # fallback rule: 10 x the highest price
    assert optimal_price(market, prefs, 1, method="bf").profit == 0.0


def test_monopolist_prices_at_the_upper_bound() -> None:
    market = Market(demand=[1e6, 3e6], price=[2.0], capacity=[1e6])
    res = optimal_price(market, Preferences(), 0)
    assert res.p_max == pytest.approx(20.0) and res.price == pytest.approx(20.0)
    assert res.profit == pytest.approx(20.0 * 4e6 / 1e6)


def test_marginal_cost_and_zero_demand_users(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 4, 3, zero_demand=0.4)
    market = market.replace(demand=np.where(np.arange(4) == 1, 0.0, market.demand))
    for cost in (0.0, 2.0):
        ex = optimal_price(market, prefs, 1, marginal_cost=cost)
        bf = optimal_price(market, prefs, 1, method="bf", marginal_cost=cost)
        assert _close(ex.profit, bf.profit)
        assert _close(ex.profit, _profit_at(market, prefs, 1, ex.price, cost), 1e-12)
        if ex.profit > 0:
            assert ex.price > cost


def test_default_p_max_is_the_vanishing_price(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 5, 4)
    res = optimal_price(market, prefs, 3)
    assert res.p_max == pytest.approx(vanishing_price(market, prefs, 3))
    below = solve_equilibrium(market.with_price(3, res.p_max * (1 - 1e-6)), prefs)
    at = solve_equilibrium(market.with_price(3, res.p_max), prefs)
    assert below.loads[3] > 0 and at.loads[3] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("method", ["exact", "bf", "grid"])
def test_result_is_within_bounds_and_re_evaluates(method: str) -> None:
    market, prefs = random_market(np.random.default_rng(3), 3, 3)
    res = optimal_price(market, prefs, "p1", method=method, p_min=0.5, p_max=9.0)
    assert 0.5 <= res.diagnostics["raw_price"] <= 9.0 and not res.diagnostics["clamped"]
    assert res.profit == _profit_at(market, prefs, 1, res.price)
    assert res.equilibrium.certificate.certified
    assert res.wall_time > 0 and res.method == method and res.target == "p1"
    assert res.to_dict()["profit_usd"] == res.profit


def test_bad_inputs() -> None:
    market, prefs = random_market(np.random.default_rng(0), 2, 2)
    with pytest.raises(MarketError, match="'nope'"):
        optimal_price(market, prefs, "nope")
    with pytest.raises(MarketError, match="p_max"):
        optimal_price(market, prefs, 0, p_max=1.0, p_min=2.0)
    with pytest.raises(MarketError, match="p_max"):
        optimal_price(market, prefs, 0, p_max=0.0)
    with pytest.raises(MarketError, match="p_max"):
        optimal_price(market, prefs, 0, p_max=float("nan"))
    with pytest.raises(MarketError, match="p_min"):
        optimal_price(market, prefs, 0, p_min=float("nan"))
    with pytest.raises(MarketError, match="marginal_cost"):
        optimal_price(market, prefs, 0, marginal_cost=-1.0)
    with pytest.raises(ValueError, match="method"):
        optimal_price(market, prefs, 0, method="magic")
    big, bprefs = random_market(np.random.default_rng(0), 8, 8)
    with pytest.raises(ValueError, match="branches"):
        optimal_price(big, bprefs, 0, method="bf")


@pytest.mark.parametrize(("n", "m"), [(6, 9), (9, 6)])
def test_support_matrix_updates_match_a_fresh_build(n: int, m: int) -> None:
    from prillm.equilibrium import KKTMatrix
    from prillm.pricing.affine import affine_support

    rng = np.random.default_rng(n * m)
    market, prefs = random_market(rng, n, m)
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    system = KKTMatrix(prob.capa, prob.shape, refresh=1000, min_size=0)
    support = np.ones((n, m), bool)
    for _ in range(40):
        flip = np.zeros((n, m), bool)
        flip[rng.integers(n), rng.integers(m)] = True
        candidate = support ^ flip
        if candidate.any(axis=1).all():
            support = candidate
        updated = system.matrix(support).copy()
        fresh = KKTMatrix(prob.capa, prob.shape).matrix(support)
        assert np.allclose(updated, fresh, rtol=1e-12, atol=1e-12 * np.abs(fresh).max())
    a = affine_support(prob, support, 1.0, system)
    b = affine_support(prob, support, 1.0)
    assert np.allclose(a.x, b.x, atol=1e-12) and np.allclose(a.dmu, b.dmu, atol=1e-12)


def test_direction_qp_active_set_equals_enumeration() -> None:
    from prillm.pricing.critical_cone import (
        classify,
        direction_support,
        enumerate_direction_support,
    )

    market = Market(
        demand=[1e6, 1e6],
        price=[2.0, 5.0, 5.0],
        capacity=[1e6, 2e6, 2e6],
        latency=0.0,
        provider_ids=["t", "r1", "r2"],
    )
    prob = make_problem(market, Preferences(w_q=1.0, w_d=0.0, b=0.0), "t", None, 0.0, 0.0)
    raw = prob.solve(2.0)  # the price at which four routes become tight at once
    from prillm.pricing.affine import affine_support

    aff = affine_support(prob, raw.support, 2.0)
    used, degenerate = classify(prob, raw.support, aff.x, aff.mu)
    assert degenerate.sum() == 4
    by_active_set, _ = direction_support(prob, 2.0, used, degenerate)
    by_enumeration, _ = enumerate_direction_support(prob, 2.0, used, degenerate)
    assert np.array_equal(by_active_set.support, by_enumeration.support)
    assert by_active_set.support.all()  # the rivals enter, the target stays
    assert np.allclose(by_active_set.dx, by_enumeration.dx, atol=1e-14)
