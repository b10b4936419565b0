"""Game abstraction: scenarios split by day, training by Eq. (7), weights files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prillm import MarketError
from prillm.abstraction import (
    FEATURE_NAMES,
    SHIPPED_WEIGHTS,
    NetworkConfig,
    ScoreNetwork,
    build_scenarios,
    load_weights,
    save_weights,
)
from prillm.abstraction.dataset import base_markets, scale_demand, split_of_day
from prillm.abstraction.prepare import PreparedScenarios
from prillm.abstraction.recipe import FULL, QUICK, recipe_config, run_recipe
from prillm.abstraction.training import (
    TrainConfig,
    tail_mean,
    train_network,
    validation_loss,
    validation_losses,
)
from prillm.abstraction.weights import WEIGHTS_FORMAT
from prillm.equilibrium import solve_equilibrium

SMALL = {"dim": 8, "heads": 2, "blocks": 1, "hidden": 16}


# ------------------------------------------------------------------ scenarios
def test_scenarios_are_seeded_and_split_by_day() -> None:
    a = build_scenarios(48, seed=4, families=["Translation", "Economy-6"])
    b = build_scenarios(48, seed=4, families=["Translation", "Economy-6"])
    assert [s.target for s in a] == [s.target for s in b]
    assert all(np.array_equal(x.market.price, y.market.price) for x, y in zip(a, b, strict=True))
    c = build_scenarios(48, seed=5, families=["Translation", "Economy-6"])
    assert any(
        not np.array_equal(x.market.price, y.market.price) for x, y in zip(a, c, strict=True)
    )
    days = {k: {s.day for s in a if s.split == k} for k in ("train", "validation", "test")}
    assert not (days["test"] & days["train"]) and not (days["validation"] & days["train"])
    assert all(s.split == split_of_day(s.day) for s in a)
    assert split_of_day(69) == "train" and split_of_day(70) == "validation"
    assert split_of_day(85) == "test"


def test_scenarios_perturb_only_the_rivals() -> None:
    bases = base_markets(families=["Economy-8"])
    markets, _ = bases["Economy-8"]
    assert markets[0].n_providers == 8
    sc = build_scenarios(8, seed=0, families=["Economy-8"])
    for s in sc:
        base = markets[s.day]
        j = base.provider_index(s.target)
        assert s.market.price[j] == base.price[j] and s.market.capacity[j] == base.capacity[j]
        assert np.array_equal(s.market.demand, base.demand)
        assert not np.array_equal(s.market.price, base.price)


def test_restricted_economy_market_is_an_exact_equilibrium() -> None:
    """Each app's demand is its exact flow to the 8 models: the flows stay an equilibrium."""
    from prillm.data import load_panel

    economy = load_panel().segment("Economy")
    markets, prefs = base_markets(families=["Economy-8"])["Economy-8"]
    cols = [economy.provider_ids.index(p) for p in markets[0].provider_ids]
    rows = [economy.user_ids.index(u) for u in markets[0].user_ids]
    eq = solve_equilibrium(markets[3], prefs)
    want = economy.exact_flows[3][np.ix_(rows, cols)]
    assert np.allclose(eq.flows, want, rtol=1e-6, atol=1e-6 * want.max())


def test_bad_scenario_requests_are_refused() -> None:
    with pytest.raises(MarketError, match="n: expected a positive number"):
        build_scenarios(0)
    with pytest.raises(MarketError, match="unknown family 'Luxury'"):
        build_scenarios(3, families=["Luxury"])
    with pytest.raises(MarketError, match="seed"):
        build_scenarios(3, seed=-1)


# ------------------------------------------------------------------ training
@pytest.fixture(scope="module")
def tiny_sets():
    sc = build_scenarios(90, seed=2, families=["Translation", "Economy-6", "Coding"])
    parts = {
        k: PreparedScenarios([s for s in sc if s.split == k])
        for k in ("train", "validation", "test")
    }
    return parts


def test_training_lowers_the_held_out_loss(tiny_sets) -> None:
    cfg = TrainConfig(epochs=8, n_prices=6, batch_size=16, network=SMALL, seed=1, lr=1e-2)
    torch.manual_seed(cfg.seed)
    untrained = ScoreNetwork(NetworkConfig(n_features=len(FEATURE_NAMES), **SMALL))
    before = validation_loss(untrained, tiny_sets["test"], n_prices=6)
    res = train_network(tiny_sets["train"], tiny_sets["validation"], cfg)
    after = validation_loss(res.network, tiny_sets["test"], n_prices=6)
    assert after < 0.8 * before, (before, after)
    # the raw history is kept, one value per epoch, and the first one is the untrained network's
    assert len(res.history["train"]) == len(res.history["validation"]) == 8
    assert res.history["validation_initial"] == pytest.approx(
        validation_loss(untrained, tiny_sets["validation"], n_prices=6), rel=1e-12
    )
    assert res.equilibria > 0 and res.wall_time > 0


def test_train_config_is_validated() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="k_choices"):
        TrainConfig(k_choices=(0,))
    with pytest.raises(ValueError, match="tail_weight"):
        TrainConfig(tail_weight=1.5)
    with pytest.raises(ValueError, match="tail_fraction"):
        TrainConfig(tail_fraction=0.0)
    with pytest.raises(ValueError, match="select_fraction"):
        TrainConfig(select_fraction=2.0)
    with pytest.raises(ValueError, match="select: expected one of"):
        TrainConfig(select="median")


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.25, 0.5, 0.99, 1.0])
def test_tail_mean_is_the_mean_of_the_largest_losses(fraction) -> None:
    losses = np.random.default_rng(3).exponential(size=37)
    n_tail = int(np.ceil(fraction * losses.size - 1e-9))
    want = np.sort(losses)[::-1][: max(1, n_tail)].mean()
    got = float(tail_mean(torch.as_tensor(losses), fraction))
    assert got == pytest.approx(want, rel=1e-12)
    assert got >= losses.mean() - 1e-12
    with pytest.raises(ValueError, match="fraction"):
        tail_mean(torch.as_tensor(losses), 0.0)


def test_scale_demand_scales_only_the_demand() -> None:
    sc = build_scenarios(12, seed=1, families=["Translation", "Economy-6"])
    out = scale_demand(sc, (0.5, 1.2), np.random.default_rng(9))
    again = scale_demand(sc, (0.5, 1.2), np.random.default_rng(9))
    factors = []
    for a, b, c in zip(sc, out, again, strict=True):
        ratio = b.market.demand / a.market.demand
        assert np.allclose(ratio, ratio[0], rtol=1e-12)  # one factor per scenario
        factors.append(ratio[0])
        assert np.array_equal(b.market.demand, c.market.demand)  # seeded
        assert np.array_equal(a.market.price, b.market.price)
        assert np.array_equal(a.market.capacity, b.market.capacity)
        assert np.array_equal(a.market.latency, b.market.latency)
        assert (a.target, a.family, a.day, a.split) == (b.target, b.family, b.day, b.split)
    assert all(0.5 <= f <= 1.2 for f in factors) and len(set(factors)) == len(factors)
    for bad in [(0.0, 1.0), (1.2, 0.5), (float("nan"), 1.0), "wide"]:
        with pytest.raises(MarketError, match="demand_range"):
            scale_demand(sc, bad, np.random.default_rng(0))


def test_tail_training_selects_the_epoch_by_the_validation_tail(tiny_sets) -> None:
    cfg = TrainConfig(
        epochs=3,
        n_prices=6,
        batch_size=16,
        network=SMALL,
        seed=1,
        lr=1e-2,
        tail_weight=0.5,
        tail_fraction=0.25,
        select="tail",
        select_fraction=0.2,
    )
    res = train_network(tiny_sets["train"], tiny_sets["validation"], cfg)
    h = res.history
    tails = [h["validation_tail_initial"], *h["validation_tail"]]
    assert res.best_epoch == int(np.argmin(tails))
    # the recorded tail is the CVaR of the per-scenario validation losses of that network
    fam = validation_losses(res.network, tiny_sets["validation"], n_prices=6)
    allv = np.concatenate(list(fam.values()))
    n_tail = int(np.ceil(0.2 * allv.size - 1e-9))
    assert np.sort(allv)[::-1][:n_tail].mean() == pytest.approx(tails[res.best_epoch], rel=1e-9)
    assert max(h["validation_max"]) >= max(h["validation_tail"])


# ------------------------------------------------------------------ weights files
def test_weights_round_trip(tmp_path) -> None:
    net = ScoreNetwork(NetworkConfig(n_features=len(FEATURE_NAMES), **SMALL))
    path = tmp_path / "w.pt"
    save_weights(path, net, {"seed": 7, "scenarios": 10})
    back = load_weights(path)
    x = torch.randn(6, len(FEATURE_NAMES), dtype=torch.float64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(net(x), back(x), strict=True))
    assert back.meta["seed"] == 7 and back.source == str(path)
    with pytest.raises(MarketError, match="seed"):
        save_weights(tmp_path / "x.pt", net, {"scenarios": 10})
    with pytest.raises(MarketError, match="does not exist"):
        save_weights(tmp_path / "missing" / "x.pt", net, {"seed": 1})


def test_shipped_weights_load_and_are_small() -> None:
    assert SHIPPED_WEIGHTS.stat().st_size < 1_000_000
    net = load_weights()
    meta = net.meta
    assert meta["best_epoch"] >= 1
    assert isinstance(meta["seed"], int) and meta["scenarios"] >= 2000 and not meta["quick"]
    assert (
        meta["history"]["validation"][meta["best_epoch"] - 1]
        < meta["history"]["validation_initial"]
    )
    data = torch.load(SHIPPED_WEIGHTS, weights_only=True)
    assert data["format"] == WEIGHTS_FORMAT and data["feature_spec"]["names"] == list(FEATURE_NAMES)


def test_shipped_weights_are_the_full_recipe_defaults() -> None:
    """``prillm train-abstraction`` with its defaults is what trained the shipped weights."""
    meta = load_weights().meta
    assert meta["config"] == recipe_config(False, None, 0).to_dict()
    assert meta["scenarios"] == FULL["scenarios"] and meta["seed"] == 0
    assert meta["demand_range"] == list(FULL["demand_range"])
    assert meta["history"]["selected_epoch"] == meta["best_epoch"]


def test_recipe_rescales_training_and_a_copy_of_validation() -> None:
    res = run_recipe(scenarios=60, epochs=1, seed=3, quick=True)
    rec = res.record
    assert rec["demand_range"] == list(QUICK["demand_range"])
    # the validation split as built plus one rescaled copy (skipped ones counted over both)
    assert (
        rec["selection_scenarios"] + rec["skipped"]["validation"]
        == 2 * rec["split_sizes"]["validation"]
    )
    assert rec["config"]["select"] == QUICK["config"]["select"]


def test_corrupt_or_mismatched_weights_are_refused(tmp_path) -> None:
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a torch file at all")
    with pytest.raises(MarketError, match=r"corrupt\.pt: not a readable weights file"):
        load_weights(bad)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(SHIPPED_WEIGHTS.read_bytes()[:5000])
    with pytest.raises(MarketError, match=r"truncated\.pt"):
        load_weights(truncated)
    data = torch.load(SHIPPED_WEIGHTS, weights_only=True)
    other = dict(data, feature_spec={"version": 1, "names": [*FEATURE_NAMES[:-1], "gpu_count"]})
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(MarketError, match=r"other\.pt: trained on another feature set"):
        load_weights(tmp_path / "other.pt")
    newer = dict(data, feature_spec={"version": 99, "names": list(FEATURE_NAMES)})
    torch.save(newer, tmp_path / "newer.pt")
    with pytest.raises(MarketError, match="feature set version 99"):
        load_weights(tmp_path / "newer.pt")
    torch.save({"format": "something-else"}, tmp_path / "fmt.pt")
    with pytest.raises(MarketError, match=r"fmt\.pt: not a 'prillm-abstraction-weights' file"):
        load_weights(tmp_path / "fmt.pt")
    wrong = dict(data, network={**data["network"], "dim": 64})
    torch.save(wrong, tmp_path / "shape.pt")
    with pytest.raises(MarketError, match=r"shape\.pt: parameters do not fit the network"):
        load_weights(tmp_path / "shape.pt")
    with pytest.raises(MarketError, match="no such weights file"):
        load_weights(tmp_path / "absent.pt")
