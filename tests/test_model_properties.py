"""Properties of the model and its kernel: water-filling, potential, best responses, KKT kernel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prillm import Market, MarketError, Preferences, game_coefficients, solve_equilibrium
from prillm import water_filling as wf
from prillm._threads import limit_threads, threads_limited
from prillm.equilibrium import (
    KKTMatrix,
    SupportKKT,
    best_response_dynamics,
    best_responses,
    first_support,
    potential,
    problem_scales,
    solve_active_set,
    solve_support,
    user_costs,
)
from prillm.equilibrium.kkt import kkt_matrix, pair_matrix, system_weights

from .markets import markets

seeds = st.integers(0, 2**32 - 1)


def _problem(rng: np.random.Generator, n: int, m: int) -> tuple[np.ndarray, ...]:
    """Intercepts, curvatures (per column or per entry) and demands of random water-fillings."""
    a = rng.normal(0.0, 1.0, (n, m)) * 10.0 ** rng.integers(-2, 3)
    if rng.random() < 0.3:  # ties
        a[:, : max(1, m // 2)] = a[:, :1]
    h = rng.uniform(0.1, 5.0, m) if rng.random() < 0.5 else rng.uniform(0.1, 5.0, (n, m))
    d = rng.uniform(0.0, 3.0, n)
    d[rng.random(n) < 0.2] = 0.0
    return a, h, d


# ---------------------------------------------------------------- water-filling
@given(seeds, st.integers(1, 6), st.integers(1, 8))
def test_water_filling_satisfies_its_kkt_conditions(seed: int, n: int, m: int) -> None:
    a, h, d = _problem(np.random.default_rng(seed), n, m)
    x, level = wf(a, h, d)
    hb = np.broadcast_to(h, a.shape)
    scale = max(1.0, float(np.abs(a).max()), float((hb * d[:, None]).max()))
    assert (x >= 0).all()
    np.testing.assert_allclose(x.sum(axis=1), d, rtol=1e-12, atol=1e-12)
    marginal = a + hb * x
    used = x > 0
    # used routes: marginal cost equals the level; unused routes: not cheaper than the level
    assert np.all(np.abs(np.where(used, marginal - level[:, None], 0.0)) <= 1e-11 * scale)
    assert np.all(np.where(used, 0.0, a - level[:, None]) >= -1e-11 * scale)
    idle = d == 0
    np.testing.assert_array_equal(level[idle], a[idle].min(axis=1))


@given(seeds, st.integers(1, 5), st.integers(1, 6))
def test_water_filling_beats_every_feasible_split(seed: int, n: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    a, h, d = _problem(rng, n, m)
    x, _ = wf(a, h, d)
    hb = np.broadcast_to(h, a.shape)

    def objective(y: np.ndarray) -> np.ndarray:
        return (a * y + 0.5 * hb * y * y).sum(axis=1)

    best = objective(x)
    for _ in range(50):
        y = rng.dirichlet(np.ones(m), size=n) * d[:, None]
        assert np.all(objective(y) >= best - 1e-10 * (1.0 + np.abs(best)))


@given(seeds, st.integers(1, 5), st.integers(1, 6))
def test_water_filling_rows_are_independent(seed: int, n: int, m: int) -> None:
    a, h, d = _problem(np.random.default_rng(seed), n, m)
    x, level = wf(a, h, d)
    for i in range(n):
        hi = h if h.ndim == 1 else h[i]
        xi, li = wf(a[i], hi, d[i])
        np.testing.assert_allclose(xi, x[i], rtol=1e-13, atol=1e-13)
        assert li == pytest.approx(level[i], rel=1e-13, abs=1e-13)


def test_water_filling_small_cases_by_hand() -> None:
    # two equal providers split evenly; a dear third one is left out
    x, lam = wf(np.array([1.0, 1.0, 9.0]), np.array([2.0, 2.0, 2.0]), 4.0)
    np.testing.assert_allclose(x, [2.0, 2.0, 0.0])
    assert lam == pytest.approx(5.0)
    # a single provider takes everything; zero demand gives the cheapest intercept as level
    x, lam = wf(np.array([[3.0], [2.0]]), np.array([1.0]), np.array([2.0, 0.0]))
    assert x.tolist() == [[2.0], [0.0]] and lam.tolist() == [5.0, 2.0]
    # the steeper provider gets less: 1/h weights
    x, _ = wf(np.array([0.0, 0.0]), np.array([1.0, 3.0]), 4.0)
    np.testing.assert_allclose(x, [3.0, 1.0])


# ---------------------------------------------------------------- the model's quantities
@given(markets(max_users=4, max_providers=4, extreme=False), seeds)
def test_potential_changes_by_the_movers_cost(case: tuple[Market, Preferences], seed: int) -> None:
    market, prefs = case
    rng = np.random.default_rng(seed)
    n, m = market.shape
    profile = rng.dirichlet(np.ones(m), size=n) * market.demand[:, None]
    i = int(rng.integers(n))
    moved = profile.copy()
    moved[i] = rng.dirichlet(np.ones(m)) * market.demand[i]
    d_phi = potential(market, prefs, moved) - potential(market, prefs, profile)
    d_cost = user_costs(market, prefs, moved)[i] - user_costs(market, prefs, profile)[i]
    scale = abs(potential(market, prefs, profile)) + abs(user_costs(market, prefs, profile)).sum()
    assert abs(d_phi - d_cost) <= 1e-9 * max(scale, 1e-12)


@given(markets(max_users=5, max_providers=5, extreme=False))
def test_equilibrium_is_each_users_best_response(case: tuple[Market, Preferences]) -> None:
    market, prefs = case
    eq = solve_equilibrium(market, prefs)
    gc = game_coefficients(market, prefs)
    br, _ = best_responses(gc.cost, gc.slope, gc.demand, np.array(eq.flows))
    scale = max(float(market.demand.max()), 1.0)
    np.testing.assert_allclose(br, eq.flows, rtol=0, atol=1e-7 * scale)


@given(markets(max_users=4, max_providers=4, extreme=False))
def test_gauss_seidel_best_responses_descend_the_potential(
    case: tuple[Market, Preferences],
) -> None:
    market, prefs = case
    traj = best_response_dynamics(market, prefs, rounds=6)
    phi = traj.potential
    assert traj.flows.shape == (7, *market.shape)
    assert np.all(np.diff(phi) <= 1e-9 * (1.0 + np.abs(phi[:-1])))
    np.testing.assert_allclose(traj.final.sum(axis=1), market.demand, rtol=1e-12)
    eq = solve_equilibrium(market, prefs)
    assert phi[-1] >= potential(market, prefs, eq.flows) - 1e-9 * (1.0 + abs(phi[-1]))


def test_best_response_dynamics_reach_the_equilibrium(rng: np.random.Generator) -> None:
    from prillm.synthetic import random_market

    market, prefs = random_market(rng, 5, 4)
    eq = solve_equilibrium(market, prefs)
    start = rng.dirichlet(np.ones(4), size=5) * market.demand[:, None]
    gs = best_response_dynamics(market, prefs, start, rounds=200)
    scale = float(market.demand.max())
    np.testing.assert_allclose(gs.final, eq.flows, rtol=0, atol=1e-6 * scale)
    jac = best_response_dynamics(market, prefs, start, rounds=3, order="jacobi")
    assert jac.order == "jacobi" and jac.flows.shape == (4, 5, 4)
    with pytest.raises(ValueError, match="order"):
        best_response_dynamics(market, prefs, order="random")
    with pytest.raises(ValueError, match="rounds"):
        best_response_dynamics(market, prefs, rounds=-1)
    with pytest.raises(MarketError, match="start: expected shape"):
        best_response_dynamics(market, prefs, start=np.ones((2, 2)))
    with pytest.raises(MarketError, match="flows: expected shape"):
        user_costs(market, prefs, np.ones(3))


@given(markets(max_users=5, max_providers=5, extreme=False), st.floats(-20.0, 20.0))
def test_common_shift_of_every_value_leaves_the_flows(
    case: tuple[Market, Preferences], shift: float
) -> None:
    market, prefs = case
    base = solve_equilibrium(market, prefs)
    moved = solve_equilibrium(market, prefs.replace(b=np.asarray(prefs.b) + shift))
    scale = max(float(market.demand.max()), 1.0)
    np.testing.assert_allclose(moved.flows, base.flows, rtol=0, atol=1e-9 * scale)
    active = market.demand > 0
    lam_scale = max(float(np.abs(base.multipliers).max()), abs(shift), 1.0)
    np.testing.assert_allclose(
        moved.multipliers[active], base.multipliers[active] - shift, rtol=0, atol=1e-9 * lam_scale
    )


@given(markets(max_users=4, max_providers=4, extreme=False), st.floats(0.01, 0.5))
def test_the_targets_load_does_not_grow_with_its_price(
    case: tuple[Market, Preferences], step: float
) -> None:
    market, prefs = case
    s = 0
    loads = [
        solve_equilibrium(market.with_price(s, p), prefs).loads[s]
        for p in market.price[s] * (1.0 + step * np.arange(4)) + step * np.arange(4)
    ]
    scale = max(float(market.demand.sum()), 1.0)
    assert np.all(np.diff(loads) <= 1e-9 * scale)


# ---------------------------------------------------------------- the kernel
def _support(rng: np.random.Generator, n: int, m: int, p: float) -> np.ndarray:
    s = rng.random((n, m)) < p
    s[np.arange(n), rng.integers(m, size=n)] = True
    return s


@given(seeds, st.integers(1, 7), st.integers(1, 7), st.floats(0.05, 1.0))
def test_both_reduced_systems_and_several_right_hand_sides_agree(
    seed: int, n: int, m: int, p: float
) -> None:
    rng = np.random.default_rng(seed)
    s = _support(rng, n, m, p)
    capa = rng.uniform(0.1, 10.0, m)
    costs = rng.normal(size=(3, n, m))
    demands = rng.uniform(0.0, 1.0, (3, n))
    users = SupportKKT(capa, s, "users")
    providers = SupportKKT(capa, s, "providers")
    rows = np.empty((n, 3))
    cols = np.empty((m, 3))
    for k in range(3):
        lam_u, loads_u, f_u = users.solve_costs(costs[k], demands[k])
        lam_p, loads_p, f_p = providers.solve_costs(costs[k], demands[k])
        np.testing.assert_allclose(lam_u, lam_p, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(f_u, f_p, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(loads_u, loads_p, rtol=1e-9, atol=1e-9)
        # the KKT equations of the support: demands met, loads are the flows' sums, and
        # stationarity c + (F + f) / K = lambda on every used route
        np.testing.assert_allclose(f_u.sum(axis=1), demands[k], atol=1e-9)
        np.testing.assert_allclose(f_u.sum(axis=0), loads_u, atol=1e-9)
        g = costs[k] + (loads_u + f_u) / capa - lam_u[:, None]
        assert np.abs(g[s]).max() <= 1e-8
        ac = s * costs[k]
        rows[:, k] = ac @ capa + demands[k]
        cols[:, k] = ac.sum(axis=0)
    lam3, loads3 = users.solve(rows, cols)  # three right-hand sides, one factor
    lam0, loads0, _ = solve_support(costs[0], capa, demands[0], s)
    np.testing.assert_allclose(lam3[:, 0], lam0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loads3[:, 0], loads0, rtol=1e-12, atol=1e-12)


@given(seeds, st.sampled_from([(70, 20), (20, 70), (90, 90)]), st.floats(0.01, 0.08))
def test_pair_assembly_equals_the_dense_product(seed: int, shape: tuple, p: float) -> None:
    rng = np.random.default_rng(seed)
    n, m = shape
    s = _support(rng, n, m, p)
    capa = rng.uniform(0.1, 10.0, m)
    a = s.astype(float)
    nj, rowk = a.sum(axis=0), a @ capa
    for users in (True, False):
        weight, diag = system_weights(capa, nj, rowk, users)
        dense = kkt_matrix(a, weight, diag, users)
        pairs = pair_matrix(s, weight, diag, users)
        np.testing.assert_allclose(pairs, dense, rtol=1e-12, atol=1e-12)


@given(seeds, st.sampled_from([(6, 9), (9, 6), (12, 12)]))
def test_low_rank_updates_match_a_fresh_matrix(seed: int, shape: tuple) -> None:
    rng = np.random.default_rng(seed)
    n, m = shape
    capa = rng.uniform(0.1, 10.0, m)
    system = KKTMatrix(capa, shape, refresh=1000, min_size=0)
    support = np.ones(shape, bool)
    system.matrix(support)
    for _ in range(15):
        new = support.copy()
        new.reshape(-1)[rng.choice(n * m, size=int(rng.integers(1, 4)), replace=False)] ^= True
        empty = ~new.any(axis=1)
        new[empty] = support[empty]
        updated = system.matrix(new).copy()
        fresh = KKTMatrix(capa, shape).matrix(new)
        np.testing.assert_allclose(updated, fresh, rtol=1e-12, atol=1e-12 * np.abs(fresh).max())
        support = new


@given(markets(max_users=1, max_providers=8))
def test_the_first_support_is_exact_for_one_user(case: tuple[Market, Preferences]) -> None:
    market, prefs = case
    if market.demand[0] <= 0:
        return
    gc = game_coefficients(market, prefs)
    d_scale, c_scale = problem_scales(gc.cost, gc.slope, gc.demand)
    guess = first_support(gc.cost / c_scale, c_scale / (gc.slope * d_scale), gc.demand / d_scale)
    raw = solve_active_set(gc.cost, gc.slope, gc.demand, guess)
    assert raw.iterations == 1  # the guess was the equilibrium's support


@given(markets(max_users=6, max_providers=6), seeds)
def test_any_warm_start_gives_the_same_raw_equilibrium(
    case: tuple[Market, Preferences], seed: int
) -> None:
    market, prefs = case
    gc = game_coefficients(market, prefs)
    cold = solve_active_set(gc.cost, gc.slope, gc.demand)
    rng = np.random.default_rng(seed)
    scale = max(float(market.demand.max()), 1.0)
    for start in (rng.random(market.shape) < 0.3, np.ones(market.shape, bool)):
        warm = solve_active_set(gc.cost, gc.slope, gc.demand, start)
        np.testing.assert_allclose(warm.flows, cold.flows, rtol=0, atol=1e-10 * scale)
        np.testing.assert_allclose(warm.flows.sum(axis=1), market.demand, atol=1e-10 * scale)


# ---------------------------------------------------------------- the thread policy
def test_the_thread_limiter_is_reentrant_and_restores() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    assert not threads_limited()
    with limit_threads():
        assert threads_limited()
        assert all(k == 1 for k in blas_threads())
        with limit_threads():
            assert all(k == 1 for k in blas_threads())
        assert threads_limited() and all(k == 1 for k in blas_threads())
    assert not threads_limited()
    assert blas_threads() == before
    with pytest.raises(KeyError):  # an error inside the block restores the counts too
        with limit_threads():
            assert all(k == 1 for k in blas_threads())
            raise KeyError("inside")
    assert not threads_limited() and blas_threads() == before
    with pytest.raises(ValueError, match="threads"):
        with limit_threads(0):
            pass
