"""The market model: validation of every field, JSON round-trip, malformed files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from prillm import Market, MarketError, Preferences, game_coefficients

from .markets import markets


def small(**changes: object) -> Market:
    values: dict[str, object] = {
        "demand": [1e6, 2e6],
        "price": [1.0, 2.0, 3.0],
        "capacity": [1e6, 1e6, 1e6],
        "latency": [0.1, 0.2, 0.3],
    }
    values.update(changes)
    return Market(**values)  # type: ignore[arg-type]


def test_latency_broadcasts_from_scalar_and_per_provider() -> None:
    assert small(latency=0.5).latency.shape == (2, 3)
    per_provider = small(latency=[0.1, 0.2, 0.3]).latency
    np.testing.assert_array_equal(per_provider, [[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    assert small(latency=np.ones((2, 3))).latency.shape == (2, 3)


def test_default_ids_and_lookup() -> None:
    mkt = small()
    assert mkt.provider_ids == ("p0", "p1", "p2")
    assert mkt.user_ids == ("u0", "u1")
    assert mkt.provider_index("p2") == 2
    assert mkt.provider_index(1) == 1
    with pytest.raises(MarketError, match="unknown provider id 'zz'"):
        mkt.provider_index("zz")
    with pytest.raises(MarketError, match="index 7 out of range"):
        mkt.provider_index(7)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"demand": [1e6, -2.0]}, r"demand\[1\]: must be >= 0, got -2.0"),
        ({"demand": [1e6, math.nan]}, r"demand\[1\]: must be finite, got nan"),
        ({"demand": [[1.0, 2.0]]}, r"demand: expected a 1-d array"),
        ({"demand": []}, r"demand: the market needs at least one user"),
        ({"price": []}, r"price: the market needs at least one provider"),
        ({"price": [1.0, math.inf, 3.0]}, r"price\[1\]: must be finite, got inf"),
        ({"price": [1.0, -1.0, 3.0]}, r"price\[1\]: must be >= 0, got -1.0"),
        ({"capacity": [1.0, 0.0, 1.0]}, r"capacity\[1\]: must be > 0, got 0.0"),
        ({"capacity": [1.0, -3.0, 1.0]}, r"capacity\[1\]: must be > 0, got -3.0"),
        ({"capacity": [1.0, 1.0]}, r"capacity: expected shape \(3,\), got shape \(2,\)"),
        ({"latency": [[0.1, 0.2], [0.3, 0.4]]}, r"latency: expected shape \(2, 3\)"),
        ({"latency": [0.1, 0.2]}, r"latency: expected shape \(2, 3\) or \(3,\)"),
        ({"latency": [0.1, -0.2, 0.3]}, r"latency\[1\]: must be >= 0, got -0.2"),
        ({"latency": "fast"}, r"latency: expected numbers, got the string 'fast'"),
        ({"provider_ids": ["a", "b", "a"]}, r"provider_ids: duplicate id 'a'"),
        ({"provider_ids": ["a", "b"]}, r"provider_ids: expected 3 ids, got 2"),
        ({"provider_ids": ["a", "", "c"]}, r"provider_ids\[1\]: ids must be non-empty strings"),
        ({"user_ids": ["x", 3]}, r"user_ids\[1\]: ids must be non-empty strings, got 3"),
        ({"observed_flows": np.ones((3, 2))}, r"observed_flows: expected shape \(2, 3\)"),
        ({"observed_flows": -np.ones((2, 3))}, r"observed_flows\[0, 0\]: must be >= 0"),
    ],
)
def test_bad_market_fields_are_named(changes: dict[str, object], message: str) -> None:
    with pytest.raises(MarketError, match=message):
        small(**changes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"w_q": 0.0}, r"w_q: must be > 0, got 0.0"),
        ({"w_q": -1.0}, r"w_q: must be > 0, got -1.0"),
        ({"w_d": math.nan}, r"w_d: must be finite, got nan"),
        ({"b": [[1.0]]}, r"b: expected a scalar or one value per provider"),
        ({"b": [1.0, 2.0], "provider_ids": ["a", "a"]}, r"provider_ids: duplicate id 'a'"),
    ],
)
def test_bad_preferences_are_named(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(MarketError, match=message):
        Preferences(**kwargs)  # type: ignore[arg-type]


def test_preferences_align_by_id() -> None:
    mkt = small(provider_ids=["a", "b", "c"])
    prefs = Preferences(b=[3.0, 1.0, 2.0], provider_ids=["c", "a", "b"])
    np.testing.assert_array_equal(prefs.values_for(mkt)[3], [1.0, 2.0, 3.0])
    with pytest.raises(MarketError, match="b: unknown provider id 'zz'"):
        Preferences(b=[1.0, 2.0, 3.0], provider_ids=["a", "b", "zz"]).values_for(mkt)
    with pytest.raises(MarketError, match="b: no value for provider id 'c'"):
        Preferences(b=[1.0, 2.0], provider_ids=["a", "b"]).values_for(mkt)
    with pytest.raises(MarketError, match="b: expected 3 values"):
        Preferences(b=[1.0, 2.0]).values_for(mkt)


def test_game_coefficients_follow_eq_1() -> None:
    mkt = small()
    prefs = Preferences(w_q=2.0, w_d=0.5, b=[0.0, 1.0, 4.0], w_p=1.0)
    gc = game_coefficients(mkt, prefs)
    np.testing.assert_allclose(gc.cost[0], [1.0 + 0.05, 2.0 + 0.1 - 1.0, 3.0 + 0.15 - 4.0])
    np.testing.assert_allclose(gc.slope, 2.0 / 1e6)


def test_market_is_immutable() -> None:
    mkt = small()
    with pytest.raises(ValueError):
        mkt.demand[0] = 5.0
    changed = mkt.with_price("p1", 9.0)
    assert changed.price[1] == 9.0 and mkt.price[1] == 2.0


@given(markets(max_users=5, max_providers=5))
def test_json_round_trip_is_exact(case: tuple[Market, Preferences]) -> None:
    market, prefs = case
    flows = np.abs(np.asarray(market.latency)) * 1e6 / 3.0
    market = market.replace(observed_flows=flows)
    data = json.loads(json.dumps(market.to_dict(prefs)))
    back = Market.from_dict(data)
    assert back == market
    back_prefs = Preferences.from_dict(data["preferences"])
    assert back_prefs == prefs


def test_json_file_round_trip(tmp_path: Path) -> None:
    mkt = small(
        provider_ids=["a", "b", "c"],
        user_ids=["x", "y"],
        latency=[[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]],
    )
    prefs = Preferences(w_q=1.5, w_d=0.25, b=[1.0, 2.0, 0.1], provider_ids=["a", "b", "c"])
    path = tmp_path / "market.json"
    mkt.to_json(path, prefs)
    assert Market.from_json(path) == mkt
    assert Market.preferences_from_json(path) == prefs
    ppath = tmp_path / "prefs.json"
    prefs.to_json(ppath)
    assert Preferences.from_json(ppath) == prefs
    assert json.loads(path.read_text())["format"] == "prillm-market"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["market.json", "prefs.json"]


def test_failed_write_leaves_nothing_behind(tmp_path: Path) -> None:
    mkt = small()
    target = tmp_path / "missing-dir" / "market.json"
    with pytest.raises(OSError):
        mkt.to_json(target)
    assert not target.exists()
    # an unserialisable payload (NaN cannot be written) must not clobber an existing file
    good = tmp_path / "m.json"
    mkt.to_json(good)
    before = good.read_text()
    bad = Preferences(w_q=1.0)
    object.__setattr__(bad, "w_q", math.nan)
    with pytest.raises(ValueError):
        mkt.to_json(good, bad)
    assert good.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", r"not valid JSON \(line 1, column 2"),
        ("[1, 2]", r"expected a JSON object, got a list"),
        ('{"format": "other"}', r"format: expected 'prillm-market', got 'other'"),
        ('{"version": 9, "providers": [], "users": []}', r"version: this prillm reads version 1"),
        ('{"users": []}', r"missing field 'providers'"),
        ('{"providers": {}, "users": []}', r"providers: expected a list, got an object"),
        (
            '{"providers": [{"id": "a", "price": 1}], "users": []}',
            r"providers\[0\]: missing field 'capacity'",
        ),
        (
            '{"providers": [{"id": "a", "price": "cheap", "capacity": 1}],'
            ' "users": [{"demand": 1}]}',
            r"providers\[0\].price: expected a number, got 'cheap'",
        ),
        (
            '{"providers": [{"id": "a", "price": 1, "capacity": 1, "colour": 2}], "users": []}',
            r"providers\[0\]: unknown field 'colour'",
        ),
        (
            '{"providers": [{"id": "a", "price": 1, "capacity": 1}], "users": [{"demand": 1}]}',
            r"users\[0\]: missing field 'id'",
        ),
        (
            '{"providers": [{"id": "a", "price": 1, "capacity": 1}],'
            ' "users": [{"id": "u", "demand": -5}]}',
            r"users\[0\]\.demand: must be >= 0, got -5.0",
        ),
        (
            '{"providers": [{"id": "a", "price": 1, "capacity": 1}],'
            ' "users": [{"id": "u", "demand": 5}], "latency": [[1, 2]]}',
            r"latency: expected shape \(1, 1\)",
        ),
        ('{"providers": [], "users": [], "extra": 1}', r"unknown field 'extra'"),
    ],
)
def test_malformed_market_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(MarketError, match=message) as info:
        Market.from_json(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MarketError, match="no such file"):
        Market.from_json(tmp_path / "nope.json")


def test_malformed_preferences(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"w_q": -1}')
    with pytest.raises(MarketError, match=r"w_q: must be > 0, got -1.0"):
        Preferences.from_json(path)
    path.write_text('{"w_q": 1, "typo": 2}')
    with pytest.raises(MarketError, match=r"unknown field 'typo'"):
        Preferences.from_json(path)
