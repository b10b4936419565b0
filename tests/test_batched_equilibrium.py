"""The batched torch equilibrium and the torch KKT kernel, against the single-market engine."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from prillm import Market, Preferences, game_coefficients, solve_equilibrium
from prillm.equilibrium import ActiveSetResult, EquilibriumError, solve_active_set, solve_support
from prillm.torch_equilibrium import (
    CvxpyLayerEquilibrium,
    SupportSystem,
    batched_equilibrium,
    equilibrium_from_coefficients,
    numpy_engine,
)

from .markets import markets, random_market

F64 = torch.float64
TOL = 1e-9


def coefficient_batch(cases: list[tuple[Market, Preferences]]) -> tuple[torch.Tensor, ...]:
    """``cost, slope, demand`` tensors of markets of one shape."""
    gcs = [game_coefficients(mkt, prefs) for mkt, prefs in cases]
    return tuple(
        torch.tensor(np.stack([getattr(g, key) for g in gcs]), dtype=F64)
        for key in ("cost", "slope", "demand")
    )


def variants(market: Market, prefs: Preferences, rng: np.random.Generator) -> list:
    """The market and three variants of the same shape (other demands, prices, capacities)."""
    n, m = market.shape
    return [
        (market, prefs),
        (market.replace(demand=np.asarray(market.demand) * rng.uniform(0.2, 2.0, n)), prefs),
        (market.replace(price=np.asarray(market.price)[rng.permutation(m)]), prefs),
        (market.replace(capacity=np.asarray(market.capacity) * rng.uniform(0.1, 10.0, m)), prefs),
    ]


def assert_matches_engine(cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor) -> None:
    flows, info = batched_equilibrium(cost, slope, demand, return_info=True)
    assert flows.shape == cost.shape
    assert bool((flows >= 0).all())
    for t in range(cost.shape[0]):
        d = demand[t].numpy()
        ref = solve_active_set(cost[t].numpy(), slope[t].numpy(), d).flows
        scale = max(float(d.max()), 1e-300)
        err = float(np.abs(flows[t].numpy() - ref).max()) / scale
        assert err <= TOL, f"market {t}: flows differ from the numpy engine by {err:.2e}"
        np.testing.assert_allclose(flows[t].sum(dim=1).numpy(), d, rtol=0, atol=TOL * scale)
    assert bool((info.residual <= TOL).all())


# ------------------------------------------------------------------------ the kernel
@given(markets(max_users=8, max_providers=8), st.integers(0, 2**32 - 1))
def test_kernel_both_systems_match_the_numpy_kernel(
    case: tuple[Market, Preferences], seed: int
) -> None:
    market, prefs = case
    gc = game_coefficients(market, prefs)
    active = gc.demand > 0
    if not active.any():
        return
    rng = np.random.default_rng(seed)
    cost, capa, dem = gc.cost[active], 1.0 / gc.slope, gc.demand[active]
    scale_c, scale_d = float(np.abs(cost).max()) or 1.0, float(dem.max())
    cost, dem, capa = cost / scale_c, dem / scale_d, capa * scale_c / scale_d
    support = rng.random(cost.shape) < 0.6
    support[np.arange(cost.shape[0]), rng.integers(0, cost.shape[1], cost.shape[0])] = True
    lam, loads, flows = solve_support(cost, capa, dem, support)
    a = torch.tensor(support, dtype=F64)[..., None]
    for system in ("users", "providers"):
        sysm = SupportSystem(a, torch.tensor(capa)[:, None], system)
        t_lam, t_loads, t_flows = sysm.solve(
            torch.tensor(cost)[..., None], torch.tensor(dem)[:, None]
        )
        ref_scale = max(1.0, float(np.abs(flows).max()))
        assert np.abs(t_flows[..., 0].numpy() - flows).max() <= 1e-8 * ref_scale
        assert np.abs(t_loads[:, 0].numpy() - loads).max() <= 1e-8 * ref_scale
        assert np.abs(t_lam[:, 0].numpy() - lam).max() <= 1e-8 * max(1.0, np.abs(lam).max())


def test_kernel_lapack_path_for_larger_systems() -> None:
    # 12 users x 9 providers: the 9 x 9 providers' system goes to the batched LAPACK Cholesky
    rng = np.random.default_rng(1)
    cost = rng.uniform(0, 1, (12, 9, 3))
    capa = rng.uniform(0.5, 2, (9, 3))
    dem = rng.uniform(0.5, 1, (12, 3))
    support = rng.random((12, 9, 3)) < 0.7
    support[:, 0] = True
    sysm = SupportSystem(torch.tensor(support, dtype=F64), torch.tensor(capa), "providers")
    assert sysm.size == 9 and bool(sysm.ok.all())
    _, _, flows = sysm.solve(torch.tensor(cost), torch.tensor(dem))
    for t in range(3):
        ref = solve_support(cost[..., t], capa[:, t], dem[:, t], support[..., t])[2]
        assert np.abs(flows[..., t].numpy() - ref).max() <= 1e-12


def test_kernel_rejects_a_bad_system_name() -> None:
    with pytest.raises(ValueError, match="system"):
        SupportSystem(torch.ones(1, 1, 1, dtype=F64), torch.ones(1, 1, dtype=F64), "lu")


# ------------------------------------------------------------------ forward exactness
@given(markets(max_users=7, max_providers=5), st.integers(0, 2**32 - 1))
def test_batched_matches_the_engine_on_random_and_degenerate_markets(
    case: tuple[Market, Preferences], seed: int
) -> None:
    # the strategy draws ties, duplicate providers and users, zero demand, 1e3..1e13 tokens
    market, prefs = case
    assert_matches_engine(*coefficient_batch(variants(market, prefs, np.random.default_rng(seed))))


@pytest.mark.parametrize("scale", [1e3, 1e8, 1e13])
@pytest.mark.parametrize("shape", [(20, 3), (3, 8), (9, 1)])
def test_batched_matches_the_engine_at_every_scale(scale: float, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(int(np.log10(scale)) + 10 * shape[1])
    cases = [random_market(rng, *shape, demand_scale=scale) for _ in range(40)]
    assert_matches_engine(*coefficient_batch(cases))


def test_degenerate_markets_in_one_batch() -> None:
    rng = np.random.default_rng(3)
    base, prefs = random_market(rng, 6, 3, demand_scale=1e9)
    price, lat, cap = np.array(base.price), np.array(base.latency), np.array(base.capacity)
    demand = np.array(base.demand)
    ties = base.replace(
        price=np.full(3, price[0]), latency=np.full((6, 3), lat[0, 0]), capacity=np.full(3, cap[0])
    )
    ties_prefs = prefs.replace(b=np.full(3, 2.0))
    dup = base.replace(
        price=np.r_[price[:2], price[1]],
        capacity=np.r_[cap[:2], cap[1]],
        latency=np.c_[lat[:, :2], lat[:, 1]],
    )
    dup_prefs = prefs.replace(b=np.r_[prefs.b[:2], prefs.b[1]])
    zero = base.replace(demand=np.where(np.arange(6) % 2 == 0, 0.0, demand))
    none = base.replace(demand=np.zeros(6))
    single = lat.copy()
    single[0, 1:] = 1e4  # user 0 has one affordable route
    one_route = base.replace(latency=single)
    cases = [
        (ties, ties_prefs),
        (dup, dup_prefs),
        (zero, prefs),
        (none, prefs),
        (one_route, prefs),
        (base, prefs),
    ]
    cost, slope, dem = coefficient_batch(cases)
    assert_matches_engine(cost, slope, dem)
    flows, info = batched_equilibrium(cost, slope, dem, return_info=True)
    assert float(flows[2, ::2].abs().max()) == 0.0  # no demand, no flow
    assert float(flows[3].abs().max()) == 0.0
    assert float(flows[4, 0, 1:].abs().max()) == 0.0
    # zero-demand users keep exactly one route: the cheapest first token
    assert bool((info.support[2, ::2].sum(dim=1) == 1).all())
    # identical providers share a user's demand equally
    np.testing.assert_allclose(flows[0].numpy(), flows[0].numpy()[:, :1].repeat(3, 1), rtol=1e-9)


def test_warm_start_changes_the_work_not_the_answer() -> None:
    rng = np.random.default_rng(4)
    cost, slope, dem = coefficient_batch([random_market(rng, 20, 3) for _ in range(64)])
    cold, info = batched_equilibrium(cost, slope, dem, return_info=True)
    warm, info_w = batched_equilibrium(cost, slope, dem, warm_start=info.support, return_info=True)
    assert float((cold - warm).abs().max()) <= TOL * float(dem.max())
    assert bool((info_w.iterations == 1).all())  # the right support settles at once
    empty = torch.zeros_like(info.support)  # empty rows: every route
    again = batched_equilibrium(cost, slope, dem, warm_start=empty)
    assert float((cold - again).abs().max()) <= TOL * float(dem.max())


# ----------------------------------------------------------------------- gradients
@given(markets(max_users=4, max_providers=3, extreme=False), st.integers(0, 2**32 - 1))
def test_gradcheck_on_drawn_markets(case: tuple[Market, Preferences], seed: int) -> None:
    market, prefs = case
    cost, slope, dem = coefficient_batch(variants(market, prefs, np.random.default_rng(seed))[:2])
    # order-one units (the map is scale-covariant), and away from support changes, where the
    # map has kinks that a finite difference would straddle
    d_scale = dem.amax(dim=1, keepdim=True).clamp_min(1e-300)
    c_scale = torch.maximum(cost.abs().amax(dim=(1, 2)), slope.amax(dim=1) * dem.sum(dim=1))
    c_scale = c_scale.clamp_min(1e-300)
    cost = cost / c_scale[:, None, None]
    slope = slope * d_scale / c_scale[:, None]
    dem = dem / d_scale
    # a market within 1e-3 of a support change is filtered out (counted by hypothesis)
    assume(margin_ok(cost, slope, dem, 1e-3))
    inputs = tuple(x.clone().requires_grad_(True) for x in (cost, slope, dem))
    assert torch.autograd.gradcheck(lambda c, k, d: batched_equilibrium(c, k, d), inputs)


def margin_ok(cost: torch.Tensor, slope: torch.Tensor, dem: torch.Tensor, margin: float) -> bool:
    """Every positive-demand user's flows are >= margin on its routes, reduced costs elsewhere."""
    for t in range(cost.shape[0]):
        c, k, d = cost[t].numpy(), slope[t].numpy(), dem[t].numpy()
        if (d[d > 0] < 10 * margin).any() or (d == 0).any():
            return False
        res = solve_active_set(c, k, d)
        mu = c + k * (res.loads + res.flows) - res.multipliers[:, None]
        if (res.flows[res.support] < margin).any() or (mu[~res.support] < margin).any():
            return False
    return True


def test_gradcheck_batched_with_unused_routes() -> None:
    rng = np.random.default_rng(2)
    cost = torch.tensor(rng.uniform(0.0, 1.0, (3, 5, 4)), dtype=F64, requires_grad=True)
    slope = torch.tensor(rng.uniform(0.2, 1.0, (3, 4)), dtype=F64, requires_grad=True)
    demand = torch.tensor(rng.uniform(0.5, 1.5, (3, 5)), dtype=F64, requires_grad=True)
    _, info = batched_equilibrium(cost, slope, demand, return_info=True)
    assert not bool(info.support.all())
    assert torch.autograd.gradcheck(
        lambda c, k, d: batched_equilibrium(c, k, d), (cost, slope, demand)
    )


@pytest.mark.parametrize("shape", [(20, 3), (4, 9)])
def test_gradients_equal_the_single_market_path(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(5)
    cases = [random_market(rng, *shape, demand_scale=1e9, zero_demand=0.1) for _ in range(50)]
    data = coefficient_batch(cases)
    weights = torch.tensor(rng.normal(size=(50, *shape)))
    grads = []
    for fn in (batched_equilibrium, equilibrium_from_coefficients):
        inputs = [x.clone().requires_grad_(True) for x in data]
        (fn(*inputs) * weights).sum().backward()
        grads.append([x.grad for x in inputs])
    for g_b, g_s in zip(*grads, strict=True):
        err = float((g_b - g_s).abs().max() / g_s.abs().max())
        assert err <= 1e-9, f"gradients differ by {err:.2e}"


def test_gradients_agree_with_cvxpylayers() -> None:
    rng = np.random.default_rng(6)
    cost, slope, dem = coefficient_batch([random_market(rng, 5, 3) for _ in range(3)])
    weights = torch.tensor(rng.normal(size=(3, 5, 3)))
    grads, flows = [], []
    for fn in (batched_equilibrium, CvxpyLayerEquilibrium(5, 3, {"eps": 1e-10}).from_coefficients):
        inputs = [x.clone().requires_grad_(True) for x in (cost, slope, dem)]
        f = fn(*inputs)
        (f * weights).sum().backward()
        flows.append(f.detach())
        grads.append([x.grad for x in inputs])
    assert float((flows[0] - flows[1]).abs().max()) <= 1e-6 * float(dem.max())
    for name, g_b, g_c in zip(("cost", "slope", "demand"), *grads, strict=True):
        err = float((g_b - g_c).abs().max() / g_b.abs().max())
        assert err < 1e-4, f"{name}: exact and cvxpylayers gradients differ by {err:.1e}"


# ------------------------------------------------------- unconverged markets and errors
def test_an_unsettled_market_is_reported_and_solved_by_the_engine() -> None:
    rng = np.random.default_rng(7)
    cost, slope, dem = coefficient_batch([random_market(rng, 8, 4) for _ in range(6)])
    # one iteration is not enough for any market that starts from the wrong support
    flows, info = batched_equilibrium(cost, slope, dem, max_iter=1, return_info=True)
    assert bool(info.fallback.any())
    assert_matches_engine(cost, slope, dem)
    for t in range(6):
        ref = solve_active_set(cost[t].numpy(), slope[t].numpy(), dem[t].numpy()).flows
        assert np.abs(flows[t].numpy() - ref).max() <= TOL * float(dem[t].max())
    # and the gradient is taken on the engine's support
    inputs = [x.clone().requires_grad_(True) for x in (cost, slope, dem)]
    batched_equilibrium(*inputs, max_iter=1)[:, :, 0].sum().backward()
    ref_in = [x.clone().requires_grad_(True) for x in (cost, slope, dem)]
    equilibrium_from_coefficients(*ref_in)[:, :, 0].sum().backward()
    for a, b in zip(inputs, ref_in, strict=True):
        assert float((a.grad - b.grad).abs().max()) <= 1e-9 * float(b.grad.abs().max())


def test_engine_failure_on_an_unsettled_market_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    cost, slope, dem = coefficient_batch(
        [random_market(rng, 6, 4, tightness=5.0) for _ in range(2)]
    )

    def broken(c: np.ndarray, k: np.ndarray, d: np.ndarray, warm: object) -> ActiveSetResult:
        n, m = c.shape
        return ActiveSetResult(
            np.zeros((n, m)), np.zeros(n), np.zeros(m), np.ones((n, m), bool), 1, True
        )

    monkeypatch.setattr(numpy_engine, "solve_active_set", broken)
    with pytest.raises(EquilibriumError, match="residual"):
        batched_equilibrium(cost, slope, dem, max_iter=1)


def test_bad_input_is_reported() -> None:
    c = torch.zeros((2, 3, 2), dtype=F64)
    k = torch.ones((2, 2), dtype=F64)
    d = torch.ones((2, 3), dtype=F64)
    with pytest.raises(ValueError, match="expected shapes"):
        batched_equilibrium(c[0], k, d)
    with pytest.raises(ValueError, match="slope, demand"):
        batched_equilibrium(c, k[:, :1], d)
    with pytest.raises(ValueError, match="slope"):
        batched_equilibrium(c, -k, d)
    with pytest.raises(ValueError, match="demand"):
        batched_equilibrium(c, k, -d)
    with pytest.raises(ValueError, match="cost: contains NaN"):
        batched_equilibrium(c.clone().fill_(float("nan")), k, d)
    with pytest.raises(ValueError, match="system"):
        batched_equilibrium(c, k, d, system="lu")
    with pytest.raises(ValueError, match="max_iter"):
        batched_equilibrium(c, k, d, max_iter=0)
    with pytest.raises(ValueError, match="warm_start"):
        batched_equilibrium(c, k, d, warm_start=np.ones((2, 2, 2), bool))


def test_float32_on_the_same_code_path() -> None:
    # the GPU path runs the same code; here its dtype handling is checked on the CPU
    rng = np.random.default_rng(9)
    cost, slope, dem = coefficient_batch([random_market(rng, 6, 3) for _ in range(4)])
    f32 = batched_equilibrium(cost.float(), slope.float(), dem.float())
    f64 = batched_equilibrium(cost, slope, dem)
    assert f32.dtype == torch.float32
    assert float((f32.double() - f64).abs().max()) <= 1e-3 * float(dem.max())


def test_same_result_as_the_market_api() -> None:
    rng = np.random.default_rng(10)
    market, prefs = random_market(rng, 5, 3)
    cost, slope, dem = coefficient_batch([(market, prefs)])
    flows = batched_equilibrium(cost, slope, dem)
    eq = solve_equilibrium(market, prefs)
    assert np.abs(flows[0].numpy() - eq.flows).max() <= TOL * market.demand.max()


@pytest.mark.parametrize("kind", ["wide", "huge_capacity", "one_token"])
def test_batched_flows_at_extreme_scales_match_the_exact_oracle(kind: str) -> None:
    """Capacities to 1e13 x the demand, tiny users beside large loads: the batched path hands
    the markets whose flows plain doubles cannot settle to the engine's refinement (its
    iteration's flows were off by up to 1e-5 of a user's demand there), and flags them."""
    from scripts.stress_equilibrium import random_market as stress_market
    from tests.oracle import exact_equilibrium, flow_error

    rng = np.random.default_rng(2)  # "wide": before the hand-over, 3e-8 of a user's demand
    worst, handed = 0.0, 0
    for _ in range(40):
        market, prefs = stress_market(rng, kind, 6)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            flows, info = batched_equilibrium(
                *coefficient_batch([(market, prefs)]), return_info=True
            )
        handed += int(info.fallback.sum())
        eq = solve_equilibrium(market, prefs)
        exact = exact_equilibrium(market, prefs, hint=eq.support)
        worst = max(worst, flow_error(flows.detach().numpy()[0], exact, market.demand))
        # the markets only rational arithmetic settles are the ones the engine warns about
        warned = any("cannot bound these flows" in str(w.message) for w in caught)
        assert warned == (eq.path == "rational"), (warned, eq.path)
    assert worst <= TOL, worst
    assert handed > 0  # the sample reaches markets the batched iteration cannot settle


def test_ordinary_markets_stay_on_the_batched_path() -> None:
    """Congested markets of realistic units need no refinement: none is handed over."""
    rng = np.random.default_rng(3)
    cases = [random_market(rng, 8, 3) for _ in range(64)]
    shapes = {c[0].shape for c in cases}
    assert shapes == {(8, 3)}
    _, info = batched_equilibrium(*coefficient_batch(cases), return_info=True)
    assert not bool(info.fallback.any())
