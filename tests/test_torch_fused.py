"""The fused CPU path of ``equilibrium_flows`` for one market: every input's gradient, checks.

The one-market path forms the coefficients, checks and scales in a few numpy reductions, takes
the exact solver's own factor for the adjoint solve and writes the chain rule out per input.
Its gradients are compared with ``gradcheck`` and with the torch path (autograd through torch
operations and the torch kernel), which shares none of that code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, example, given
from hypothesis import strategies as st

from prillm import Market, Preferences
from prillm.equilibrium import SupportKKT, solve_active_set
from prillm.equilibrium.kkt import problem_scales
from prillm.torch_equilibrium import EquilibriumLayer, equilibrium_flows
from prillm.torch_equilibrium.numpy_engine import MarketAdjoint

from .markets import markets
from .test_batched_equilibrium import coefficient_batch, margin_ok

F64 = torch.float64
NAMES = ("price", "capacity", "latency", "demand", "w_q", "w_d", "b", "w_p")


def plain_market(rng: np.random.Generator, n: int, m: int) -> dict:
    """One market in order-one units with every input, ``w_p`` included."""
    return {
        "price": rng.uniform(0.1, 5.0, m),
        "capacity": rng.uniform(1.0, 3.0, m) * n / m,
        "latency": rng.uniform(0.2, 2.0, (n, m)),
        "demand": rng.uniform(0.1, 1.0, n),
        "w_q": 2.0,
        "w_d": 0.7,
        "b": rng.uniform(0.0, 3.0, m),
        "w_p": 1.3,
    }


SHAPES = {
    "plain": {},
    "latency per provider": {"latency": lambda mk: mk["latency"][0]},
    "scalar latency": {"latency": lambda mk: 0.4},
    "scalar b": {"b": lambda mk: 0.5},
}


#: The inputs that only shift every cost alike in each case (their gradient is round-off).
SHIFTS = {"scalar latency": ("latency", "w_d"), "scalar b": ("b",)}


def _market(case: str, seed: int = 24) -> dict:
    mk = plain_market(np.random.default_rng(seed), 4, 3)
    for key, fn in SHAPES[case].items():
        mk[key] = fn(mk)
    return mk


@pytest.mark.parametrize("case", list(SHAPES))
def test_gradcheck_every_input_of_one_market(case: str) -> None:
    mk = _market(case)
    inputs = tuple(torch.tensor(mk[k], dtype=F64, requires_grad=True) for k in NAMES)
    flows = equilibrium_flows(*inputs)
    assert flows.shape == (4, 3)
    support = flows.detach().numpy() > 0
    assert not support.all()  # some routes unused: the support matters
    assert torch.autograd.gradcheck(lambda *args: equilibrium_flows(*args), inputs)


@pytest.mark.parametrize("case", list(SHAPES))
def test_one_market_gradients_equal_the_torch_path(case: str) -> None:
    mk = _market(case, seed=28)
    weights = torch.tensor(np.random.default_rng(23).normal(size=(4, 3)))
    grads = []
    for linalg in ("auto", "torch"):
        args = {k: torch.tensor(mk[k], dtype=F64, requires_grad=True) for k in NAMES}
        (equilibrium_flows(**args, linalg=linalg) * weights).sum().backward()
        grads.append({k: args[k].grad for k in NAMES})
    fused, reference = grads
    for key in NAMES:
        assert fused[key].shape == reference[key].shape, key
        # a scalar b (or a scalar latency, through w_d) moves every cost alike and no flow: its
        # gradient is round-off, measured against the price gradient
        ref = reference["price"] if key in SHIFTS.get(case, ()) else reference[key]
        err = float((fused[key] - reference[key]).abs().max() / ref.abs().max())
        assert err <= 1e-9, f"{key}: one-market and torch gradients differ by {err:.1e}"


# one provider: every flow is its user's demand whatever the price, the price gradient is
# round-off, amplified by alpha / w_q ~ 6e6 (a case drawn once that a flows-only floor rejected)
_ONE_PROVIDER = (
    Market(
        demand=[56063.94622302, 95541.73266933, 22974.36514477, 95378.45024235, 38064.83068094],
        price=[11.31502097],
        capacity=[14565991.43298742],
        latency=[[1.05622198], [2.38644324], [0.979265], [1.41514388], [0.48872092]],
    ),
    Preferences(w_q=2.3140084390120816, w_d=0.40691048135229924, b=[2.6231334]),
)


@given(markets(max_users=5, max_providers=4, extreme=False), st.sampled_from(NAMES))
@example(_ONE_PROVIDER, "price")
def test_one_market_gradient_equals_the_torch_path_on_drawn_markets(
    case: tuple[Market, Preferences], key: str
) -> None:
    market, prefs = case
    mk = {
        "price": market.price,
        "capacity": market.capacity,
        "latency": market.latency,
        "demand": market.demand,
        "w_q": prefs.w_q,
        "w_d": prefs.w_d,
        "b": prefs.b,
        "w_p": prefs.w_p,
    }
    cost, slope, dem = coefficient_batch([case])
    # at a support change the two sides of the kink may be taken differently: such markets are
    # filtered out (counted by hypothesis)
    assume(margin_ok(cost, slope, dem, 1e-6 * float(dem.max())))
    weights = np.random.default_rng(24).normal(size=market.shape)
    grads = []
    for linalg in ("auto", "torch"):
        x = torch.tensor(mk[key], dtype=F64, requires_grad=True)
        flows = equilibrium_flows(**{**mk, key: x}, linalg=linalg)
        (flows * torch.tensor(weights)).sum().backward()
        assert x.grad is not None
        grads.append(x.grad.numpy())
    # in the loss's units: the change of the loss for a relative change of the input, against
    # the gradient itself or, where it vanishes (one route: no price moves a flow), round-off:
    # of the flows (1e-13 of the demand), and of the adjoint, whose flows answer a cost change
    # through 1 / k_j = alpha_j / w_q (100 eps of the largest cost times that sensitivity)
    x_scale = max(float(np.abs(mk[key]).max()), 1.0)
    loss_scale = float(np.abs(weights).max() * np.max(market.demand))
    sensitivity = float(
        np.abs(weights).max() * np.max(market.capacity) / prefs.w_q * np.abs(cost).max()
    )
    error = float(np.abs(grads[0] - grads[1]).max()) * x_scale
    size = float(np.abs(grads[1]).max()) * x_scale
    floor = max(1e-13 * loss_scale, 100 * np.finfo(float).eps * sensitivity)
    assert error <= 1e-7 * size + floor, key


def test_the_solvers_factor_serves_the_adjoint() -> None:
    rng = np.random.default_rng(25)
    mk = plain_market(rng, 6, 5)
    cost = mk["w_p"] * mk["price"] + mk["w_d"] * mk["latency"] - mk["b"]
    slope = mk["w_q"] / mk["capacity"]
    res = solve_active_set(cost, slope, mk["demand"])
    assert res.kkt is not None and res.scales == problem_scales(cost, slope, mk["demand"])
    d_scale, c_scale = res.scales
    fresh = SupportKKT(c_scale / (slope * d_scale), res.support)
    np.testing.assert_allclose(res.kkt.chol, fresh.chol, rtol=1e-12, atol=1e-14)
    assert res.kkt.users == fresh.users
    v = rng.normal(size=cost.shape)
    from_solver = MarketAdjoint(res.kkt, res.scales).solve(v)
    built = MarketAdjoint.build(slope, res.support, problem_scales(cost, slope, mk["demand"]))
    for a, b in zip(from_solver, built.solve(v), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * float(np.abs(b).max()))
    # the column sums of dL/dc are the adjoint loads the solve returns
    grad_cost, loads, _ = from_solver
    np.testing.assert_allclose(grad_cost.sum(axis=0), loads, rtol=1e-10, atol=1e-14)


def test_no_gradient_wanted_gives_a_plain_tensor() -> None:
    mk = _market("plain")
    args = {k: torch.tensor(mk[k], dtype=F64, requires_grad=True) for k in NAMES}
    with torch.no_grad():
        flows = equilibrium_flows(**args)
    assert flows.grad_fn is None and not flows.requires_grad
    plain = equilibrium_flows(**mk)  # array-likes only
    assert plain.grad_fn is None
    np.testing.assert_array_equal(flows.numpy(), plain.numpy())


def test_later_changes_to_inputs_and_output_leave_the_gradient_alone() -> None:
    mk = _market("plain", seed=26)
    weights = torch.tensor(np.random.default_rng(27).normal(size=(4, 3)))

    def grads(mutate: bool) -> dict[str, torch.Tensor]:
        args = {k: torch.tensor(mk[k], dtype=F64, requires_grad=True) for k in NAMES}
        lat = torch.tensor(mk["latency"], dtype=F64)  # no gradient wanted: read by w_d's
        flows = equilibrium_flows(**{**args, "latency": lat})
        loss = (flows * weights).sum()
        if mutate:
            with torch.no_grad():
                lat.mul_(3.0)
                args["price"].add_(1.0)
                args["capacity"].mul_(2.0)  # read by the capacities' own gradient
                args["w_p"].add_(0.5)  # read by the prices' gradient
                flows.mul_(0.0)
        loss.backward()
        return {k: args[k].grad for k in NAMES if k != "latency"}

    before, after = grads(False), grads(True)
    for key in before:
        torch.testing.assert_close(before[key], after[key], rtol=0, atol=0)


def test_layer_keeps_the_batch_dimension_and_its_supports() -> None:
    mk = _market("plain", seed=28)
    layer = EquilibriumLayer()
    flows = layer(**mk)
    assert flows.shape == (1, 4, 3)
    assert layer.supports is not None and layer.supports.shape == (1, 4, 3)
    np.testing.assert_array_equal(layer.supports[0], flows[0].numpy() > 0)
    again = layer(**{**mk, "w_q": 2.2})  # warm-started from the remembered support
    cold = equilibrium_flows(**{**mk, "w_q": 2.2})
    np.testing.assert_allclose(again[0].numpy(), cold.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("capacity", lambda mk: np.where(np.arange(3) == 1, np.inf, mk["capacity"]), "capacity"),
        ("latency", lambda mk: np.where(np.eye(4, 3) > 0, np.nan, mk["latency"]), "latency"),
        ("w_d", lambda mk: np.nan, "w_d"),
        ("w_p", lambda mk: np.inf, "w_p"),
        ("b", lambda mk: -np.inf * np.ones(3), "b"),
        ("demand", lambda mk: -mk["demand"], "demand"),
        ("w_q", lambda mk: 0.0, "slope"),
        ("capacity", lambda mk: 1e-310 * np.ones(3), "overflow"),
    ],
)
def test_one_market_path_names_the_bad_input(key: str, value, message: str) -> None:
    mk = _market("plain", seed=29)
    with pytest.raises(ValueError, match=message):
        equilibrium_flows(**{**mk, key: value(mk)})


def test_negative_capacity_and_w_q_are_refused() -> None:
    mk = _market("plain", seed=30)  # k = w_q / alpha > 0, but neither is
    with pytest.raises(ValueError, match="slope"):
        equilibrium_flows(**{**mk, "capacity": -mk["capacity"], "w_q": -2.0})


def test_batched_fused_path_with_a_user_without_demand_equals_the_torch_path() -> None:
    rng = np.random.default_rng(31)
    markets_ = [plain_market(rng, 4, 3) for _ in range(3)]
    markets_[1]["demand"][2] = 0.0  # its adjoint system is factorised afresh, the others reused
    mk = {k: np.stack([np.asarray(m[k]) for m in markets_]) for k in ("price", "latency", "demand")}
    mk.update(capacity=markets_[0]["capacity"], w_q=2.0, w_d=0.7, b=markets_[0]["b"], w_p=1.3)
    weights = torch.tensor(rng.normal(size=(3, 4, 3)))
    grads = []
    for linalg in ("auto", "torch"):
        args = {k: torch.tensor(mk[k], dtype=F64, requires_grad=True) for k in NAMES}
        (equilibrium_flows(**args, linalg=linalg) * weights).sum().backward()
        grads.append({k: args[k].grad for k in NAMES})
    for key in NAMES:
        err = float((grads[0][key] - grads[1][key]).abs().max() / grads[1][key].abs().max())
        assert err <= 1e-9, f"{key}: batched fused and torch gradients differ by {err:.1e}"


def _grads_of_both_paths(mk: dict, loss, keep: tuple[str, ...] = NAMES) -> list[dict]:
    """Gradients of ``loss(flows)`` for the inputs ``keep`` by the one-market and torch paths."""
    out = []
    for linalg in ("auto", "torch"):
        args = {k: torch.tensor(mk[k], dtype=F64, requires_grad=k in keep) for k in NAMES}
        loss(equilibrium_flows(**args, linalg=linalg)).backward()
        out.append({k: args[k].grad for k in keep})
    return out


def _assert_close_gradients(fused: dict, reference: dict, tol: float = 1e-9) -> None:
    for key, ref in reference.items():
        assert fused[key] is not None and fused[key].shape == ref.shape, key
        err = float((fused[key] - ref).abs().max() / ref.abs().max().clamp_min(1e-300))
        assert err <= tol, f"{key}: one-market and torch gradients differ by {err:.1e}"


def test_one_market_with_a_user_without_demand_equals_the_torch_path() -> None:
    # the solver's factor covers the users with demand only: the adjoint system is factorised
    # afresh on the support with the first-token route of the user without demand
    mk = _market("plain", seed=42)
    mk["demand"][1] = 0.0
    assert (equilibrium_flows(**mk).numpy() > 0).any(axis=0).all()  # every provider used
    weights = torch.tensor(np.random.default_rng(33).normal(size=(4, 3)))
    fused, reference = _grads_of_both_paths(mk, lambda f: (f * weights).sum())
    _assert_close_gradients(fused, reference)
    assert float(fused["demand"][1].abs()) > 0  # the right derivative of the empty user


@pytest.mark.parametrize("keep", [("price",), ("w_q", "w_d"), ("capacity", "latency"), NAMES])
def test_one_market_gradients_of_any_subset_of_inputs(keep: tuple[str, ...]) -> None:
    # the backward pass forms only what the wanted gradients read (dL/dc on the support routes
    # for capacity, latency, w_q, w_d; its column sums for price, b, w_p)
    mk = _market("plain", seed=42)
    weights = torch.tensor(np.random.default_rng(35).normal(size=(4, 3)))
    fused, reference = _grads_of_both_paths(mk, lambda f: (f * weights).sum(), keep)
    _assert_close_gradients(fused, reference)


def test_one_market_takes_an_expanded_upstream_gradient() -> None:
    # f.sum() sends an expanded (stride 0) gradient into the node; the flows of a user sum to
    # its demand, so only the demand gradient is non-zero, one for each user
    mk = _market("plain", seed=42)
    fused, reference = _grads_of_both_paths(mk, lambda f: f.sum() + (f[:, 0] ** 2).sum() * 1e-3)
    _assert_close_gradients(fused, reference)


def test_layer_backward_equals_the_function() -> None:
    # the layer keeps the batch dimension: its upstream gradient is (1, n, m)
    mk = _market("plain", seed=37)
    weights = torch.tensor(np.random.default_rng(38).normal(size=(4, 3)))
    grads = []
    for call in (EquilibriumLayer(), equilibrium_flows):
        args = {k: torch.tensor(mk[k], dtype=F64, requires_grad=True) for k in NAMES}
        (call(**args).reshape(4, 3) * weights).sum().backward()
        grads.append({k: args[k].grad for k in NAMES})
    for key in NAMES:
        torch.testing.assert_close(grads[0][key], grads[1][key], rtol=0, atol=0)
