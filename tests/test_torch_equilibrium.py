"""The differentiable equilibrium: forward exactness, gradcheck, finite differences, cvxpylayers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from prillm import Market, Preferences, solve_equilibrium
from prillm.torch_equilibrium import (
    CvxpyLayerEquilibrium,
    EquilibriumLayer,
    equilibrium_flows,
    equilibrium_from_coefficients,
    market_coefficients,
    torch_threads,
)

from .markets import markets
from .test_batched_equilibrium import coefficient_batch, margin_ok, variants

F64 = torch.float64


def random_market(rng: np.random.Generator, n: int, m: int, scale: float = 1e9) -> dict:
    """A market in realistic units (tokens ~ scale, prices in USD per 1M tokens)."""
    return {
        "price": rng.uniform(0.1, 5.0, m),
        "capacity": rng.uniform(1.0, 3.0, m) * scale * n / m,
        "latency": rng.uniform(0.2, 2.0, (n, m)),
        "demand": rng.uniform(0.1, 1.0, n) * scale,
        "w_q": 2.0,
        "w_d": 0.7,
        "b": rng.uniform(0.0, 3.0, m),
    }


def exact_flows(mk: dict) -> np.ndarray:
    market = Market(
        demand=mk["demand"], price=mk["price"], capacity=mk["capacity"], latency=mk["latency"]
    )
    prefs = Preferences(w_q=mk["w_q"], w_d=mk["w_d"], b=mk["b"])
    return solve_equilibrium(market, prefs).flows


@pytest.mark.parametrize("linalg", ["numpy", "torch"])
def test_forward_matches_exact_solver_batched(linalg: str) -> None:
    rng = np.random.default_rng(0)
    markets = [random_market(rng, 7, 5) for _ in range(4)]
    stacked = {k: np.stack([np.asarray(mk[k]) for mk in markets]) for k in markets[0]}
    flows = equilibrium_flows(**stacked, linalg=linalg).numpy()
    assert flows.shape == (4, 7, 5)
    for t, mk in enumerate(markets):
        ref = exact_flows(mk)
        assert np.abs(flows[t] - ref).max() <= 1e-12 * mk["demand"].max()
        assert ((ref > 0) != (ref == 0)).all()
    # at least one market has unused routes, so the support matters
    assert any((exact_flows(mk) == 0).any() for mk in markets)


def test_unbatched_inputs_give_unbatched_output_and_broadcast() -> None:
    rng = np.random.default_rng(1)
    mk = random_market(rng, 4, 3)
    single = equilibrium_flows(**mk)
    assert single.shape == (4, 3)
    # a batch of preferences over one shared market
    w_q = torch.tensor([1.0, 2.0, 4.0], dtype=F64)
    batch = equilibrium_flows(**{**mk, "w_q": w_q})
    assert batch.shape == (3, 4, 3)
    np.testing.assert_allclose(batch[1].numpy(), single.numpy(), rtol=0, atol=1e-6)
    # latency given per provider
    lat = mk["latency"][0]
    per_provider = equilibrium_flows(**{**mk, "latency": lat})
    ref = exact_flows({**mk, "latency": np.tile(lat, (4, 1))})
    np.testing.assert_allclose(per_provider.numpy(), ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("linalg", ["numpy", "torch"])
def test_gradcheck_coefficients(linalg: str) -> None:
    rng = np.random.default_rng(2)
    cost = torch.tensor(rng.uniform(0.0, 1.0, (2, 5, 4)), dtype=F64, requires_grad=True)
    slope = torch.tensor(rng.uniform(0.2, 1.0, (2, 4)), dtype=F64, requires_grad=True)
    demand = torch.tensor(rng.uniform(0.5, 1.5, (2, 5)), dtype=F64, requires_grad=True)
    _, support = equilibrium_from_coefficients(cost, slope, demand, return_support=True)
    assert not support.all()  # some routes unused: the active set is exercised
    assert torch.autograd.gradcheck(
        lambda c, k, d: equilibrium_from_coefficients(c, k, d, linalg=linalg), (cost, slope, demand)
    )


@pytest.mark.parametrize("linalg", ["numpy", "torch"])
def test_gradcheck_market_parameters(linalg: str) -> None:
    rng = np.random.default_rng(3)
    mk = random_market(rng, 4, 3, scale=1.0)
    names = ["price", "capacity", "latency", "demand", "w_q", "w_d", "b"]
    inputs = tuple(torch.tensor(mk[k], dtype=F64, requires_grad=True) for k in names)

    def fn(*args: torch.Tensor) -> torch.Tensor:
        return equilibrium_flows(**dict(zip(names, args, strict=True)), linalg=linalg)

    assert torch.autograd.gradcheck(fn, inputs)


def _central_difference(mk: dict, key: str, weights: np.ndarray, rel: float = 1e-6) -> np.ndarray:
    base = np.asarray(mk[key], dtype=float)
    grad = np.zeros(base.shape)
    for idx in np.ndindex(base.shape):
        h = rel * max(abs(float(base[idx])), 1.0)
        hi, lo = base.copy(), base.copy()
        hi[idx] += h
        lo[idx] -= h
        f_hi = exact_flows({**mk, key: hi if base.ndim else float(hi)})
        f_lo = exact_flows({**mk, key: lo if base.ndim else float(lo)})
        grad[idx] = ((f_hi - f_lo) * weights).sum() / (2 * h)
    return grad


@pytest.mark.parametrize("linalg", ["numpy", "torch"])
@pytest.mark.parametrize("key", ["price", "w_q", "w_d", "b", "capacity", "demand"])
def test_gradient_matches_central_differences_at_token_scale(key: str, linalg: str) -> None:
    rng = np.random.default_rng(4)
    mk = random_market(rng, 6, 5)
    weights = rng.normal(size=(6, 5))
    x = torch.tensor(mk[key], dtype=F64, requires_grad=True)
    flows = equilibrium_flows(**{**mk, key: x}, linalg=linalg)
    (flows * torch.tensor(weights)).sum().backward()
    assert x.grad is not None
    fd = _central_difference(mk, key, weights)
    err = np.abs(x.grad.numpy() - fd).max() / np.abs(fd).max()
    assert err < 1e-6, f"{key}: relative gradient error {err:.2e}"


@pytest.mark.parametrize("linalg", ["numpy", "torch"])
def test_zero_demand_user_right_derivative(linalg: str) -> None:
    rng = np.random.default_rng(5)
    mk = random_market(rng, 4, 3)
    mk["demand"][1] = 0.0
    weights = rng.normal(size=(4, 3))
    d = torch.tensor(mk["demand"], requires_grad=True)
    flows = equilibrium_flows(**{**mk, "demand": d}, linalg=linalg)
    assert float(flows[1].detach().abs().max()) <= 1e-12 * mk["demand"].max()
    (flows * torch.tensor(weights)).sum().backward()
    h = 1e-3 * mk["demand"].max()
    hi = mk["demand"].copy()
    hi[1] += h
    lo_f, hi_f = exact_flows(mk), exact_flows({**mk, "demand": hi})
    right = ((hi_f - lo_f) * weights).sum() / h
    assert abs(float(d.grad[1]) - right) <= 1e-6 * abs(right)


@pytest.mark.parametrize("linalg", ["numpy", "torch"])
def test_market_without_demand(linalg: str) -> None:
    rng = np.random.default_rng(9)
    mk = random_market(rng, 3, 3)
    mk["demand"] = np.zeros(3)
    d = torch.tensor(mk["demand"], requires_grad=True)
    flows = equilibrium_flows(**{**mk, "demand": d}, linalg=linalg)
    assert float(flows.abs().max()) < 1e-6  # tokens (round-off of the torch solve)
    flows[:, 0].sum().backward()
    # the first token of each user goes to its cheapest route: the derivative is 0 or 1
    assert torch.isfinite(d.grad).all()
    assert set(np.round(d.grad.numpy(), 9)) <= {0.0, 1.0}


def test_demand_is_conserved_in_the_gradient() -> None:
    rng = np.random.default_rng(6)
    mk = random_market(rng, 5, 4)
    p = torch.tensor(mk["price"], requires_grad=True)
    flows = equilibrium_flows(**{**mk, "price": p})
    flows.sum(dim=-1)[2].backward()  # user 2's total flow is its demand, whatever the prices
    assert float(p.grad.abs().max()) <= 1e-9 * mk["demand"].max()


def test_layer_warm_start_gives_the_same_answer() -> None:
    rng = np.random.default_rng(7)
    mk = random_market(rng, 6, 4)
    layer = EquilibriumLayer()
    first = layer(**mk)
    assert layer.supports is not None and layer.supports.shape == (1, 6, 4)
    again = layer(**{**mk, "w_q": 2.1})
    cold = equilibrium_flows(**{**mk, "w_q": 2.1})
    np.testing.assert_allclose(again.numpy(), cold.numpy()[None], rtol=0, atol=1e-5)
    assert not torch.equal(first, again)


def test_bad_input_is_reported() -> None:
    cost = torch.zeros((1, 2, 2), dtype=F64)
    with pytest.raises(ValueError, match="slope"):
        equilibrium_from_coefficients(cost, torch.zeros((1, 2), dtype=F64), torch.ones((1, 2)))
    with pytest.raises(ValueError, match="demand"):
        equilibrium_from_coefficients(
            cost, torch.ones((1, 2), dtype=F64), -torch.ones((1, 2), dtype=F64)
        )
    with pytest.raises(ValueError, match="linalg"):
        equilibrium_from_coefficients(
            cost, torch.ones((1, 2), dtype=F64), torch.ones((1, 2), dtype=F64), linalg="cuda"
        )
    with pytest.raises(ValueError, match="float64 CPU"):
        equilibrium_from_coefficients(
            cost.float(), torch.ones((1, 2)), torch.ones((1, 2)), linalg="numpy"
        )
    with pytest.raises(ValueError, match="expected shapes"):
        equilibrium_from_coefficients(cost[0], torch.ones((1, 2)), torch.ones((1, 2)))


def test_agrees_with_cvxpylayers() -> None:
    rng = np.random.default_rng(8)
    mk = random_market(rng, 5, 4)
    weights = torch.tensor(rng.normal(size=(5, 4)))
    grads = []
    flows_out = []
    for layer in (equilibrium_flows, CvxpyLayerEquilibrium(5, 4, {"eps": 1e-10})):
        args = {k: torch.tensor(v, dtype=F64, requires_grad=True) for k, v in mk.items()}
        flows = layer(**args).reshape(5, 4)
        (flows * weights).sum().backward()
        flows_out.append(flows.detach().numpy())
        grads.append({k: args[k].grad.numpy() for k in ("price", "w_q", "w_d", "b")})
    scale = mk["demand"].max()
    assert np.abs(flows_out[0] - flows_out[1]).max() <= 1e-9 * scale
    for k in grads[0]:
        err = np.abs(grads[0][k] - grads[1][k]).max() / np.abs(grads[0][k]).max()
        assert err < 1e-4, f"{k}: exact and cvxpylayers gradients differ by {err:.1e}"


# ------------------------------------------------------------ fused CPU path and properties
BROADCASTS = {
    "batched": {},
    "shared latency per provider": {"latency": lambda mk: mk["latency"][0, 0]},
    "scalar b": {"b": lambda mk: 1.5},
    "batched w_q": {"w_q": lambda mk: np.array([1.0, 2.0, 4.0])},
    "batched w_p": {"w_p": lambda mk: np.array([1.0, 0.5, 2.0])},
    "shared market, batched b": {
        "price": lambda mk: mk["price"][0],
        "b": lambda mk: np.stack([mk["b"][0], mk["b"][1], mk["b"][0] + 1]),
    },
}


@pytest.mark.parametrize("case", list(BROADCASTS))
def test_fused_path_equals_the_torch_path_for_every_input(case: str) -> None:
    rng = np.random.default_rng(11)
    markets_ = [random_market(rng, 5, 4) for _ in range(3)]
    mk = {k: np.stack([np.asarray(m[k]) for m in markets_]) for k in markets_[0]}
    mk["w_q"], mk["w_d"], mk["w_p"] = 2.0, 0.7, 1.0
    for key, fn in BROADCASTS[case].items():
        mk[key] = fn(mk)
    weights = torch.tensor(rng.normal(size=(3, 5, 4)))
    results = []
    for linalg in ("auto", "torch"):
        args = {k: torch.tensor(v, dtype=F64, requires_grad=True) for k, v in mk.items()}
        flows = equilibrium_flows(**args, linalg=linalg)
        (flows * weights).sum().backward()
        results.append((flows.detach(), {k: args[k].grad for k in args}))
    (f_a, g_a), (f_t, g_t) = results
    assert f_a.shape == f_t.shape == (3, 5, 4)
    assert float((f_a - f_t).abs().max()) <= 1e-9 * mk["demand"].max()
    for key in g_a:
        assert g_a[key].shape == g_t[key].shape, key
        # a scalar b shifts every cost alike and moves no flow: its gradient is round-off, so
        # errors are measured against the price gradient there
        ref = g_t["price"] if case == "scalar b" and key == "b" else g_t[key]
        err = float((g_a[key] - g_t[key]).abs().max() / ref.abs().max())
        assert err <= 1e-9, f"{key}: fused and torch gradients differ by {err:.1e}"


def test_market_coefficients_are_those_of_the_fused_path() -> None:
    rng = np.random.default_rng(12)
    mk = random_market(rng, 4, 3)
    cost, slope, dem = market_coefficients(**mk)
    flows = equilibrium_from_coefficients(cost, slope, dem)
    np.testing.assert_allclose(flows[0].numpy(), equilibrium_flows(**mk).numpy(), rtol=0, atol=1e-6)


@given(
    markets(max_users=4, max_providers=3, extreme=False),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["numpy", "torch"]),
)
def test_gradcheck_single_market_path_on_drawn_markets(
    case: tuple[Market, Preferences], seed: int, linalg: str
) -> None:
    market, prefs = case
    cost, slope, dem = coefficient_batch(variants(market, prefs, np.random.default_rng(seed))[:2])
    d_scale = dem.amax(dim=1, keepdim=True).clamp_min(1e-300)
    c_scale = torch.maximum(cost.abs().amax(dim=(1, 2)), slope.amax(dim=1) * dem.sum(dim=1))
    c_scale = c_scale.clamp_min(1e-300)
    cost, slope, dem = (
        cost / c_scale[:, None, None],
        slope * d_scale / c_scale[:, None],
        dem / d_scale,
    )
    if not margin_ok(cost, slope, dem, 1e-3):
        return  # at a support change the map has a kink that finite differences straddle
    inputs = tuple(x.clone().requires_grad_(True) for x in (cost, slope, dem))
    assert torch.autograd.gradcheck(
        lambda c, k, d: equilibrium_from_coefficients(c, k, d, linalg=linalg), inputs
    )


def test_torch_threads_restores_and_checks() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        with torch_threads(1):  # re-entrant
            assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n:"):
        with torch_threads(0):
            pass


def test_fused_path_reports_bad_input() -> None:
    rng = np.random.default_rng(13)
    mk = random_market(rng, 3, 2)
    with pytest.raises(ValueError, match="slope"):
        equilibrium_flows(**{**mk, "capacity": -mk["capacity"], "w_q": -2.0})
    bad = mk["latency"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="latency: contains NaN"):
        equilibrium_flows(**{**mk, "latency": bad})
    with pytest.raises(ValueError, match="demand"):
        equilibrium_flows(**{**mk, "demand": -mk["demand"]})
    with pytest.raises(ValueError, match="linalg"):
        equilibrium_flows(**mk, linalg="cuda")


@pytest.mark.parametrize("linalg", ["auto", "torch"])
def test_a_markets_read_only_arrays_are_copied_not_shared(linalg: str) -> None:
    """A market's arrays are read-only: beside a tensor input they are copied, not shared."""
    import warnings

    from prillm.synthetic import demo_market

    market, prefs = demo_market()
    assert not market.capacity.flags.writeable
    price = torch.tensor(market.price, dtype=F64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "not writable" warning would fail the test
        flows = equilibrium_flows(
            price, market.capacity, market.latency, market.demand,
            prefs.w_q, prefs.w_d, prefs.b, linalg=linalg,
        )  # fmt: skip
    exact = solve_equilibrium(market, prefs).flows
    scale = market.demand.max()
    np.testing.assert_allclose(flows.detach().numpy(), exact, rtol=1e-10, atol=1e-10 * scale)


@pytest.mark.parametrize("kind", ["huge_capacity", "monopoly", "one_token", "wide"])
@pytest.mark.parametrize("linalg", ["auto", "torch"])
def test_flows_at_extreme_capacities_match_the_exact_oracle(kind: str, linalg: str) -> None:
    """Capacities up to 1e13 x the demand: every path's flows are the exact equilibrium's.

    ``f = K (lambda - c) - F`` cancels in plain floating point when ``K`` dwarfs the demand;
    recomputed from the torch factor the flows were off by several percent of the demand there.
    """
    from scripts.stress_equilibrium import random_market as stress_market
    from tests.oracle import exact_equilibrium, flow_error

    rng = np.random.default_rng(77)
    worst = 0.0
    for _ in range(12):
        market, prefs = stress_market(rng, kind, 6)
        price = torch.tensor(market.price, dtype=F64, requires_grad=True)
        flows = equilibrium_flows(
            price, market.capacity, market.latency, market.demand,
            prefs.w_q, prefs.w_d, prefs.b, prefs.w_p, linalg=linalg,
        )  # fmt: skip
        hint = solve_equilibrium(market, prefs).support
        exact = exact_equilibrium(market, prefs, hint=hint)
        worst = max(worst, flow_error(flows.detach().numpy(), exact, market.demand))
    assert worst <= 1e-9, worst


def test_flows_only_rational_arithmetic_settles_are_flagged() -> None:
    """Congestion below ~1e-17 of the costs: the engine cannot bound its flows within the
    tolerance; the layer returns them (within 1e-9 of the exact ones here) with a warning
    naming the bound, exactly on the markets ``solve_equilibrium`` settles in rationals."""
    import warnings

    from scripts.stress_equilibrium import random_market as stress_market
    from tests.oracle import exact_equilibrium, flow_error

    rng = np.random.default_rng(11)
    flagged = 0
    for _ in range(60):
        market, prefs = stress_market(rng, "wide", 10)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            flows = equilibrium_flows(
                market.price, market.capacity, market.latency, market.demand,
                prefs.w_q, prefs.w_d, prefs.b, prefs.w_p,
            )  # fmt: skip
        eq = solve_equilibrium(market, prefs)
        warned = any("cannot bound these flows" in str(w.message) for w in caught)
        assert warned == (eq.path == "rational"), (warned, eq.path)
        if warned:
            flagged += 1
            exact = exact_equilibrium(market, prefs, hint=eq.support)
            assert flow_error(flows.numpy(), exact, market.demand) <= 1e-9
    assert flagged > 0  # the sample reaches that corner
