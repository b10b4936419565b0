"""The panel type: validation on construction, file round trips, split and subset (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prillm import Market, MarketError, Preferences
from prillm.data import (
    DEMAND_RTOL,
    Panel,
    RandomDesign,
    generate_planted_panel,
    load_panel,
    noise_factors,
)
from prillm.data.panel_file import panel_from_dict


@st.composite
def panels(draw: st.DrawFn, max_days: int = 5, max_users: int = 4, max_providers: int = 4) -> Panel:
    """Random valid panels: zeros in the flows, optional ids, dates, truth, exact flows, noise."""
    t_ = draw(st.integers(1, max_days))
    n = draw(st.integers(1, max_users))
    m = draw(st.integers(1, max_providers))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.integers(0, 12))
    flows = rng.uniform(0.0, 1.0, (t_, n, m)) * scale
    flows[rng.random((t_, n, m)) < draw(st.sampled_from([0.0, 0.3, 0.7]))] = 0.0
    flows[0, 0, 0] = scale  # some traffic
    exact = flows.sum(axis=2, keepdims=True) * rng.dirichlet(np.ones(m), (t_, n))
    noisy = draw(st.booleans())
    observed = flows * np.exp(0.1 * rng.standard_normal(flows.shape)) if noisy else flows
    fields: dict = {
        "price": rng.uniform(0.0, 20.0, (t_, m)),
        "capacity": rng.uniform(0.1, 2.0, m if draw(st.booleans()) else (t_, m)) * scale,
        "latency": rng.uniform(0.0, 3.0, (t_, n, m)),
        "demand": flows.sum(axis=2),
        "flows": observed,
        "flow_totals": "noisy" if noisy else "match",
    }
    if draw(st.booleans()):
        fields["provider_ids"] = [f"model/{j}" for j in range(m)]
        fields["user_ids"] = [f"app {i}" for i in range(n)]
    if draw(st.booleans()):
        start = np.datetime64("2025-01-01") + int(rng.integers(0, 300))
        steps = np.cumsum(rng.integers(1, 4, t_))
        fields["dates"] = [str(start + int(s)) for s in steps]
    if draw(st.booleans()):
        fields["truth"] = Preferences(w_q=1.5, w_d=0.2, b=rng.uniform(0, 3, m).tolist())
        fields["exact_flows"] = exact
        fields["info"] = {"generator": "a test", "values": rng.uniform(0, 1, 3).tolist()}
    return Panel(**fields)


# ------------------------------------------------------------------ hypothesis properties
@given(panels(), st.booleans())
@settings(max_examples=40)
def test_file_round_trip_is_exact(tmp_path_factory, panel: Panel, compressed: bool) -> None:
    path = tmp_path_factory.mktemp("p") / ("panel.json.gz" if compressed else "panel.json")
    panel.to_json(path)
    back = load_panel(path)
    assert back == panel
    for key in ("price", "capacity", "latency", "demand", "flows"):
        assert np.array_equal(getattr(back, key), getattr(panel, key))
    assert back.truth == panel.truth and back.dates == panel.dates and back.info == panel.info
    # writing what was read gives the same bytes
    again = path.with_name("again" + "".join(path.suffixes))
    back.to_json(again)
    assert again.read_bytes() == path.read_bytes()


@given(panels())
def test_dict_round_trip_is_exact(panel: Panel) -> None:
    assert panel_from_dict(panel.to_dict()) == panel


@given(panels(max_days=8), st.data())
def test_split_partitions_the_days_in_order(panel: Panel, data: st.DataObject) -> None:
    if panel.n_days < 2:
        with pytest.raises(MarketError, match=r"n_train|test_fraction"):
            panel.split(n_train=1)
        return
    cut = data.draw(st.integers(1, panel.n_days - 1))
    if not (panel.flows[:cut] > 0).any() or not (panel.flows[cut:] > 0).any():
        with pytest.raises(MarketError, match="every observed flow is zero"):
            panel.split(n_train=cut)  # a part without any traffic is no panel
        return
    train, test = panel.split(n_train=cut)
    assert (train.n_days, test.n_days) == (cut, panel.n_days - cut)
    for key in ("price", "capacity", "latency", "demand", "flows"):
        whole = np.concatenate([getattr(train, key), getattr(test, key)])
        assert np.array_equal(whole, getattr(panel, key))
    if panel.dates is not None:
        assert train.dates + test.dates == panel.dates and train.dates[-1] < test.dates[0]
    frac = data.draw(st.floats(0.01, 0.99))
    n_test = max(1, round(panel.n_days * frac))
    if n_test >= panel.n_days:
        with pytest.raises(MarketError, match=r"test_fraction: .* leave nothing to train on"):
            panel.split(frac)
    elif (panel.flows[: panel.n_days - n_test] > 0).any() and (
        panel.flows[panel.n_days - n_test :] > 0
    ).any():
        a, b = panel.split(frac)
        assert (a.n_days, b.n_days) == (panel.n_days - n_test, n_test)


@given(panels(max_days=8), st.data())
def test_subset_of_a_subset_is_a_subset(panel: Panel, data: st.DataObject) -> None:
    days = sorted(data.draw(st.sets(st.integers(0, panel.n_days - 1), min_size=1)))
    inner = sorted(data.draw(st.sets(st.integers(0, len(days) - 1), min_size=1)))
    if not (panel.flows[[days[k] for k in inner]] > 0).any():
        with pytest.raises(MarketError, match="every observed flow is zero"):
            panel.subset(days).subset(inner)
        return
    twice = panel.subset(days).subset(inner)
    once = panel.subset([days[k] for k in inner])
    assert twice == once
    assert twice.markets == tuple(panel.markets[days[k]] for k in inner)


@given(panels(), st.data())
def test_a_corrupted_number_is_refused_naming_field_and_index(
    panel: Panel, data: st.DataObject
) -> None:
    key = data.draw(st.sampled_from(["price", "capacity", "latency", "demand", "flows"]))
    arr = np.array(getattr(panel, key))
    idx = tuple(data.draw(st.integers(0, s - 1)) for s in arr.shape)
    bad = data.draw(st.sampled_from([np.nan, np.inf, -1.0]))
    arr[idx] = bad
    fields = {k: getattr(panel, k) for k in ("price", "capacity", "latency", "demand", "flows")}
    fields[key] = arr
    with pytest.raises(MarketError) as info:
        Panel(**fields, flow_totals="noisy")
    msg = str(info.value)
    index = ", ".join(str(k) for k in idx)
    assert msg.startswith(f"{key}[{index}]: must be"), msg
    assert "\n" not in msg


@given(panels(), st.floats(10 * DEMAND_RTOL, 0.5))
def test_flow_totals_are_checked_unless_noisy(panel: Panel, gap: float) -> None:
    if panel.exact_flows is not None:
        flows = np.array(panel.exact_flows)
    else:
        flows = panel.demand[..., None] * np.full(panel.shape, 1.0 / panel.n_providers)
    t, i = 0, 0  # demand[0, 0] >= 1 and at least a quarter of day 0's largest (see panels())
    flows[t, i] *= 1.0 + gap
    with pytest.raises(MarketError, match=rf"flows\[{t}, {i}\]: user .* demand"):
        panel.replace(flows=flows, flow_totals="match", exact_flows=None)
    assert panel.replace(flows=flows, flow_totals="noisy", exact_flows=None).flow_totals == "noisy"


@given(panels())
def test_markets_round_trip_through_from_markets(panel: Panel) -> None:
    back = Panel.from_markets(list(panel.markets), demand="market")
    for key in ("price", "capacity", "latency", "demand", "flows"):
        assert np.array_equal(getattr(back, key), getattr(panel, key))
    assert back.provider_ids == panel.provider_ids and back.user_ids == panel.user_ids
    assert all(isinstance(mk, Market) for mk in panel.markets)


@given(st.integers(0, 2**16), st.data())
@settings(max_examples=15)
def test_subsets_keep_their_noise(seed: int, data: st.DataObject) -> None:
    truth = Preferences(w_q=2.0, w_d=0.3, b=[1.0, 0.5, 2.0])
    panel = generate_planted_panel(seed=seed, n_days=6, design=RandomDesign(3, 3, truth))
    days = sorted(data.draw(st.sets(st.integers(0, 5), min_size=1)))
    sub = panel.subset(days)
    factors = noise_factors(sub.noise, sub.shape)
    np.testing.assert_array_equal(factors, noise_factors(panel.noise, panel.shape)[days])
    np.testing.assert_array_equal(sub.flows, sub.exact_flows * factors)


# ------------------------------------------------------------------ construction, by hand
def _fields(**changes):
    base = {
        "price": [[1.0, 2.0], [1.5, 2.0]],
        "capacity": [4.0, 4.0],
        "latency": 0.5,
        "demand": [[3.0, 1.0], [2.0, 0.0]],
        "flows": [[[2.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]],
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"flows": [[[2.0, 1.0], [1.0, float("nan")]], [[1, 1], [0, 0]]]},
            r"flows\[0, 1, 1\]: must be finite, got nan",
        ),
        (
            {"flows": [[[2.0, 1.0], [1.0, -0.5]], [[1, 1], [0, 0]]]},
            r"flows\[0, 1, 1\]: must be >= 0, got -0.5",
        ),
        ({"demand": [[3.0, -1.0], [2.0, 0.0]]}, r"demand\[0, 1\]: must be >= 0, got -1.0"),
        ({"capacity": [4.0, 0.0]}, r"capacity\[1\]: must be > 0, got 0.0"),
        ({"price": [[1.0, 2.0]]}, r"price: expected shape \(2, 2\)"),
        ({"demand": [[3.0, 1.0]]}, r"demand: expected shape \(2, 2\)"),
        ({"latency": [[0.5, 0.5, 0.5]]}, "latency: expected shape"),
        ({"flows": np.zeros((2, 2, 2)), "demand": np.zeros((2, 2))}, "every observed flow is zero"),
        ({"flows": np.zeros((0, 2, 2)), "demand": np.zeros((0, 2))}, "an empty panel"),
        (
            {"demand": [[3.0, 1.0], [2.5, 0.0]]},
            r"flows\[1, 0\]: user 'u0' sends 2.0 .* demand is 2.5",
        ),
        ({"demand": [[3.0, 1.0], [2.0, 0.0]], "flow_totals": "approx"}, "flow_totals"),
        ({"provider_ids": ["a", "a"]}, "provider_ids: duplicate id 'a'"),
        ({"user_ids": ["x"]}, "user_ids: expected 2 ids"),
        ({"dates": ["2025-01-02", "2025-01-01"]}, r"dates\[1\]: dates must be strictly increasing"),
        ({"dates": ["2025-01-01", "tomorrow"]}, r"dates\[1\]: expected an ISO date"),
        ({"seed": "abc"}, "seed: expected a non-negative integer, got 'abc'"),
        ({"seed": True}, "seed: expected a non-negative integer"),
        ({"info": {"x": float("nan")}}, "info: must be JSON-able"),
        ({"segments": {"cheap": ["p9"]}}, r"segments\['cheap'\]: unknown id 'p9'"),
        ({"user_categories": {"nobody": "coding"}}, "user_categories: unknown user id 'nobody'"),
        (
            {"truth": Preferences(b=[1.0, 2.0], provider_ids=["p0", "zz"])},
            "truth.b: no value for provider id 'p1'",
        ),
        ({"name": ""}, "name: expected a non-empty string"),
    ],
)
def test_construction_refuses_bad_fields_naming_them(changes, message) -> None:
    with pytest.raises(MarketError, match=message):
        Panel(**_fields(**changes))


def test_a_user_without_demand_cannot_have_flows_even_when_noisy() -> None:
    fields = _fields(flows=[[[2.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.5]]])
    with pytest.raises(MarketError, match=r"flows\[1, 1\]: user 'u1' has no demand"):
        Panel(**fields, flow_totals="noisy")


def test_arrays_are_read_only_and_broadcast() -> None:
    panel = Panel(**_fields())
    assert panel.capacity.shape == (2, 2) and panel.latency.shape == (2, 2, 2)
    with pytest.raises(ValueError):
        panel.flows[0, 0, 0] = 5.0
    assert panel.markets[1] == panel.market(1)
    assert panel.truth is None and panel.exact_flows is None
    with pytest.raises(MarketError, match="exact_flows"):
        panel.noise_ceiling_r2()


def test_latency_factors_must_reproduce_the_latency() -> None:
    base, per_user, per_day = np.array([1.0, 2.0]), np.array([1.0, 0.5]), np.ones((2, 2))
    lat = base[None, None, :] * per_user[None, :, None] * per_day[:, None, :]
    ok = Panel(**_fields(latency=lat), latency_factors=(base, per_user, per_day))
    assert ok.latency_factors is not None
    with pytest.raises(MarketError, match="latency_factors: base x per_user x per_day differs"):
        Panel(**_fields(latency=lat * 1.5), latency_factors=(base, per_user, per_day))


def test_the_shipped_panel_keeps_its_truth_and_noise(tmp_path: Path) -> None:
    panel = load_panel()
    assert panel.flow_totals == "noisy" and panel.truth is not None
    # observed totals differ from the noise-free demand; the exact flows match it
    gap = np.abs(panel.flows.sum(axis=2) - panel.demand) / panel.demand.max()
    assert gap.max() > 1e-3
    np.testing.assert_allclose(panel.exact_flows.sum(axis=2), panel.demand, rtol=1e-12)
