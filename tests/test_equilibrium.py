"""The exact equilibrium: hand-solved cases, properties on random/degenerate markets, reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prillm import (
    Equilibrium,
    EquilibriumError,
    Market,
    MarketError,
    Preferences,
    equilibrium_reference,
    game_coefficients,
    kkt_certificate,
    solve_equilibrium,
    water_filling,
)
from prillm.equilibrium import potential, solve_active_set

from .markets import markets, random_market

TOL = 1e-10


def solve_equilibrium_checked(*args: object, **kwargs: object) -> Equilibrium:
    """The solver with the independent Nash-gap check switched on."""
    return solve_equilibrium(*args, check_nash=True, **kwargs)  # type: ignore[arg-type]


def assert_is_equilibrium(eq: Equilibrium, tol: float = TOL) -> None:
    """Flows sum to demand, are non-negative, and the KKT certificate holds to ``tol``."""
    mkt = eq.market
    scale = max(float(mkt.demand.max()), 1.0)
    assert eq.flows.shape == mkt.shape
    assert (eq.flows >= 0).all()
    np.testing.assert_allclose(eq.flows.sum(axis=1), mkt.demand, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(eq.loads, eq.flows.sum(axis=0), rtol=0, atol=tol * scale)
    cert = eq.certificate
    assert cert.max_residual <= tol, cert
    assert cert.nash_gap is not None and cert.nash_gap <= tol, cert
    assert cert.certified
    # the support is exactly where the flows live
    assert not eq.flows[~eq.support].any()


# ---------------------------------------------------------------- hand-solved cases
def test_one_user_is_water_filling_closed_form() -> None:
    # one user: marginal cost c_j + 2 k_j f_j, so f_j = (lam - c_j) / (2 k_j) on the used routes
    mkt = Market(demand=[10.0e6], price=[1.0, 2.0, 9.0], capacity=[4e6, 2e6, 1e6], latency=0.0)
    prefs = Preferences(w_q=1.0, w_d=0.0)
    eq = solve_equilibrium_checked(mkt, prefs)
    k = 1.0 / np.array([4e6, 2e6, 1e6])
    # by hand: routes 1 and 2 used; lam from (lam-1)/(2k1) + (lam-2)/(2k2) = 1e7
    lam = (1e7 + 1.0 / (2 * k[0]) + 2.0 / (2 * k[1])) / (1 / (2 * k[0]) + 1 / (2 * k[1]))
    assert lam < 9.0  # provider 3 stays unused
    expected = [(lam - 1.0) / (2 * k[0]), (lam - 2.0) / (2 * k[1]), 0.0]
    np.testing.assert_allclose(eq.flows[0], expected, rtol=1e-13)
    assert eq.multipliers[0] == pytest.approx(lam, rel=1e-13)
    x, level = water_filling(np.array([1.0, 2.0, 9.0]), 2 * k, 1e7)
    np.testing.assert_allclose(eq.flows[0], x, rtol=1e-12, atol=1e-6)
    assert level == pytest.approx(lam, rel=1e-13)
    assert_is_equilibrium(eq)


def test_two_identical_providers_split_evenly(rng: np.random.Generator) -> None:
    n = 5
    mkt = Market(
        demand=rng.uniform(1e5, 1e9, n),
        price=[2.0, 2.0],
        capacity=[3e8, 3e8],
        latency=np.tile(rng.uniform(0, 1, (n, 1)), (1, 2)),
    )
    eq = solve_equilibrium_checked(mkt, Preferences(w_q=3.0, w_d=0.7, b=[1.0, 1.0]))
    np.testing.assert_allclose(eq.flows[:, 0], eq.flows[:, 1], rtol=1e-12)
    np.testing.assert_allclose(eq.flows[:, 0], mkt.demand / 2, rtol=1e-12)
    assert_is_equilibrium(eq)


def test_no_congestion_limit_everyone_takes_the_cheapest_route() -> None:
    # capacities far beyond demand: congestion is negligible and the game is nearly an LP
    cap = 1e12
    mkt = Market(
        demand=[1e6, 2e6, 3e6],
        price=[1.0, 0.5, 2.0],
        capacity=[cap, cap, cap],
        latency=[[0.0, 1.0, 0.0], [0.0, 0.2, 0.0], [5.0, 5.0, 0.0]],
    )
    eq = solve_equilibrium_checked(mkt, Preferences(w_q=1.0, w_d=1.0))
    cost = game_coefficients(mkt, Preferences(w_q=1.0, w_d=1.0)).cost
    cheapest = cost.argmin(axis=1)
    np.testing.assert_array_equal(eq.flows.argmax(axis=1), cheapest)
    np.testing.assert_allclose(eq.flows[np.arange(3), cheapest], mkt.demand, rtol=1e-12)
    # the multipliers are the cheapest fixed cost plus the (tiny) congestion term
    np.testing.assert_allclose(eq.multipliers, cost.min(axis=1), rtol=1e-4)
    assert_is_equilibrium(eq)


def test_single_provider_takes_everything() -> None:
    mkt = Market(demand=[1e6, 0.0, 3e6], price=[1.5], capacity=[2e6], latency=[[0.1], [0.2], [0.3]])
    eq = solve_equilibrium_checked(mkt, Preferences(w_q=2.0, w_d=1.0, b=0.5))
    np.testing.assert_allclose(eq.flows[:, 0], mkt.demand, rtol=1e-15)
    # lambda_i = c_i + k (F + f_i); the zero-demand user's lambda is its first-token cost
    k = 2.0 / 2e6
    expect = 1.5 + np.array([0.1, 0.2, 0.3]) - 0.5 + k * (4e6 + mkt.demand)
    np.testing.assert_allclose(eq.multipliers, expect, rtol=1e-13)
    assert_is_equilibrium(eq)


def test_zero_demand_users_and_unused_provider() -> None:
    mkt = Market(demand=[0.0, 5e7, 0.0], price=[1.0, 1.0, 500.0], capacity=[1e8, 1e8, 1e8])
    eq = solve_equilibrium_checked(mkt, Preferences(w_q=1.0, w_d=0.0))
    assert not eq.flows[[0, 2]].any()
    assert eq.loads[2] == 0.0
    assert not eq.support[[0, 2]].any()
    # a zero-demand user's multiplier is the marginal cost of its first token: min_j c_j + k_j F_j
    k = 1.0 / 1e8
    assert eq.multipliers[0] == pytest.approx(1.0 + k * 2.5e7, rel=1e-13)
    assert_is_equilibrium(eq)


def test_all_demand_zero() -> None:
    mkt = Market(demand=[0.0, 0.0], price=[1.0, 2.0], capacity=[1.0, 1.0])
    eq = solve_equilibrium_checked(mkt, Preferences(w_d=0.0))
    assert not eq.flows.any()
    np.testing.assert_allclose(eq.multipliers, [1.0, 1.0])
    assert eq.certificate.certified


@pytest.mark.parametrize("scale", [1e3, 1e8, 1e13])
@pytest.mark.parametrize("price_scale", [1e-3, 1.0, 1e2])
def test_extreme_scales(scale: float, price_scale: float, rng: np.random.Generator) -> None:
    mkt, prefs = random_market(rng, 6, 5, demand_scale=scale)
    mkt = mkt.replace(price=mkt.price * price_scale / 10)
    eq = solve_equilibrium_checked(
        mkt, prefs.replace(w_q=prefs.w_q * price_scale, b=prefs.b * price_scale)
    )
    assert_is_equilibrium(eq)


def test_mixed_token_volumes_from_1e3_to_1e13(rng: np.random.Generator) -> None:
    demand = 10.0 ** np.linspace(3, 13, 8)
    mkt = Market(
        demand=demand,
        price=10.0 ** rng.uniform(-3, 2, 6),
        capacity=10.0 ** rng.uniform(9, 13, 6),
        latency=rng.uniform(0, 2, (8, 6)),
    )
    eq = solve_equilibrium_checked(mkt, Preferences(w_q=2.0, w_d=0.3, b=rng.uniform(0, 3, 6)))
    assert_is_equilibrium(eq)


# ---------------------------------------------------------------- properties
@given(markets())
def test_random_and_degenerate_markets_are_certified(case: tuple[Market, Preferences]) -> None:
    market, prefs = case
    assert_is_equilibrium(solve_equilibrium_checked(market, prefs))


@given(markets(), st.integers(0, 2**32 - 1))
def test_warm_starts_reach_the_same_equilibrium(
    case: tuple[Market, Preferences], seed: int
) -> None:
    market, prefs = case
    cold = solve_equilibrium_checked(market, prefs)
    rng = np.random.default_rng(seed)
    scale = max(float(market.demand.max()), 1.0)
    for start in (
        rng.random(market.shape) < 0.5,
        np.zeros(market.shape, bool),
        rng.random(market.shape) * scale,
        cold,
    ):
        warm = solve_equilibrium_checked(market, prefs, warm_start=start)
        assert_is_equilibrium(warm)
        np.testing.assert_allclose(warm.flows, cold.flows, rtol=0, atol=1e-10 * scale)
        np.testing.assert_array_equal(warm.support, cold.support)


@given(markets(max_users=5, max_providers=5, extreme=False))
def test_agrees_with_the_cvxpy_reference(case: tuple[Market, Preferences]) -> None:
    market, prefs = case
    eq = solve_equilibrium_checked(market, prefs)
    ref = equilibrium_reference(
        market, prefs, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, tol_ktratio=1e-10
    )
    scale = float(market.demand.max()) or 1.0
    np.testing.assert_allclose(ref.flows, eq.flows, rtol=0, atol=1e-6 * scale)
    active = market.demand > 0
    lam_scale = max(float(np.abs(eq.multipliers).max()), 1.0)
    np.testing.assert_allclose(
        ref.multipliers[active], eq.multipliers[active], rtol=0, atol=1e-6 * lam_scale
    )


@given(markets(max_users=5, max_providers=5), st.sampled_from(["users", "providers"]))
def test_both_linear_systems_agree(case: tuple[Market, Preferences], system: str) -> None:
    market, prefs = case
    a = solve_equilibrium_checked(market, prefs, system=system)
    b = solve_equilibrium_checked(market, prefs)
    scale = max(float(market.demand.max()), 1.0)
    np.testing.assert_allclose(a.flows, b.flows, rtol=0, atol=1e-10 * scale)


@given(markets(max_users=5, max_providers=5))
def test_monotone_fallback_gives_the_same_answer(case: tuple[Market, Preferences]) -> None:
    # max_iter=0 skips the primal-dual iteration: the monotone primal active-set method alone
    market, prefs = case
    a = solve_equilibrium_checked(market, prefs, max_iter=0)
    b = solve_equilibrium_checked(market, prefs)
    assert_is_equilibrium(a)
    scale = max(float(market.demand.max()), 1.0)
    np.testing.assert_allclose(a.flows, b.flows, rtol=0, atol=1e-10 * scale)
    if market.demand.any():
        assert a.info["fallback"]


def test_potential_is_minimal_against_random_feasible_points(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 6, 5)
    eq = solve_equilibrium_checked(market, prefs)
    best = potential(market, prefs, eq.flows)
    for _ in range(200):
        w = rng.dirichlet(np.ones(market.n_providers), size=market.n_users)
        assert potential(market, prefs, w * market.demand[:, None]) >= best


def test_larger_market_with_many_zero_flows(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 60, 40, tightness=0.3)
    eq = solve_equilibrium_checked(market, prefs)
    assert (~eq.support).sum() > 0.3 * eq.support.size
    assert_is_equilibrium(eq)


# ---------------------------------------------------------------- certificate and errors
def test_certificate_detects_a_wrong_answer(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 4, 4)
    eq = solve_equilibrium_checked(market, prefs)
    # spread every user evenly: feasible, but not an equilibrium
    even = np.tile(market.demand[:, None] / 4, (1, 4))
    cert = kkt_certificate(market, prefs, even, eq.multipliers)
    assert not cert.certified
    assert cert.stationarity > 1e-3 and cert.nash_gap > 1e-6
    exact = kkt_certificate(market, prefs, eq.flows, eq.multipliers, eq.support)
    assert exact.certified


def test_reference_certificate_shows_interior_point_residue(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 8, 8, tightness=0.3)
    eq = solve_equilibrium_checked(market, prefs)
    ref = equilibrium_reference(market, prefs)
    measured = kkt_certificate(market, prefs, ref.flows, ref.multipliers, eq.support)
    assert measured.max_residual > 1e3 * eq.certificate.max_residual
    assert ref.method == "cvxpy-CLARABEL"


def test_uncertifiable_result_raises(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 5, 5)
    # a tolerance no double can meet: even the exact (rational) equilibrium is refused
    with pytest.raises(EquilibriumError, match=r"could not certify.*below what doubles can show"):
        solve_equilibrium_checked(market, prefs, tol=1e-300)
    with pytest.raises(MarketError, match=r"tol: must be > 0, got -1\.0"):
        solve_equilibrium_checked(market, prefs, tol=-1.0)


def test_bad_arguments(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 3, 4)
    with pytest.raises(MarketError, match="warm_start: expected shape"):
        solve_equilibrium_checked(market, prefs, warm_start=np.ones((4, 3)))
    with pytest.raises(MarketError, match="b: expected 4 values"):
        solve_equilibrium_checked(market, prefs.replace(b=[1.0, 2.0]))
    with pytest.raises(ValueError, match="system"):
        solve_equilibrium_checked(market, prefs, system="dense")
    with pytest.raises(ValueError, match="max_iter"):
        solve_equilibrium_checked(market, prefs, max_iter=-1)


def test_raw_engine_matches_public_api(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 7, 3)
    gc = game_coefficients(market, prefs)
    raw = solve_active_set(gc.cost, gc.slope, gc.demand)
    eq = solve_equilibrium_checked(market, prefs)
    np.testing.assert_array_equal(raw.flows, eq.flows)
    np.testing.assert_array_equal(raw.multipliers, eq.multipliers)


def test_results_are_read_only(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 3, 3)
    eq = solve_equilibrium_checked(market, prefs)
    with pytest.raises(ValueError):
        eq.flows[0, 0] = 1.0


def test_to_dict_reports_flows_by_id(rng: np.random.Generator) -> None:
    market, prefs = random_market(rng, 3, 3)
    eq = solve_equilibrium_checked(market, prefs)
    out = eq.to_dict()
    assert out["certificate"]["certified"] is True
    total = sum(out["users"][0]["flows"].values())
    assert total == pytest.approx(market.demand[0], rel=1e-12)
    assert [p["id"] for p in out["providers"]] == list(market.provider_ids)


def test_user_costs_are_computed_on_first_read_from_the_flows():
    """``Equilibrium.user_costs`` (lazy) is Eq. (1) of the flows, however the slopes come."""
    import dataclasses

    from prillm.equilibrium import user_costs

    market, prefs = random_market(np.random.default_rng(11), 7, 5)
    eq = solve_equilibrium(market, prefs)
    want = user_costs(market, prefs, eq.flows)
    got = eq.user_costs
    assert got is eq.user_costs and not got.flags.writeable
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    bare = dataclasses.replace(eq, slope=None)  # the slopes recomputed from the market
    np.testing.assert_allclose(bare.user_costs, got, rtol=1e-15, atol=0)
