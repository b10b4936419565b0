"""The equilibrium at every scale, against the exact rational oracle of ``tests/oracle.py``.

"Certified" must bound the answer itself: a certified equilibrium's flows are within ``tol`` of
the exact equilibrium, each relative to its own user's demand, from capacities of ``1e-3`` to
``1e13`` times the demand; warm starts never change the answer; the command line's Nash check
(``check_nash=True``) never rejects what the solver certifies.
"""

from __future__ import annotations

import numpy as np
import pytest

from prillm import Market, Preferences, solve_equilibrium, water_filling
from scripts.stress_equilibrium import KINDS, check_market, random_market, run
from tests.oracle import exact_equilibrium, flow_error

TOL = 1e-9


def test_stress_sample_of_2000_markets():
    """The CI sample of the stress script: no certified-but-wrong answer, no false failure."""
    totals, worst = run(2000, seed=2026, max_size=10, tol=TOL, quiet=True)
    assert totals["markets"] == 2000
    assert totals["certified_wrong"] == 0
    assert totals["warm_changed"] == 0
    assert totals["nash_false_failure"] == 0
    # markets whose capacity, w_q and prices all sit at the extremes together are beyond the
    # double-double refinement: they are solved exactly (the rational path), never raised
    assert totals["raised"] == 0 and totals["raised_warm"] == 0
    assert totals["path_rational"] > 0  # the sample reaches that corner
    assert worst["rational path"] <= 2.0**-53  # exact, up to the rounding of each flow
    for kind in KINDS:
        if kind != "wide":
            assert worst[kind] <= 1e-11, (kind, worst[kind])


@pytest.mark.parametrize("ratio", [1e-3, 1.0, 1e4, 1e8, 1e10, 1e12, 1e13])
def test_capacity_ratios_solve_alike(ratio):
    rng = np.random.default_rng(int(np.log10(ratio) + 10))
    n, m = 6, 5
    demand = rng.uniform(1e3, 1e6, n)
    market = Market(
        demand=demand,
        price=rng.uniform(0.5, 20.0, m),
        capacity=ratio * demand.sum() * rng.uniform(0.5, 2.0, m),
        latency=rng.uniform(0, 1, (n, m)),
    )
    prefs = Preferences(w_p=1.0, w_q=1.0, w_d=0.5, b=rng.uniform(0, 3, m))
    eq = solve_equilibrium(market, prefs, check_nash=True)
    exact = exact_equilibrium(market, prefs, hint=eq.support)
    assert flow_error(eq.flows, exact, demand) <= TOL
    assert eq.certificate.flow_error is not None and eq.certificate.flow_error <= TOL


def test_monopoly_with_huge_capacity():
    """One provider: each user's only answer is its whole demand."""
    market = Market(demand=[1e3, 1e6], price=[18.0], capacity=[1e19])
    eq = solve_equilibrium(market, Preferences(w_q=1.0, w_d=0.0), check_nash=True)
    np.testing.assert_allclose(eq.flows[:, 0], [1e3, 1e6], rtol=1e-15, atol=0)


def test_near_tie_at_huge_capacity_goes_to_the_cheaper_route():
    """Costs 1e-12 apart with capacity 1e13 x demand: the exact split, not a coin toss."""
    market = Market(demand=[1e3, 1e6], price=[1.0, 1.0 + 1e-12], capacity=[1e19, 1e19])
    prefs = Preferences(w_q=1.0, w_d=0.0)
    eq = solve_equilibrium(market, prefs)
    exact = exact_equilibrium(market, prefs)
    assert flow_error(eq.flows, exact, market.demand) <= TOL


def test_warm_start_never_changes_the_answer():
    rng = np.random.default_rng(7)
    for _ in range(30):
        market, prefs = random_market(rng, "huge_capacity", 8)
        cold = solve_equilibrium(market, prefs)
        wrong = rng.random(market.shape) < 0.5
        warm = solve_equilibrium(market, prefs, warm_start=wrong)
        scale = np.maximum(market.demand, 1e-300)[:, None]
        assert np.max(np.abs(warm.flows - cold.flows) / scale) <= 2 * TOL


def test_certificate_fails_when_the_bound_cannot_be_shown():
    """A certificate with a flow error bound above tol is not certified, whatever the residuals."""
    market = Market(demand=[1.0], price=[1.0, 2.0], capacity=[1.0, 1.0])
    eq = solve_equilibrium(market, Preferences(w_d=0.0))
    from dataclasses import replace

    bad = replace(eq.certificate, flow_error=10 * TOL)
    assert eq.certificate.certified and not bad.certified


@pytest.mark.parametrize("inv", [1.0, 1e6, 1e12, 1e16])
def test_water_filling_sums_to_the_demand_at_every_scale(inv):
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1e4, (50, 6))
    h = 1.0 / (inv * rng.uniform(0.5, 2.0, 6))
    d = 10.0 ** rng.uniform(0, 6, 50)
    x, _ = water_filling(a, h, d)
    assert np.all(x >= 0)
    np.testing.assert_allclose(x.sum(axis=1), d, rtol=1e-14, atol=0)


def test_check_market_counts_a_wrong_answer():
    """The stress harness itself can fail: a solver that returns wrong flows is counted."""
    rng = np.random.default_rng(0)
    market, prefs = random_market(rng, "balanced", 4)
    exact = exact_equilibrium(market, prefs)
    eq = solve_equilibrium(market, prefs)
    shifted = eq.flows.copy()
    shifted[0] = shifted[0][::-1]
    assert flow_error(eq.flows, exact, market.demand) <= TOL
    if not np.allclose(shifted, eq.flows):
        assert flow_error(shifted, exact, market.demand) > TOL
    out, _ = check_market(market, prefs, TOL, rng)
    assert out["certified_wrong"] == 0 and out["raised"] == 0


def _flatness(market, prefs) -> float:
    """Scaled ``max K_j`` times ``max D / min D``: the double-double refinement's reach."""
    from prillm.equilibrium import problem_scales
    from prillm.market import game_coefficients

    gc = game_coefficients(market, prefs)
    d_scale, c_scale = problem_scales(gc.cost, gc.slope, gc.demand)
    capa = c_scale / (gc.slope * d_scale)
    demand = market.demand[market.demand > 0]
    return float(capa.max() * demand.max() / demand.min())


def test_beyond_the_double_double_reach_the_answer_is_exact():
    """Where the double-double refinement cannot show the bound (congestion below ~1e-17 of the
    costs against the smallest user: capacity 1e13 x demand, w_q 1e-6 and prices 1e4 at once)
    the solver answers on the rational path, exactly up to the rounding of the flows."""
    rng = np.random.default_rng(11)
    rational = 0
    for _ in range(200):
        market, prefs = random_market(rng, "wide", 10)
        eq = solve_equilibrium(market, prefs)
        assert eq.certificate.certified
        if eq.path == "rational":
            assert _flatness(market, prefs) > 1e17
            assert eq.certificate.flow_error <= 2.0**-53
            exact = exact_equilibrium(market, prefs, hint=eq.support)
            assert flow_error(eq.flows, exact, market.demand) <= eq.certificate.flow_error
            rational += 1
    assert 0 < rational <= 0.15 * 200


def _grid_profit(market, prefs, target, prices):
    best = -np.inf
    for p in prices:
        eq = solve_equilibrium(market.with_price(target, float(p)), prefs)
        best = max(best, p * float(eq.loads[target]) / 1e6)
    return best


def _huge_target_market(rng, n, m):
    """A random market whose target (provider 0) has 1e12 x the total demand as capacity."""
    demand = rng.uniform(1e3, 1e6, n)
    capacity = rng.uniform(0.5, 3, m) * demand.sum()
    capacity[0] = 1e12 * demand.sum()
    market = Market(
        demand=demand,
        price=rng.uniform(0.5, 20, m),
        capacity=capacity,
        latency=rng.uniform(0, 1, (n, m)),
    )
    return market, Preferences(w_q=1.0, w_d=0.5, b=rng.uniform(0, 3, m))


@pytest.mark.parametrize("seed", [7, 9, 15, 36])
def test_exact_pricing_beats_a_grid_at_capacity_1e12(seed):
    """Target capacity 1e12 x demand: the exact method's optimum is >= a dense grid's, and it
    says "global optimum" only with a certificate (here: the repaired path)."""
    from prillm.pricing import optimal_price

    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 8)), int(rng.integers(2, 6))
    market, prefs = _huge_target_market(rng, n, m)
    res = optimal_price(market, prefs, target=0, method="exact")
    grid = _grid_profit(market, prefs, 0, np.linspace(0.0, res.p_max, 801))
    assert res.profit >= grid * (1 - 1e-9)
    if res.status == "global_optimum":
        assert "repaired" in res.reason or "checked at both ends" in res.reason


def test_one_token_user_prices_at_the_default_bounds():
    from prillm.pricing import optimal_price

    rng = np.random.default_rng(1)
    for _ in range(20):
        m = int(rng.integers(1, 5))
        market = Market(
            demand=[1.0],
            price=rng.uniform(0.1, 20, m),
            capacity=10.0 ** rng.uniform(-3, 13, m),
            latency=rng.uniform(0, 1, (1, m)),
        )
        prefs = Preferences(w_q=float(10 ** rng.uniform(-2, 2)), w_d=0.5, b=rng.uniform(0, 3, m))
        for method in ("exact", "spiter", "odca", "spgce"):
            res = optimal_price(market, prefs, target=0, method=method)
            assert np.isfinite(res.profit) and res.profit >= 0


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("p_min", 1e308),
        ("p_max", 1e308),
        ("p_max", -1.0),
        ("marginal_cost", float("nan")),
        ("p_min", float("inf")),
    ],
)
def test_price_bounds_beyond_range_are_input_errors(option, value):
    from prillm import MarketError
    from prillm.pricing import optimal_price

    market = Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    with pytest.raises(MarketError, match=option):
        optimal_price(market, Preferences(), target=0, **{option: value})


@pytest.mark.parametrize("with_error", [False, True])
def test_users_without_demand_in_the_accurate_path(with_error):
    """Zero-demand users beside huge capacities (the accurate refinement sees active users)."""
    from prillm.equilibrium import solve_active_set
    from prillm.market import cost_rounding_error, game_coefficients

    market = Market(
        demand=[0.0, 1e3, 1e6, 0.0],
        price=[1.0, 1.0 + 1e-9, 3.0],
        capacity=[1e19, 1e19, 1e6],
        latency=np.zeros((4, 3)),
    )
    prefs = Preferences(w_q=1.0, w_d=0.0)
    gc = game_coefficients(market, prefs)
    lo = cost_rounding_error(market, prefs) if with_error else None
    res = solve_active_set(gc.cost, gc.slope, gc.demand, cost_lo=lo)
    exact = exact_equilibrium(market, prefs)
    assert flow_error(res.flows, exact, market.demand) <= TOL
    assert res.flow_error is not None and res.flow_error.shape == (4,)


def test_repair_hints_place_grid_points_only():
    """The repaired path is judged by certified equilibria alone: hints near the breakpoints
    (the double path's), hints at wrong prices and no hints rebuild the same optimum; good hints
    need fewer solves."""
    from prillm.pricing import optimal_price
    from prillm.pricing.problem import make_problem
    from prillm.pricing.support_bisection import bisection_path

    rng = np.random.default_rng(9)
    n, m = 5, 4
    market, prefs = _huge_target_market(rng, n, m)
    res = optimal_price(market, prefs, target=0, method="exact")
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    bare = bisection_path(prob)
    located = [0.5 * (a + b) for a, b in bare["breakpoints"]]
    assert located, "this market's path has breakpoints"
    hinted = bisection_path(prob, hints=located)
    wrong = bisection_path(prob, hints=list(rng.uniform(prob.p_min, prob.p_max, 7)))
    for other in (hinted, wrong):
        assert other["ok"] and bare["ok"]
        assert other["best"][1] == pytest.approx(bare["best"][1], rel=1e-12)
        assert other["best"][0] == pytest.approx(bare["best"][0], rel=1e-9, abs=1e-9)
        assert len(other["breakpoints"]) == len(bare["breakpoints"])
    assert hinted["solves"] < bare["solves"]
    assert res.profit >= bare["best"][1] * (1 - 1e-12)


def test_a_vanishing_capacity_beside_ordinary_ones_is_exact_and_quiet():
    """Capacity 1e-300 next to 1e6: the double-double refinement overflows (terms beyond
    1e300), its estimate is infinite, and the rational path answers, without a floating-point
    warning on the way (18 overflow warnings before)."""
    import warnings

    market = Market(demand=[1e6, 3e5], price=[1.0, 2.0], capacity=[1e-300, 1e6])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eq = solve_equilibrium(market, Preferences())
    assert eq.path == "rational" and eq.certificate.certified
    exact = exact_equilibrium(market, Preferences(), hint=eq.support)
    assert flow_error(eq.flows, exact, market.demand) <= eq.certificate.flow_error <= 1e-300
