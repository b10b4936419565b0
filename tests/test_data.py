"""Tests of prillm.data: shipped tables and loaders, the planted panel, scenario augmentation."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from prillm import Market, MarketError, Preferences, kkt_certificate, solve_equilibrium
from prillm.data import (
    Panel,
    Table,
    augment_scenarios,
    generate_planted_panel,
    load_app_flows,
    load_models_daily,
    load_panel,
    load_performance,
    load_price_history,
    noise_factors,
    price_on,
    read_table,
)
from prillm.data.openrouter import (
    APP_FLOWS_FILE,
    MODELS_DAILY_FILE,
    MODELS_DAILY_SCHEMA,
    PERFORMANCE_FILE,
    PRICE_HISTORY_FILE,
)

ROOT = Path(__file__).resolve().parents[1]
ATTRIBUTION = "Source: OpenRouter (openrouter.ai/rankings), as of "
LOADERS = {
    "models_daily": (load_models_daily, MODELS_DAILY_FILE),
    "price_history": (load_price_history, PRICE_HISTORY_FILE),
    "app_flows": (load_app_flows, APP_FLOWS_FILE),
    "performance": (load_performance, PERFORMANCE_FILE),
}


@pytest.fixture(scope="module")
def panel() -> Panel:
    return load_panel()


# ------------------------------------------------------------------ shipped tables
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_tables_cite_source_and_are_compact(name: str) -> None:
    loader, path = LOADERS[name]
    table = loader()
    assert len(table) > 0
    assert table.meta["attribution"].startswith(ATTRIBUTION)
    assert table.meta["attribution"].endswith(table.meta["as_of"].split(" ")[0])
    assert path.stat().st_size < 200_000
    for col in table.columns:
        values = table[col]
        assert len(values) == len(table)
        if isinstance(values, np.ndarray):
            assert values.dtype in (np.int64, np.float64)
            assert not values.flags.writeable


def test_total_shipped_size_is_compact() -> None:
    data_dir = MODELS_DAILY_FILE.parent
    total = sum(p.stat().st_size for p in data_dir.iterdir() if p.suffix in (".csv", ".gz"))
    assert total < 1_000_000


def test_models_daily_units_and_prices_match_the_ledger() -> None:
    daily = load_models_daily()
    history = load_price_history()
    assert daily["tokens"].dtype == np.int64 and (daily["tokens"] > 0).all()
    assert min(daily["date"]) == "2025-04-01" and max(daily["date"]) == daily.meta["as_of"]
    assert len(daily.unique("model_id")) == 50
    assert set(daily["variant"]) <= {"standard", "free", "beta", "thinking"}
    price = daily["input_price_usd_per_mtok"]
    known = ~np.isnan(price)
    assert known.mean() > 0.95 and (price[known] >= 0).all()
    # Every daily price is the ledger price in effect that day (two tables, one fact).
    for row in daily.filter(known).take(np.arange(0, int(known.sum()), 37)).rows():
        p_in, p_out = price_on(history, row["model_id"], row["date"])
        assert p_in == row["input_price_usd_per_mtok"]
        assert p_out == row["output_price_usd_per_mtok"]
    # Free variants cost nothing, paid ones something.
    free = daily.filter(np.array([v == "free" for v in daily["variant"]]) & known)
    assert (free["input_price_usd_per_mtok"] == 0).all()


def test_price_history_is_complete_and_ordered() -> None:
    history = load_price_history()
    assert not np.isnan(history["input_price_usd_per_mtok"]).any()
    assert (history["input_price_usd_per_mtok"] >= 0).all()
    for row in history.rows():
        assert row["first_seen"] <= row["change_date"] <= row["last_seen"]
    # Every model id of the 2025 daily table, and the ids of the 2026 app snapshot the ledger
    # lists (a few snapshot models are too recent for it), and nothing else.
    ids = set(history["model_id"])
    daily_ids, flow_ids = set(load_models_daily()["model_id"]), set(load_app_flows()["model_id"])
    assert daily_ids <= ids <= daily_ids | flow_ids
    assert len(ids & flow_ids) >= 0.9 * len(flow_ids)
    for mid in ids & flow_ids:
        rows = history.where("model_id", mid)
        assert rows["last_seen"][0] == history.meta["as_of"]  # listed up to the ledger's end
    assert math.isnan(price_on(history, "anthropic/claude-3.7-sonnet", "1999-01-01")[0])


def test_app_flows_and_performance_units() -> None:
    flows = load_app_flows()
    assert (flows["tokens"] > 0).all() and (flows["requests"] >= 0).all()
    assert (flows["rank_on_model"] >= 1).all()
    assert any("translat" in a.lower() for a in flows["app"])
    perf = load_performance()
    lo, mid, hi = (perf[f"throughput_tok_s_{k}"] for k in ("min", "median", "max"))
    assert ((lo <= mid) & (mid <= hi)).all() and (lo > 0).all()
    assert ((perf["latency_s_median"] > 0) & (perf["latency_s_median"] < 60)).all()
    assert (perf["n_snapshots"] >= 1).all()


# ------------------------------------------------------------------ Table and bad files
def test_table_operations() -> None:
    t = Table({"model": ["a", "b", "c"], "price": [1.0, 0.5, 2.0], "n": np.array([1, 2, 3])})
    assert len(t) == 3 and t.columns == ("model", "price", "n") and list(t) == list(t.columns)
    assert "price" in t and "nope" not in t
    sub = t.filter(t["price"] > 0.7)
    assert sub["model"] == ("a", "c") and sub["n"].tolist() == [1, 3]
    assert t.where("model", "b")["price"].tolist() == [0.5]
    assert [r["model"] for r in t.rows()] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        t["price"][0] = 9.0
    with pytest.raises(MarketError, match="mask"):
        t.filter(np.array([True, False]))
    with pytest.raises(MarketError, match="column 'b'"):
        Table({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(KeyError, match="no column 'x'"):
        t["x"]


def _broken_copy(
    tmp_path: Path, old: str, new: str, *, line_of: str = "2025-04-02,"
) -> tuple[Path, int]:
    lines = MODELS_DAILY_FILE.read_text(encoding="utf-8").splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith(line_of))
    lines[k] = lines[k].replace(old, new, 1)
    out = tmp_path / "broken.csv"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out, k + 1


@pytest.mark.parametrize(
    ("old", "new", "column", "what"),
    [
        (",standard,", ",standard,12x", "tokens", "expected an integer"),
        (",3.0,", ",abc,", "input_price_usd_per_mtok", "expected a number"),
        (",3.0,", ",inf,", "input_price_usd_per_mtok", "finite"),
        ("2025-04-02", "2025-13-02", "date", "expected a date"),
        ("anthropic/claude-3.7-sonnet,", ",", "model_id", "non-empty"),
    ],
)
def test_malformed_value_names_file_line_and_column(
    tmp_path: Path, old: str, new: str, column: str, what: str
) -> None:
    path, lineno = _broken_copy(tmp_path, old, new, line_of="2025-04-02,anthropic")
    with pytest.raises(MarketError) as info:
        load_models_daily(path)
    msg = str(info.value)
    assert str(path) in msg and f"line {lineno}" in msg and f"column {column!r}" in msg
    assert what in msg


def test_malformed_structure(tmp_path: Path) -> None:
    path, lineno = _broken_copy(tmp_path, ",standard,", ",standard,extra,")
    with pytest.raises(MarketError, match=rf"line {lineno}: expected 8 fields, got 9"):
        load_models_daily(path)
    bad_header = tmp_path / "header.csv"
    bad_header.write_text(
        MODELS_DAILY_FILE.read_text(encoding="utf-8").replace("model_id,", "modelid,", 1),
        encoding="utf-8",
    )
    with pytest.raises(MarketError, match="column 2: header expected 'model_id'"):
        load_models_daily(bad_header)
    with pytest.raises(MarketError, match="no such file"):
        load_models_daily(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("# only: metadata\n", encoding="utf-8")
    with pytest.raises(MarketError, match="missing header"):
        read_table(empty, MODELS_DAILY_SCHEMA)


# ------------------------------------------------------------------ the planted panel
def test_panel_shapes_units_and_consistency(panel: Panel) -> None:
    T, n, m = panel.shape
    assert (T, n, m) == (100, 20, 20) and len(panel.dates) == T
    assert panel.dates[0] == "2025-04-15" and panel.seed == 0
    obs, exact = panel.flows, panel.exact_flows
    assert np.isfinite(obs).all() and np.isfinite(exact).all()
    assert (exact >= 0).all() and ((obs > 0) == (exact > 0)).all()
    np.testing.assert_allclose(exact.sum(axis=2), panel.demand, rtol=1e-12)
    q = panel.congestion
    assert q.min() >= 0 and 0.5 < np.median(q) < 1.2 and q.max() <= 2.0
    prefs = panel.truth
    assert prefs.w_p == 1.0 and prefs.w_q > 0 and prefs.provider_ids == panel.provider_ids
    assert set(panel.user_categories) == set(panel.user_ids)
    assert set(panel.segments) == {"Premium", "Economy", "Coding", "Translation"}
    # Segments are defined on the real list prices (facts), not the generated effective ones.
    median_price = np.median(panel.list_price, axis=0)
    for pid in panel.segments["Premium"]:
        assert median_price[panel.provider_ids.index(pid)] > 1.0
    for pid in panel.segments["Economy"]:
        assert median_price[panel.provider_ids.index(pid)] < 1.0


def test_list_prices_are_facts_and_effective_prices_generated(panel: Panel) -> None:
    history = load_price_history()
    list_price = panel.list_price
    assert list_price.shape == panel.price.shape
    for t in (0, 42, panel.n_days - 1):
        for j, pid in enumerate(panel.provider_ids):
            assert list_price[t, j] == price_on(history, pid, panel.dates[t])[0]
    factor = np.array(
        [panel.info["generated"]["price_factor"][p] for p in panel.provider_ids], dtype=float
    ).T
    np.testing.assert_array_equal(panel.price, list_price * factor)
    # Mean-one lognormal factor with the stated sigma and AR(1) persistence.
    params = panel.info["parameters"]
    log_f = np.log(factor)
    assert log_f.std() == pytest.approx(params["price_sigma"], rel=0.1)
    assert factor.mean() == pytest.approx(1.0, abs=0.02)
    lag1 = np.mean([np.corrcoef(log_f[1:, j], log_f[:-1, j])[0, 1] for j in range(factor.shape[1])])
    assert lag1 == pytest.approx(params["price_phi"], abs=0.1)
    # Every provider's effective price moves from day to day; list prices mostly do not.
    assert (np.diff(panel.price, axis=0) != 0).all()
    assert (np.diff(list_price, axis=0) != 0).any(axis=0).sum() < panel.shape[2]
    # Split and segment panels read the list prices of their own days and providers.
    late = panel.split(n_train=70)[1].segment("Coding")
    cols = [panel.provider_ids.index(p) for p in late.provider_ids]
    np.testing.assert_array_equal(late.list_price, list_price[70:, cols])
    np.testing.assert_array_equal(late.price, panel.price[70:, cols])


def test_without_price_variation_prices_are_the_list_prices() -> None:
    kwargs = {"seed": 2, "n_days": 4, "n_providers": 5, "n_users": 6}
    plain = generate_planted_panel(price_sigma=0.0, **kwargs)
    np.testing.assert_array_equal(plain.price, plain.list_price)
    varied = generate_planted_panel(**kwargs)
    # The price factor is drawn last: every other generated quantity stays the same.
    np.testing.assert_array_equal(varied.demand, plain.demand)
    assert varied.truth == plain.truth
    assert not np.array_equal(varied.price, plain.price)


def test_panel_noise_is_the_stated_lognormal(panel: Panel) -> None:
    support = panel.exact_flows > 0
    ratio = panel.flows[support] / panel.exact_flows[support]
    sigma = panel.noise["sigma"]
    assert np.std(np.log(ratio)) == pytest.approx(sigma, rel=0.05)
    assert np.mean(ratio) == pytest.approx(1.0, abs=0.01)
    factors = noise_factors(panel.noise, panel.shape)
    # the last bit of exp() may differ between machines' maths libraries: 1e-14, not bit-exact
    np.testing.assert_allclose(panel.flows, panel.exact_flows * factors, rtol=1e-14, atol=0)
    assert 0.9 < panel.noise_ceiling_r2() < 1.0


def test_regenerating_reproduces_the_shipped_panel(panel: Panel) -> None:
    again = generate_planted_panel(seed=0)
    scale = float(panel.exact_flows.max())
    np.testing.assert_allclose(again.exact_flows, panel.exact_flows, rtol=1e-12, atol=1e-12 * scale)
    np.testing.assert_allclose(again.flows, panel.flows, rtol=1e-12, atol=1e-12 * scale)
    assert again.truth == panel.truth
    for a, b in zip(again.markets, panel.markets, strict=True):
        np.testing.assert_allclose(a.latency, b.latency, rtol=1e-12)
        np.testing.assert_allclose(a.price, b.price, rtol=1e-14)  # last bit: the maths library
        np.testing.assert_allclose(a.demand, b.demand, rtol=1e-12)
    assert again.segments == panel.segments
    other = generate_planted_panel(seed=1, n_days=5)
    assert not np.allclose(other.exact_flows, panel.exact_flows[:5])
    assert not np.array_equal(other.truth.b, panel.truth.b)


@pytest.mark.parametrize("day", [0, 57])
def test_exact_flows_are_certified_equilibria(panel: Panel, day: int) -> None:
    mkt, prefs = panel.markets[day], panel.truth
    eq = solve_equilibrium(mkt, prefs)
    assert eq.certificate.certified
    scale = float(mkt.demand.max())
    np.testing.assert_allclose(eq.flows, panel.exact_flows[day], rtol=1e-9, atol=1e-9 * scale)
    cert = kkt_certificate(mkt, prefs, panel.exact_flows[day], eq.multipliers)
    assert cert.certified
    # The noisy flows are not an equilibrium: the noise is visible to a KKT check.
    noisy = kkt_certificate(mkt, prefs, np.asarray(mkt.observed_flows), eq.multipliers)
    assert not noisy.certified


def test_split_is_chronological(panel: Panel) -> None:
    train, test = panel.split(n_train=70)
    assert train.n_days == 70 and test.n_days == 30
    assert train.dates[-1] < test.dates[0]
    np.testing.assert_array_equal(test.exact_flows, panel.exact_flows[70:])
    assert test.markets[0] == panel.markets[70]
    for bad in (0, 100, 2.5, True):
        with pytest.raises(MarketError, match="n_train"):
            panel.split(n_train=bad)
    with pytest.raises(MarketError, match="not both"):
        panel.split(0.2, n_train=10)
    assert [p.n_days for p in panel.split(0.2)] == [80, 20]


@pytest.mark.parametrize("name", ["Premium", "Economy", "Coding", "Translation"])
def test_segments_are_exact_equilibria_of_their_markets(panel: Panel, name: str) -> None:
    seg = panel.segment(name)
    assert seg.provider_ids == panel.segments[name]
    assert set(seg.user_ids) <= set(panel.segment_users[name])
    if name in ("Coding", "Translation"):
        assert {panel.user_categories[u] for u in seg.user_ids} == {name.lower()}
    else:
        cols = [panel.provider_ids.index(p) for p in seg.provider_ids]
        rows = [panel.user_ids.index(u) for u in seg.user_ids]
        np.testing.assert_array_equal(seg.exact_flows, panel.exact_flows[:, rows][:, :, cols])
    for day in (0, seg.n_days - 1):
        mkt = seg.markets[day]
        eq = solve_equilibrium(mkt, seg.truth)
        scale = float(mkt.demand.max())
        np.testing.assert_allclose(eq.flows, seg.exact_flows[day], rtol=1e-9, atol=1e-9 * scale)
    q = seg.congestion
    assert q.max() <= 2.0 and np.median(q) > 0.3
    with pytest.raises(MarketError, match="already a segment"):
        seg.segment(name)


def test_split_then_segment_keeps_the_noise_of_each_day(panel: Panel) -> None:
    late = panel.split(n_train=70)[1]
    np.testing.assert_allclose(  # the last bit of exp() depends on the maths library
        late.flows, late.exact_flows * noise_factors(late.noise, late.shape), rtol=1e-14, atol=0
    )
    a = late.segment("Premium")
    b = panel.segment("Premium").split(n_train=70)[1]
    np.testing.assert_array_equal(a.flows, b.flows)
    np.testing.assert_array_equal(a.exact_flows, b.exact_flows)


def test_unknown_segment(panel: Panel) -> None:
    with pytest.raises(MarketError, match="unknown segment 'Luxury'"):
        panel.segment("Luxury")


def test_panel_file_round_trip(panel: Panel, tmp_path: Path) -> None:
    small = panel.segment("Coding").split(n_train=5)[0]
    for name in ("coding.json", "coding.json.gz"):
        path = tmp_path / name
        small.to_json(path)
        back = load_panel(path)
        assert back == small  # every array, id, the truth and the provenance, exactly
        assert back.markets == small.markets and back.name == "Coding"
        np.testing.assert_array_equal(back.exact_flows, small.exact_flows)
    # Without latency factors the full latency array is stored instead.
    plain = small.replace(latency_factors=None)
    plain.to_json(tmp_path / "plain.json")
    assert load_panel(tmp_path / "plain.json") == plain
    # The shipped file is what the writer writes: the same panel gives the same bytes.
    from prillm.data import DEFAULT_PANEL_FILE

    panel.to_json(tmp_path / DEFAULT_PANEL_FILE.name)
    assert (tmp_path / DEFAULT_PANEL_FILE.name).read_bytes() == DEFAULT_PANEL_FILE.read_bytes()


def test_generator_validates_arguments() -> None:
    small = generate_planted_panel(seed=3, n_days=2, n_providers=4, n_users=5, noise_sigma=0.0)
    assert small.shape == (2, 5, 4) and small.flow_totals == "match"
    np.testing.assert_array_equal(small.flows, small.exact_flows)
    bad = [
        ({"n_users": 2}, "n_users"),
        ({"n_days": 0}, "n_days"),
        ({"w_q": 0.0}, "w_q"),
        ({"noise_sigma": -0.1}, "noise_sigma"),
        ({"demand_phi": 1.0}, "demand_phi"),
        ({"price_sigma": -0.1}, "price_sigma"),
        ({"price_sigma": float("nan")}, "price_sigma"),
        ({"price_phi": 1.0}, "price_phi"),
        ({"price_phi": "high"}, "price_phi"),
        ({"start": "15/04/2025"}, "start"),
        ({"n_providers": 60}, "n_providers"),
        ({"seed": -1}, "seed"),
        ({"tables": {"prices": load_price_history()}}, "tables"),
        ({"n_userz": 3}, "n_userz: unknown option"),
    ]
    for kwargs, field in bad:
        with pytest.raises(MarketError, match=field):
            generate_planted_panel(**{"n_days": 2, **kwargs})


# ------------------------------------------------------------------ scenario augmentation
def _snapshot() -> Market:
    return load_panel().markets[10]


def test_scenarios_perturb_rivals_within_bounds() -> None:
    mkt = _snapshot()
    target = "anthropic/claude-3.7-sonnet"
    s = mkt.provider_index(target)
    out = augment_scenarios(
        mkt, target, 50, np.random.default_rng(7), price_range=(0.6, 1.4), latency_range=(1, 2)
    )
    assert len(out) == 50
    rivals = np.arange(mkt.n_providers) != s
    for sc in out:
        assert sc.price[s] == mkt.price[s] and sc.capacity[s] == mkt.capacity[s]
        np.testing.assert_array_equal(sc.latency[:, s], mkt.latency[:, s])
        np.testing.assert_array_equal(sc.demand, mkt.demand)
        assert sc.provider_ids == mkt.provider_ids and sc.observed_flows is None
        fp = sc.price[rivals] / mkt.price[rivals]
        fc = sc.capacity[rivals] / mkt.capacity[rivals]
        fd = sc.latency[:, rivals] / mkt.latency[:, rivals]
        assert ((fp >= 0.6 - 1e-12) & (fp <= 1.4 + 1e-12)).all()
        assert ((fc >= 0.5 - 1e-12) & (fc <= 1.5 + 1e-12)).all()
        assert ((fd >= 1 - 1e-12) & (fd <= 2 + 1e-12)).all()
        np.testing.assert_allclose(fd, np.broadcast_to(fd[0], fd.shape), rtol=1e-12)
    # Rivals really move, independently.
    prices = np.array([sc.price for sc in out])
    assert (prices[:, rivals].std(axis=0) > 0).all()
    assert solve_equilibrium(out[0], load_panel().truth).certificate.certified


def test_scenarios_are_seeded() -> None:
    mkt = _snapshot()
    a = augment_scenarios(mkt, 3, 4, rng=11)
    b = augment_scenarios(mkt, 3, 4, rng=np.random.default_rng(11))
    c = augment_scenarios(mkt, 3, 4, rng=12)
    assert all(x == y for x, y in zip(a, b, strict=True))
    assert not all(x == y for x, y in zip(a, c, strict=True))
    assert augment_scenarios(mkt, 3, 0) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"target": "no/such-model"}, "unknown provider id"),
        ({"target": 99}, "out of range"),
        ({"n": -1}, "n:"),
        ({"n": 2.0}, "n:"),
        ({"price_range": (1.5, 0.5)}, "price_range"),
        ({"capacity_range": (0.0, 1.0)}, "capacity_range"),
        ({"latency_range": (-0.1, 1.0)}, "latency_range"),
        ({"latency_range": "wide"}, "latency_range"),
        ({"rng": "seed"}, "rng"),
    ],
)
def test_scenarios_validate_arguments(kwargs: dict, field: str) -> None:
    args = {"target": 0, "n": 2, "rng": 0, **kwargs}
    with pytest.raises(MarketError, match=field):
        augment_scenarios(
            _snapshot(),
            args.pop("target"),
            args.pop("n"),
            args.pop("rng"),
            **args,
        )


# ------------------------------------------------------------------ the builder
def _builder():
    spec = importlib.util.spec_from_file_location("build_data", ROOT / "scripts" / "build_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_data"] = module
    spec.loader.exec_module(module)
    return module


def test_builder_maps_variants_and_corrects_free_ids() -> None:
    build = _builder()
    ledger = build.Ledger(
        [
            {
                "model_id": "x/m",
                "change_date": "2025-01-01",
                "input_price_usd_per_mtok": "1",
                "output_price_usd_per_mtok": "2",
                "first_seen": "2025-01-01",
                "last_seen": "2026-01-01",
            },
            {
                "model_id": "x/m:free",
                "change_date": "2025-01-01",
                "input_price_usd_per_mtok": "0",
                "output_price_usd_per_mtok": "0",
                "first_seen": "2025-01-01",
                "last_seen": "2026-01-01",
            },
        ]
    )
    mapping = {"x/m-2025": "x/m:free"}
    assert build.map_permaslug("x/m-2025", ["2025-04-01"], mapping, ledger) == "x/m"
    assert build.map_permaslug("x/m-2025:free", ["2025-04-01"], mapping, ledger) == "x/m:free"
    assert build.map_permaslug("x/m", ["2025-04-01"], {}, ledger) == "x/m"
    assert ledger.price("x/m", "2025-06-01") == ("1", "2")
    assert ledger.price("x/m", "2024-06-01") == ("", "")


def _ledger_row(model_id: str, date: str, price: str) -> dict[str, str]:
    return {
        "model_id": model_id,
        "change_date": date,
        "input_price_usd_per_mtok": price,
        "output_price_usd_per_mtok": price,
        "first_seen": "2026-01-01",
        "last_seen": "2026-08-22",
    }


def test_builder_prices_snapshot_ids_exactly(tmp_path: Path) -> None:
    build = _builder()
    ledger = build.Ledger(
        [
            _ledger_row("old/a", "2026-01-01", "1"),
            _ledger_row("new/b", "2026-01-01", "3"),
            _ledger_row("new/c", "2026-01-01", "2"),
            _ledger_row("old/a", "2026-02-01", "0.5"),
            _ledger_row("new/b-0731", "2026-07-31", "4"),
            _ledger_row("other/z", "2026-01-01", "9"),
        ]
    )
    flow_ids = ["new/b", "new/b-0731", "new/c:free", "new/d"]
    # exact ids only: no paid sibling for a ':free' id, no prefix match for an unlisted id
    assert build.snapshot_ledger_ids(flow_ids, ledger) == ["new/b", "new/b-0731"]
    build.build_price_history(ledger, ["old/a"], flow_ids, tmp_path)
    table = load_price_history(tmp_path / PRICE_HISTORY_FILE.name)
    assert list(table["model_id"]) == ["old/a", "new/b", "old/a", "new/b-0731"]  # source order
    assert list(table["input_price_usd_per_mtok"]) == [1.0, 3.0, 0.5, 4.0]
    assert "app_flows_2026.csv" in table.meta["selection"]
    assert table.meta["period"] == "2026-01-01..2026-08-22"


def test_builder_skips_facts_without_source(tmp_path: Path, capsys) -> None:
    build = _builder()
    assert build.main(["--source", str(tmp_path / "absent"), "--only", "facts"]) == 0
    assert "skipped" in capsys.readouterr().out


def test_preferences_true_values_are_keyed_by_provider(panel: Panel) -> None:
    prefs = panel.truth
    assert isinstance(prefs, Preferences)
    values = dict(zip(prefs.provider_ids, prefs.b, strict=True))
    assert set(values) == set(panel.provider_ids)
    assert panel.info["facts"]["source"].startswith("Source: OpenRouter")


# ------------------------------------------------------------------ identifiability
def test_price_variation_identifies_the_scale_of_the_weights(panel: Panel) -> None:
    # With list prices only, scaling every cost barely changes the flows (the weights are not
    # identified); with the effective prices the loss rises clearly away from the truth.
    from prillm.calibration import scale_profile

    scales = (0.5, 1.0, 2.0)
    coding = panel.split(n_train=40)[0].segment("Coding")
    listed = generate_planted_panel(seed=0, n_days=40, price_sigma=0.0).segment("Coding")
    flat = np.array([r["loss"] for r in scale_profile(listed, listed.truth, scales)])
    curved = np.array([r["loss"] for r in scale_profile(coding, coding.truth, scales)])
    assert flat.max() / flat.min() - 1 < 0.01
    assert curved[1] == curved.min()
    assert min(curved[0], curved[2]) > 1.2 * curved[1]


def test_calibration_recovers_the_planted_weights_on_the_coding_segment(panel: Panel) -> None:
    from prillm.calibration import calibrate, evaluate, preference_errors

    pnl = panel.segment("Coding").subset(range(40))
    train, test = pnl.split(0.2)
    fit = calibrate(train, test=test, optimizer="lbfgs", steps=100)
    err = preference_errors(fit.prefs, pnl.truth)
    assert err["w_q"] < 0.1 and err["w_d"] < 0.1 and err["b_rel"] < 0.05
    assert fit.test is not None and fit.test.r2 > evaluate(test, pnl.truth).r2 - 0.005
    assert fit.identifiability == ()
    # raw losses: the last step's loss is far below the start's
    assert fit.loss_history[-1] < 0.5 * fit.loss_history[0]
