"""Game abstraction: features, network, aggregation invariants, curves and the curve loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prillm import Market, MarketError, Preferences, solve_equilibrium
from prillm.abstraction import (
    FEATURE_NAMES,
    NetworkConfig,
    RivalTensors,
    ScoreNetwork,
    abstract,
    abstract_profits,
    average_rivals,
    curve_from_pieces,
    curve_loss,
    merge_rivals,
    min_rivals,
    rival_features,
)
from prillm.abstraction.curves import TargetTensors
from prillm.pricing.exact import price_path
from prillm.pricing.problem import make_problem

from .markets import random_market

TINY = NetworkConfig(n_features=len(FEATURE_NAMES), dim=8, heads=2, blocks=2, hidden=8)


def _rivals(rng: np.random.Generator, batch: int, n: int, r: int) -> RivalTensors:
    t = torch.as_tensor
    return RivalTensors(
        price=t(rng.uniform(0.1, 5.0, (batch, r))),
        capacity=t(rng.uniform(1e6, 5e6, (batch, r))),
        latency=t(rng.uniform(0.1, 2.0, (batch, n, r))),
        value=t(rng.uniform(-1.0, 3.0, (batch, r))),
    )


# ------------------------------------------------------------------ aggregation invariants
@settings(max_examples=60, deadline=None)
@given(r=st.integers(2, 9), data=st.data(), seed=st.integers(0, 2**31))
def test_merge_follows_the_formulas_of_section_5_1(r: int, data, seed: int) -> None:
    k = data.draw(st.integers(1, r - 1))
    rng = np.random.default_rng(seed)
    riv = _rivals(rng, 3, 4, r)
    s_sum = torch.as_tensor(rng.uniform(0.1, 3.0, (3, r)))
    s_avg = torch.as_tensor(rng.uniform(0.1, 3.0, (3, r)))
    out, kept, merged = merge_rivals(riv, s_sum, s_avg, k)
    assert out.price.shape == (3, k) and out.latency.shape == (3, 4, k)
    for b in range(3):
        m = merged[b].numpy()
        top = np.argsort(-s_avg[b].numpy(), kind="stable")[: k - 1]
        assert sorted(top.tolist()) == kept[b].tolist()  # the K-1 highest score_avg are kept
        assert m.sum() == r - k + 1 and not m[kept[b].numpy()].any()
        cap = (s_sum[b].numpy() * riv.capacity[b].numpy())[m].sum()
        assert float(out.capacity[b, -1]) == pytest.approx(cap, rel=1e-14)
        for name in ("price", "value"):
            vals = getattr(riv, name)[b].numpy()[m]
            got = float(getattr(out, name)[b, -1])
            assert vals.min() - 1e-12 <= got <= vals.max() + 1e-12
            w = s_avg[b].numpy()[m]
            assert got == pytest.approx((w * vals).sum() / w.sum(), rel=1e-12, abs=1e-12)
        lat = riv.latency[b].numpy()[:, m]
        got_lat = out.latency[b, :, -1].numpy()
        assert np.all(lat.min(axis=1) - 1e-12 <= got_lat)
        assert np.all(got_lat <= lat.max(axis=1) + 1e-12)
        # kept rivals are copied unchanged
        assert np.array_equal(out.price[b, :-1].numpy(), riv.price[b].numpy()[kept[b].numpy()])


def test_merge_with_k_at_least_the_rivals_is_the_identity() -> None:
    riv = _rivals(np.random.default_rng(0), 2, 3, 4)
    out, kept, merged = merge_rivals(riv, torch.ones(2, 4), torch.ones(2, 4), 4)
    assert out is riv and not merged.any() and kept.tolist() == [[0, 1, 2, 3]] * 2


def test_min_keeps_the_cheapest_and_avg_splits_capacity_equally() -> None:
    riv = _rivals(np.random.default_rng(1), 2, 3, 6)
    out, kept = min_rivals(riv, 3)
    for b in range(2):
        cheapest = np.sort(np.argsort(riv.price[b].numpy(), kind="stable")[:3])
        assert kept[b].tolist() == cheapest.tolist()
        assert float(out.price[b].max()) <= float(np.sort(riv.price[b].numpy())[2])
    avg = average_rivals(riv, 3)
    assert torch.allclose(avg.capacity.sum(dim=1), riv.capacity.sum(dim=1))
    assert torch.allclose(avg.capacity[:, 0], avg.capacity[:, 2])
    assert torch.allclose(avg.price[:, 1], riv.price.mean(dim=1))
    assert torch.allclose(avg.latency[:, :, 2], riv.latency.mean(dim=2))


def _market(seed: int = 3, n: int = 4, m: int = 6) -> tuple[Market, Preferences]:
    return random_market(np.random.default_rng(seed), n, m)


def test_abstract_builds_ordinary_markets_for_every_method() -> None:
    market, prefs = _market()
    net = ScoreNetwork(TINY)
    for method, k in (("da", 2), ("min", 2), ("avg", 3), ("da", 1)):
        res = abstract(market, prefs, "p2", K=k, method=method, weights=net)
        assert res.market.n_providers == k + 1 and res.market.provider_ids[0] == "p2"
        assert res.market.n_users == market.n_users and not res.identity
        if method != "min":  # MIN keeps only the traffic the kept providers serve (below)
            assert np.array_equal(res.market.demand, market.demand)
        assert res.market.capacity[0] == market.capacity[2]
        eq = solve_equilibrium(res.market, res.prefs)  # an ordinary game
        assert eq.certificate.certified
        b = res.prefs.values_for(res.market)[3]
        assert b[0] == prefs.values_for(market)[3][2]
    da = abstract(market, prefs, "p2", K=2, weights=net)
    assert set(da.score_avg) == {"p0", "p1", "p3", "p4", "p5"}
    assert len(da.kept) == 1 and len(da.merged) == 4 and da.representatives == ("merged-rivals",)
    top = max(da.score_avg, key=da.score_avg.get)
    assert da.kept == (top,)
    cap = sum(da.score_sum[p] * market.capacity[market.provider_index(p)] for p in da.merged)
    assert da.market.capacity[-1] == pytest.approx(cap, rel=1e-13)
    mn = abstract(market, prefs, "p2", K=2, method="min")
    rival_prices = {p: market.price[market.provider_index(p)] for p in market.provider_ids}
    rival_prices.pop("p2")
    assert set(mn.kept) == set(sorted(rival_prices, key=rival_prices.get)[:2])


def test_k_at_least_the_rivals_returns_the_market_unchanged_and_says_so() -> None:
    market, prefs = _market(m=4)
    for method in ("da", "min", "avg"):
        res = abstract(market, prefs, 0, K=3, method=method, weights=ScoreNetwork(TINY))
        assert res.identity and "identity" in res.note
        assert res.market is market
        assert np.array_equal(res.prefs.values_for(market)[3], prefs.values_for(market)[3])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"K": 0}, "K: expected an integer >= 1"),
        ({"K": 1.5}, "K: expected an integer >= 1"),
        ({"K": True}, "K: expected an integer >= 1"),
        ({"method": "max"}, "method: unknown abstraction method 'max'"),
        ({"target": "nobody"}, "target: .*unknown provider id 'nobody'"),
        ({"target": 9}, "target: .*out of range"),
        ({"weights": 3.0}, "weights: expected a weights file path"),
        ({"weights": "/nonexistent/w.pt"}, "w.pt: no such weights file"),
    ],
)
def test_bad_input_is_refused_clearly(kwargs: dict, match: str) -> None:
    market, prefs = _market()
    args = {"target": "p1", **kwargs}
    target = args.pop("target")
    with pytest.raises(MarketError, match=match):
        abstract(market, prefs, target, **args)


def test_a_market_without_rivals_is_refused() -> None:
    alone = Market(demand=[1e6], price=[1.0], capacity=[1e6], provider_ids=["s"])
    with pytest.raises(MarketError, match="no rivals"):
        abstract(alone, None, "s", K=1, method="min")


# ------------------------------------------------------------------ features and network
def test_features_are_scale_free() -> None:
    market, prefs = _market(seed=5, n=5, m=5)
    x, rivals = rival_features(market, prefs, 1)
    assert x.shape == (4, len(FEATURE_NAMES)) and rivals.tolist() == [0, 2, 3, 4]
    tokens = market.replace(demand=market.demand * 1e3, capacity=market.capacity * 1e3)
    assert np.allclose(rival_features(tokens, prefs, 1)[0], x, rtol=1e-8, atol=1e-10)
    c = 7.0
    money = market.replace(price=market.price * c)
    prefs_c = prefs.replace(w_q=prefs.w_q * c, w_d=prefs.w_d * c, b=np.asarray(prefs.b) * c)
    assert np.allclose(rival_features(money, prefs_c, 1)[0], x, rtol=1e-8, atol=1e-10)


def test_features_follow_a_permutation_of_the_providers() -> None:
    market, prefs = _market(seed=6, n=3, m=6)
    x, _ = rival_features(market, prefs, "p2")
    perm = [4, 2, 0, 5, 1, 3]
    pm = market.replace(
        price=market.price[perm],
        capacity=market.capacity[perm],
        latency=market.latency[:, perm],
        provider_ids=[market.provider_ids[j] for j in perm],
    )
    pp = prefs.replace(b=np.asarray(prefs.b)[perm])
    y, rivals = rival_features(pm, pp, "p2")
    order = [int(market.provider_ids.index(pm.provider_ids[j])) for j in rivals]
    rank = {j: k for k, j in enumerate(j for j in range(6) if j != 2)}
    assert np.allclose(y, x[[rank[j] for j in order]], rtol=1e-10, atol=1e-12)


torch.manual_seed(0)
_NET = ScoreNetwork(TINY)


@settings(max_examples=30, deadline=None)
@given(r=st.integers(1, 12), seed=st.integers(0, 2**31))
def test_scores_are_permutation_equivariant(r: int, seed: int) -> None:
    net = _NET
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.normal(size=(r, len(FEATURE_NAMES))))
    perm = torch.as_tensor(rng.permutation(r))
    with torch.no_grad():
        s_sum, s_avg = net(x)
        p_sum, p_avg = net(x[perm])
    assert bool((s_sum > 0).all() and (s_avg > 0).all())
    assert torch.allclose(p_sum, s_sum[perm], rtol=1e-12, atol=1e-14)
    assert torch.allclose(p_avg, s_avg[perm], rtol=1e-12, atol=1e-14)


def test_untrained_network_merges_by_plain_sums() -> None:
    net = ScoreNetwork(TINY)
    with torch.no_grad():
        net.score.weight.zero_()
        s_sum, s_avg = net(torch.randn(5, len(FEATURE_NAMES), dtype=torch.float64))
    assert torch.allclose(s_sum, torch.ones(5, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(s_avg, torch.ones(5, dtype=torch.float64), atol=1e-5)


def test_network_config_is_validated() -> None:
    with pytest.raises(ValueError, match="dim: must be a multiple of heads"):
        NetworkConfig(n_features=3, dim=6, heads=4)
    with pytest.raises(ValueError, match="blocks: expected a positive integer"):
        NetworkConfig(n_features=3, blocks=0)


# ------------------------------------------------------------------ curves and the loss
def test_curve_loss_matches_a_hand_computation() -> None:
    y = torch.tensor([[2.0, 4.0, 1.0], [10.0, -20.0, 5.0]], dtype=torch.float64)
    y_hat = torch.tensor([[1.0, 4.0, 3.0], [10.0, -10.0, 5.0]], dtype=torch.float64)
    first = ((1 / 4) ** 2 + 0 + (2 / 4) ** 2) / 3  # ||Y||_inf = 4
    second = (0 + (10 / 20) ** 2 + 0) / 3  # ||Y||_inf = 20 (the largest absolute value)
    per = curve_loss(y, y_hat, reduction="none")
    assert per.tolist() == pytest.approx([first, second], rel=1e-15)
    assert float(curve_loss(y, y_hat)) == pytest.approx((first + second) / 2, rel=1e-15)
    with pytest.raises(ValueError, match="zero at every sampled price"):
        curve_loss(torch.zeros(1, 3), torch.ones(1, 3))


def test_the_exact_curve_from_the_path_equals_direct_equilibria() -> None:
    market, prefs = _market(seed=8, n=5, m=5)
    prob = make_problem(market, prefs, 3, None, 0.0, 0.0)
    pieces = price_path(prob)["pieces"]
    prices = np.random.default_rng(0).uniform(0, prob.p_max, 12)
    got = curve_from_pieces(pieces, prices)
    want = [p * solve_equilibrium(market.with_price(3, p), prefs).loads[3] / 1e6 for p in prices]
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9 * max(want))


def _target_tensors(market: Market, prefs: Preferences, s: int) -> TargetTensors:
    w_p, w_q, w_d, b = prefs.values_for(market)

    def t(v):
        return torch.tensor(np.asarray(v, dtype=float), dtype=torch.float64)[None]

    return TargetTensors(
        capacity=t(market.capacity[s]).reshape(1),
        value=t(b[s]).reshape(1),
        latency=t(market.latency[:, s]),
        demand=t(market.demand),
        w_p=t(w_p).reshape(1),
        w_q=t(w_q).reshape(1),
        w_d=t(w_d).reshape(1),
    )


def test_training_curve_equals_the_abstracted_market_solved_directly() -> None:
    """The torch path of training and the Market built by ``abstract`` are the same game."""
    market, prefs = _market(seed=9, n=4, m=7)
    net = ScoreNetwork(TINY)
    res = abstract(market, prefs, "p4", K=2, weights=net)
    from prillm.abstraction.core import rival_tensors

    riv = rival_tensors(market, prefs, 4)
    rivals = [p for p in market.provider_ids if p != "p4"]
    s_sum = torch.tensor([res.score_sum[p] for p in rivals], dtype=torch.float64)
    s_avg = torch.tensor([res.score_avg[p] for p in rivals], dtype=torch.float64)
    merged, _, _ = merge_rivals(riv, s_sum[None], s_avg[None], 2)
    prices = torch.as_tensor([[0.5, 2.0, 6.0]], dtype=torch.float64)
    got = abstract_profits(_target_tensors(market, prefs, 4), merged, prices)[0].numpy()
    want = [
        p * solve_equilibrium(res.market.with_price("p4", p), res.prefs).loads[0] / 1e6
        for p in prices[0].tolist()
    ]
    assert np.allclose(got, want, rtol=1e-9)


def test_gradients_flow_into_the_network_gradcheck() -> None:
    """gradcheck of Eq. (7) with respect to network weights, through the equilibrium."""
    torch.manual_seed(3)
    net = ScoreNetwork(
        NetworkConfig(n_features=len(FEATURE_NAMES), dim=4, heads=2, blocks=1, hidden=4)
    )
    market = Market(
        demand=[2e6, 1e6],
        price=[1.0, 1.1, 0.9, 1.2, 1.0],
        capacity=[2e6, 3e6, 2e6, 2.5e6, 3e6],
        latency=[[0.3, 0.4, 0.35, 0.3, 0.45], [0.5, 0.3, 0.4, 0.45, 0.35]],
    )
    prefs = Preferences(w_q=1.0, w_d=0.5, b=[0.2, 0.1, 0.0, 0.3, 0.15])
    x = torch.as_tensor(rival_features(market, prefs, 0)[0])
    riv = RivalTensors(
        price=torch.tensor(market.price[1:])[None],
        capacity=torch.tensor(market.capacity[1:])[None],
        latency=torch.tensor(market.latency[:, 1:])[None],
        value=torch.tensor(np.asarray(prefs.b)[1:])[None],
    )
    target = _target_tensors(market, prefs, 0)
    prices = torch.as_tensor([[0.6, 0.9, 1.2]], dtype=torch.float64)
    y = torch.as_tensor([[0.5, 0.7, 0.6]], dtype=torch.float64)
    with torch.no_grad():
        s_avg = net(x)[1]
    gaps = torch.diff(torch.sort(s_avg).values)
    assert float(gaps.min()) > 1e-4  # the kept rival does not change under the perturbation
    names = ["score.weight", "embed.bias"]  # the output layer and, through every block, the input
    base = dict(net.named_parameters())

    def loss(w_score: torch.Tensor, b_embed: torch.Tensor) -> torch.Tensor:
        params = {**base, names[0]: w_score, names[1]: b_embed}
        s_sum, s_avg = torch.func.functional_call(net, params, (x[None],))
        merged, _, _ = merge_rivals(riv, s_sum, s_avg, 2)
        return curve_loss(y, abstract_profits(target, merged, prices))

    inputs = tuple(base[n].detach().clone().requires_grad_(True) for n in names)
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)
    value = loss(*inputs)
    value.backward()
    assert float(inputs[0].grad.abs().sum()) > 0 and float(inputs[1].grad.abs().sum()) > 0


# ------------------------------------------------------------------ batched vs exact engine
def _game_batch(seed: int, batch: int, n: int, r: int) -> tuple[TargetTensors, RivalTensors]:
    rng = np.random.default_rng(seed)
    t = torch.as_tensor
    target = TargetTensors(
        capacity=t(rng.uniform(1e6, 5e6, batch)),
        value=t(rng.uniform(-1.0, 3.0, batch)),
        latency=t(rng.uniform(0.1, 2.0, (batch, n))),
        demand=t(rng.uniform(1e6, 4e6, (batch, n))),
        w_p=t(np.ones(batch)),
        w_q=t(rng.uniform(0.2, 3.0, batch)),
        w_d=t(rng.uniform(0.0, 1.0, batch)),
    )
    return target, _rivals(rng, batch, n, r)


def test_batched_engine_equals_the_exact_engine_values_and_gradients() -> None:
    """One batched call for all B x L games gives the per-game engine's profits and gradients."""
    batch, n, r, n_prices = 12, 5, 6, 16
    target, riv = _game_batch(21, batch, n, r)
    s_sum = torch.as_tensor(np.random.default_rng(2).uniform(0.2, 2.0, (batch, r)))
    s_avg = torch.as_tensor(np.random.default_rng(3).uniform(0.2, 2.0, (batch, r)))
    prices = torch.as_tensor(np.random.default_rng(4).uniform(0.0, 6.0, (batch, n_prices)))
    out = {}
    for engine in ("exact", "batched"):
        a, b = s_sum.clone().requires_grad_(True), s_avg.clone().requires_grad_(True)
        merged, _, _ = merge_rivals(riv, a, b, 2)
        y = abstract_profits(target, merged, prices, engine=engine)
        (y * torch.linspace(0.5, 1.5, n_prices, dtype=torch.float64)).sum().backward()
        out[engine] = (y.detach(), a.grad, b.grad)
    y_ex, y_b = out["exact"][0], out["batched"][0]
    assert float(y_ex.abs().max()) > 0 and bool((y_ex > 0).any())
    assert torch.allclose(y_b, y_ex, rtol=1e-9, atol=1e-9 * float(y_ex.abs().max()))
    for k in (1, 2):
        g_ex, g_b = out["exact"][k], out["batched"][k]
        assert float(g_ex.abs().max()) > 0
        assert torch.allclose(g_b, g_ex, rtol=1e-9, atol=1e-9 * float(g_ex.abs().max()))
    with pytest.raises(ValueError, match="engine: expected one of"):
        abstract_profits(target, merged, prices, engine="loop")


def test_batched_engine_gradcheck_in_the_rivals_attributes() -> None:
    """gradcheck (float64) of the abstracted profits through one batched equilibrium call."""
    target, riv = _game_batch(5, 2, 3, 2)
    prices = torch.as_tensor([[0.4, 1.1, 2.3], [0.7, 1.9, 3.0]], dtype=torch.float64)

    def profits(price: torch.Tensor, capacity: torch.Tensor, value: torch.Tensor):
        rivals = RivalTensors(
            price=price, capacity=capacity * 1e6, latency=riv.latency, value=value
        )
        return abstract_profits(target, rivals, prices, engine="batched")

    inputs = (
        riv.price.clone().requires_grad_(True),
        (riv.capacity / 1e6).clone().requires_grad_(True),
        riv.value.clone().requires_grad_(True),
    )
    # a perturbation of 1e-6 changes no support here (gradcheck would fail if it did)
    assert torch.autograd.gradcheck(profits, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)
    y = profits(*inputs)
    y.sum().backward()
    assert all(float(x.grad.abs().sum()) > 0 for x in inputs)


# ------------------------------------------------------------------ MIN, exactly
def _cheap_but_unloved() -> tuple[Market, Preferences]:
    """A target and four rivals: the two cheapest by list price are the two least valued."""
    market = Market(
        demand=[3e6, 2e6, 4e6],
        price=[0.5, 0.10, 0.20, 0.60, 0.80],
        capacity=[3e6, 1e6, 1.5e6, 4e6, 5e6],
        latency=[[0.4, 0.5, 0.6, 0.3, 0.4], [0.5, 0.4, 0.5, 0.4, 0.3], [0.3, 0.6, 0.4, 0.5, 0.5]],
        provider_ids=["s", "cheap", "cheap2", "good", "best"],
    )
    return market, Preferences(w_q=1.0, w_d=0.3, b=[1.0, 0.1, 0.2, 1.4, 1.8])


def test_min_keeps_the_cheapest_by_list_price_not_by_perceived_cost() -> None:
    market, prefs = _cheap_but_unloved()
    w_p, _, w_d, b = prefs.values_for(market)
    perceived = w_p * market.price + w_d * market.latency.mean(axis=0) - b
    by_perceived = sorted(range(1, 5), key=lambda j: perceived[j])[:2]
    assert {market.provider_ids[j] for j in by_perceived} == {"good", "best"}  # a real choice
    res = abstract(market, prefs, "s", K=2, method="min")
    assert res.kept == ("cheap", "cheap2") and res.dropped == ("good", "best")
    assert res.market.provider_ids == ("s", "cheap", "cheap2")
    assert res.market.price.tolist() == [0.5, 0.10, 0.20]
    assert res.market.capacity.tolist() == [3e6, 1e6, 1.5e6]
    assert np.array_equal(res.market.latency, market.latency[:, [0, 1, 2]])
    assert res.prefs.values_for(res.market)[3].tolist() == [1.0, 0.1, 0.2]


def test_min_served_demand_is_the_true_equilibrium_today_and_all_demand_is_not() -> None:
    market, prefs = _cheap_but_unloved()
    eq = solve_equilibrium(market, prefs)
    served = abstract(market, prefs, "s", K=2, method="min")
    assert np.allclose(served.market.demand, eq.flows[:, :3].sum(axis=1), rtol=1e-12)
    assert served.market.demand.sum() < 0.9 * market.demand.sum()  # the dropped carried traffic
    sub = solve_equilibrium(served.market, served.prefs)
    assert np.allclose(sub.flows, eq.flows[:, :3], rtol=1e-8, atol=1e-8 * market.demand.max())
    everything = abstract(market, prefs, "s", K=2, method="min", min_demand="all")
    assert np.array_equal(everything.market.demand, market.demand)
    load_all = solve_equilibrium(everything.market, everything.prefs).loads[0]
    assert load_all > 1.5 * eq.loads[0]  # the same demand crowds onto three providers
    with pytest.raises(MarketError, match="min_demand: expected one of"):
        abstract(market, prefs, "s", K=2, method="min", min_demand="some")


@pytest.mark.parametrize("solver", ["exact", "spiter"])
def test_min_price_is_evaluated_in_the_true_game(solver: str) -> None:
    from prillm import optimal_price

    market, prefs = _cheap_but_unloved()
    res = optimal_price(market, prefs, "s", method="prillm", abstraction="min", solver=solver)
    d = res.diagnostics
    assert d["abstraction"]["kept"] == ["cheap", "cheap2"] and d["abstract_price"] == res.price
    true_load = solve_equilibrium(market.with_price("s", res.price), prefs).loads[0]
    assert res.profit == pytest.approx(res.price * true_load / 1e6, rel=1e-10)
    ab = abstract(market, prefs, "s", K=2, method="min")
    abs_load = solve_equilibrium(ab.market.with_price("s", res.price), ab.prefs).loads[0]
    assert d["abstract_profit"] == pytest.approx(res.price * abs_load / 1e6, rel=1e-8)
    assert abs(d["abstract_profit"] - res.profit) > 1e-3 * res.profit  # two different games
    ex = optimal_price(market, prefs, "s")
    assert res.profit <= ex.profit * (1 + 1e-9)
