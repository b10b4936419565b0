"""The exact rational last resort (prillm.equilibrium.rational) against tests/oracle.py.

The oracle solves the same KKT conditions in rationals by a different method (Gaussian
elimination on :class:`fractions.Fraction` and its own active-set loop); the library's path uses
integer fraction-free elimination and a monotone fallback, and shares no code with it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import prillm.equilibrium.rational as rational
from prillm import EquilibriumError, Market, Preferences, solve_equilibrium
from prillm.equilibrium import package_equilibrium, rational_equilibrium, solve_active_set
from prillm.market import cost_rounding_error, game_coefficients
from scripts.stress_equilibrium import random_market
from tests.markets import markets
from tests.oracle import exact_equilibrium, flow_error

TOL = 1e-9
#: The rounding of an exact flow to the nearest double, relative to its user's demand.
ROUNDING = 2.0**-53


def _floating_point_only(market, prefs):
    """What ``solve_equilibrium`` did before the rational path: the floating-point passes."""
    gc = game_coefficients(market, prefs)
    raw = solve_active_set(
        gc.cost, gc.slope, gc.demand, cost_lo=lambda: cost_rounding_error(market, prefs)
    )
    return package_equilibrium(market, prefs, gc.cost, gc.slope, raw, TOL)


def _corner_markets(count: int, seed: int = 0, max_size: int = 12):
    """Markets of the stress script's "wide" kind that the floating-point passes cannot certify."""
    rng = np.random.default_rng(seed)
    found = []
    while len(found) < count:
        market, prefs = random_market(rng, "wide", max_size)
        try:
            _floating_point_only(market, prefs)
        except EquilibriumError as exc:
            assert "flow error bound" in str(exc)
            found.append((market, prefs))
    return found


CORNER = _corner_markets(6)


def _assert_exact(res_flows, bound, market, prefs, support=None):
    exact = exact_equilibrium(market, prefs, hint=support)
    err = flow_error(res_flows, exact, market.demand)
    assert err <= bound <= ROUNDING
    return exact


@pytest.mark.parametrize("case", range(len(CORNER)))
def test_corner_markets_that_raised_are_now_exact(case):
    """The compounded corner (capacity 1e13 x demand, w_q 1e-6, prices 1e4) comes back certified
    on the rational path, equal to the oracle's exact equilibrium within the rounding bound."""
    market, prefs = CORNER[case]
    eq = solve_equilibrium(market, prefs, tol=TOL, check_nash=True)
    assert eq.path == "rational" and eq.to_dict()["path"] == "rational"
    assert eq.certificate.certified and eq.certificate.flow_error <= ROUNDING
    exact = _assert_exact(eq.flows, eq.certificate.flow_error, market, prefs, eq.support)
    lam = np.array([float(v) for v in exact.lam])
    np.testing.assert_array_equal(eq.multipliers, lam)
    np.testing.assert_array_equal(eq.support, exact.support)


@pytest.mark.parametrize("case", range(3))
def test_warm_starts_do_not_change_the_rational_answer(case):
    market, prefs = CORNER[case]
    cold = solve_equilibrium(market, prefs)
    rng = np.random.default_rng(case)
    for _ in range(4):
        warm = solve_equilibrium(market, prefs, warm_start=rng.random(market.shape) < 0.5)
        if warm.path == "rational":  # the same exact answer, rounded the same way
            np.testing.assert_array_equal(warm.flows, cold.flows)
        else:
            scale = np.maximum(market.demand, 1e-300)[:, None]
            assert np.max(np.abs(warm.flows - cold.flows) / scale) <= 2 * TOL
        start = rng.random(market.shape) < 0.5
        np.testing.assert_array_equal(rational_equilibrium(market, prefs, start).flows, cold.flows)


@given(markets(max_users=5, max_providers=5), st.integers(0, 2**32 - 1), st.booleans())
def test_rational_path_matches_the_oracle(game, seed, monotone):
    """Forced on random markets (ties, duplicates, zero demand, capacities 1e3-1e13), from a
    random support, by primal-dual steps or by the monotone method alone."""
    market, prefs = game
    start = np.random.default_rng(seed).random(market.shape) < 0.5
    old = rational._PDAS_STEPS
    rational._PDAS_STEPS = 1 if monotone else old
    try:
        res = rational_equilibrium(market, prefs, start)
    finally:
        rational._PDAS_STEPS = old
    assert res.path == "rational"
    exact = _assert_exact(res.flows, float(res.flow_error.max()), market, prefs)
    np.testing.assert_array_equal(res.multipliers, [float(v) for v in exact.lam])
    assert (res.flows >= 0).all() and not (res.flows * ~res.support).any()
    gc = game_coefficients(market, prefs)
    eq = package_equilibrium(market, prefs, gc.cost, gc.slope, res, TOL, nash=True)
    assert eq.certificate.certified


def test_the_monotone_method_is_exercised():
    """With no primal-dual budget the answer comes from the monotone fallback, unchanged."""
    market, prefs = CORNER[0]
    every = np.ones(market.shape, bool)  # a wrong start: every route used
    plain = rational_equilibrium(market, prefs, every)
    old = rational._PDAS_STEPS
    rational._PDAS_STEPS = 1
    try:
        res = rational_equilibrium(market, prefs, every)
    finally:
        rational._PDAS_STEPS = old
    assert res.fallback and not plain.fallback
    np.testing.assert_array_equal(res.flows, plain.flows)


def test_split_flows_carry_their_rounding_error():
    """A split whose exact flows are not doubles: the bound is the exact rounding, and > 0."""
    market = Market(demand=[1.0], price=[1.0, 1.0], capacity=[1.0, 2.0])
    prefs = Preferences(w_q=3.0, w_d=0.0)
    res = rational_equilibrium(market, prefs)
    np.testing.assert_array_equal(res.flows, [[1 / 3, 2 / 3]])
    assert 0 < res.flow_error[0] <= ROUNDING
    _assert_exact(res.flows, float(res.flow_error[0]), market, prefs)


def test_the_size_limit_raises_and_names_itself(monkeypatch):
    big = Market(demand=np.ones(rational.MAX_USERS + 1), price=[1.0], capacity=[1.0])
    with pytest.raises(EquilibriumError, match=f"MAX_USERS={rational.MAX_USERS}"):
        rational_equilibrium(big, Preferences())
    market, prefs = CORNER[0]
    monkeypatch.setattr(rational, "MAX_ROUTES", market.shape[0] * market.shape[1] - 1)
    with pytest.raises(EquilibriumError, match=r"flow error bound.*MAX_ROUTES"):
        solve_equilibrium(market, prefs)


def test_a_tol_below_the_rounding_is_refused_with_the_reason():
    market, prefs = CORNER[0]
    with pytest.raises(EquilibriumError, match="rounded to doubles"):
        solve_equilibrium(market, prefs, tol=1e-30)


def test_the_path_is_recorded():
    plain = solve_equilibrium(Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6]))
    huge = solve_equilibrium(Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e19, 1e19]))
    assert (plain.path, huge.path) == ("double", "double-double")
