"""Malformed panel files: each refused with one line naming the file and the field, nothing written.

Every case writes a broken file into an empty folder and reads it twice: with
:func:`prillm.data.load_panel` (one ``MarketError`` line naming the file and the field) and with
``prillm calibrate`` (exit status 2, that line on standard error, no traceback, no ``--out``
file). The folder must hold exactly what the case wrote afterwards.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import prillm.cli
from prillm import Market, MarketError, Preferences
from prillm.data import Panel, RandomDesign, generate_planted_panel, load_panel

TRUTH = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0])


def _panel() -> Panel:
    return generate_planted_panel(seed=2, n_days=3, design=RandomDesign(2, 3, TRUTH))


def _v2(**changes) -> dict:
    data = _panel().to_dict()
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key)
        else:
            data[key] = value
    return data


_DROP = object()


def _json(data) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / "panel.json"
        path.write_text(json.dumps(data) if not isinstance(data, str) else data)
        return path

    return write


def _edit(edit: Callable[[dict], None]) -> Callable[[Path], Path]:
    data = _v2()
    edit(data)
    return _json(data)


def _set(path: tuple, value) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _v1_days(edit: Callable[[list], None]) -> Callable[[Path], Path]:
    days = [mk.to_dict() for mk in _panel().markets]
    edit(days)
    return _json({"format": "prillm-panel", "version": 1, "days": days})


def _market_list(items: list, files: dict[str, str]) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        for name, text in files.items():
            (folder / name).write_text(text)
        path = folder / "list.json"
        path.write_text(json.dumps(items))
        return path

    return write


def _legacy_npz(
    meta_changes: dict | None = None, drop: str | None = None
) -> Callable[[Path], Path]:
    """A planted-panel .npz as prillm 0.1 wrote it, possibly broken."""
    panel = _panel()

    def write(folder: Path) -> Path:
        meta = {
            "format": "prillm-planted-panel",
            "version": 1,
            "name": panel.name,
            "seed": panel.seed,
            "provider_ids": list(panel.provider_ids),
            "user_ids": list(panel.user_ids),
            "dates": list(panel.dates),
            "true_preferences": panel.truth.to_dict(),
            "noise": panel.noise,
            "segments": {},
            "segment_users": {},
            "user_categories": {},
            "info": panel.info,
            **(meta_changes or {}),
        }
        arrays = {
            "meta": np.array(json.dumps(meta)),
            "demand": panel.demand,
            "price": panel.price,
            "capacity": panel.capacity,
            "latency": panel.latency,
            "exact_flows": panel.exact_flows,
            "observed_flows": panel.flows,
        }
        if drop:
            arrays.pop(drop)
        path = folder / "panel.npz"
        np.savez_compressed(path, **arrays)
        return path

    return write


def _raw(name: str, data: bytes) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return write


# (id, writer, the field the message must name)
CASES = [
    ("not-json", _json("{'format': 1"), "not valid JSON"),
    ("a-number", _json(3), "expected a prillm-panel object"),
    ("wrong-format", _json(_v2(format="prillm-market")), "format: expected 'prillm-panel'"),
    ("version-3", _json(_v2(version=3)), "version:"),
    ("version-true", _json(_v2(version=True)), "version:"),
    ("unknown-field", _json(_v2(flowz=[])), "unknown field 'flowz'"),
    ("missing-flows", _json(_v2(flows=_DROP)), "missing field 'flows'"),
    (
        "demand-string",
        _edit(_set(("demand", 0, 1), "5")),
        "demand[0][1]: expected a number, got '5'",
    ),
    (
        "flows-bool",
        _edit(_set(("flows", 0, 0, 1), True)),
        "flows[0][0][1]: expected a number, got True",
    ),
    (
        "flows-ragged",
        _edit(_set(("flows", 0, 1), [1.0])),
        "flows[0][1]: expected a list of shape (3,)",
    ),
    (
        "flows-negative",
        _edit(_set(("flows", 0, 0, 1), -4.0)),
        "flows[0, 0, 1]: must be >= 0, got -4.0",
    ),
    ("flows-nan", _edit(_set(("flows", 1, 1, 2), float("nan"))), "flows[1, 1, 2]: must be finite"),
    (
        "flows-all-zero",
        _json(_v2(flows=np.zeros((3, 2, 3)).tolist())),
        "flows: every observed flow is zero",
    ),
    ("flows-empty", _json(_v2(flows=[[[]]])), "flows: an empty panel"),
    ("capacity-zero", _edit(_set(("capacity", 1, 2), 0.0)), "capacity[1, 2]: must be > 0, got 0.0"),
    ("capacity-string", _edit(_set(("capacity", 0), "lots")), "capacity[0]: expected a number"),
    ("price-shape", _json(_v2(price=[[1.0, 2.0, 3.0]])), "price: expected shape (3, 3)"),
    (
        "latency-part",
        _edit(_set(("latency",), {"base": [1.0, 1.0, 1.0]})),
        "latency: missing field",
    ),
    ("latency-true", _edit(_set(("latency",), True)), "latency: expected a number, got True"),
    ("huge-int", _edit(_set(("demand", 0, 0), 10**400)), "demand[0][0]: an integer too large"),
    ("totals", _json(_v2(flow_totals="match")), "flows[2, 1]: user 'app1' sends"),
    (
        "duplicate-ids",
        _json(_v2(provider_ids=["llm0", "llm0", "llm2"])),
        "provider_ids: duplicate id",
    ),
    ("date", _edit(_set(("dates", 1), "2025/04/16")), "dates[1]: expected an ISO date"),
    ("seed-abc", _json(_v2(seed="abc")), "seed: expected a non-negative integer, got 'abc'"),
    (
        "truth-wq-true",
        _edit(_set(("truth", "w_q"), True)),
        "truth: w_q: expected a number, got True",
    ),
    (
        "truth-b-string",
        _edit(_set(("truth", "b", "llm1"), "0.5")),
        "truth: b['llm1']: expected a number",
    ),
    ("truth-extra", _edit(_set(("truth", "w_x"), 1.0)), "truth: unknown field 'w_x'"),
    (
        "v1-flows-string",
        _v1_days(lambda d: d[0]["observed_flows"][0].__setitem__(1, "7")),
        "days[0]: observed_flows[0][1]: expected a number",
    ),
    (
        "v1-no-flows",
        _v1_days(lambda d: d[1].pop("observed_flows")),
        "days[1].observed_flows: missing",
    ),
    (
        "v1-days-string",
        _json({"format": "prillm-panel", "version": 1, "days": "x"}),
        "days: expected a list",
    ),
    (
        "list-missing-day",
        _market_list(
            ["day0.json", "day1.json"], {"day0.json": json.dumps(_panel().markets[0].to_dict())}
        ),
        "list.json[1]: ",
    ),
    ("list-malformed-day", _market_list(["day0.json"], {"day0.json": "{"}), "list.json[0]: "),
    ("list-not-a-path", _market_list([3], {}), "list.json[0]: expected a market file path"),
    ("list-empty", _market_list([], {}), "the list of market files is empty"),
    (
        "list-day-latency-string",
        _market_list(
            ["d.json"],
            {"d.json": json.dumps({**_panel().markets[0].to_dict(), "latency": ["1", 2, 3]})},
        ),
        "latency[0]: expected a number",
    ),
    ("npz-not-zip", _raw("panel.npz", b"not a zip file"), "not a readable .npz panel file"),
    (
        "npz-seed-abc",
        _legacy_npz({"seed": "abc"}),
        "seed: expected a non-negative integer, got 'abc'",
    ),
    (
        "npz-meta-json",
        _legacy_npz({"format": "prillm-planted-panel", "info": "{"}),
        "meta.info: expected an object",
    ),
    ("npz-no-demand", _legacy_npz(drop="demand"), "missing array 'demand'"),
    ("npz-version", _legacy_npz({"version": "1"}), "meta.version"),
    ("gz-corrupt", _raw("panel.json.gz", b"\x1f\x8b" + b"\x00" * 20), "cannot read the file"),
    (
        "gz-not-panel",
        _raw("panel.json.gz", gzip.compress(b"[1, 2]")),
        "panel.json.gz[0]: expected a market file path",
    ),
]


@pytest.fixture
def calibrate_main(monkeypatch):
    monkeypatch.setattr(prillm.cli, "SUBCOMMANDS", ("prillm.cli.calibrate",))
    return prillm.cli.main


@pytest.mark.parametrize(("writer", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_panel_file_is_refused_in_one_line(tmp_path, writer, field) -> None:
    path = writer(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(MarketError) as info:
        load_panel(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    assert field in msg, msg
    assert "\n" not in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(("writer", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_panel_file_exits_2_through_the_command(
    tmp_path, capsys, calibrate_main, writer, field
) -> None:
    path = writer(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "prefs.json"
    status = calibrate_main(["calibrate", str(path), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("prillm: error: ") and field in err and str(path) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no --out, no temporary file


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 20


def test_a_missing_file_is_named(tmp_path) -> None:
    with pytest.raises(MarketError, match=r"nope\.json: no such file"):
        load_panel(tmp_path / "nope.json")


def test_a_sound_legacy_npz_is_read_with_its_truth(tmp_path) -> None:
    path = _legacy_npz()(tmp_path)
    panel = load_panel(path)
    ref = _panel()
    assert panel.truth == ref.truth and panel.flow_totals == "noisy"
    for key in ("price", "capacity", "latency", "demand", "flows", "exact_flows"):
        np.testing.assert_array_equal(getattr(panel, key), getattr(ref, key))


def test_a_failed_write_leaves_nothing(tmp_path) -> None:
    panel = _panel()
    with pytest.raises(OSError):
        panel.to_json(tmp_path / "missing folder" / "p.json")
    target = tmp_path / "p.json"
    target.write_text("old")
    target.chmod(0o640)
    panel.to_json(target)  # replaces atomically and keeps the file's mode
    assert (target.stat().st_mode & 0o777) == 0o640 and load_panel(target) == panel
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]


# ------------------------------------------------------------------ panels built in Python
_KW = {"price": [[1.0, 2.0]], "capacity": [4.0, 4.0], "latency": 0.5, "demand": [[1.0]]}
_DAY = {"demand": [1.0], "price": [1.0, 2.0], "capacity": [4.0, 4.0]}
CONSTRUCTOR_CASES = [
    ("flows-nan", lambda: Panel(**_KW, flows=[[[np.nan, 1.0]]]), "flows[0, 0, 0]: must be finite"),
    ("flows-inf", lambda: Panel(**_KW, flows=[[[0.5, np.inf]]]), "flows[0, 0, 1]: must be finite"),
    ("flows-neg", lambda: Panel(**_KW, flows=[[[-1.0, 2.0]]]), "flows[0, 0, 0]: must be >= 0"),
    (
        "flows-str",
        lambda: Panel(**_KW, flows=[[["0.5", 0.5]]]),
        "flows[0, 0, 0]: expected a number, got '0.5'",
    ),
    (
        "flows-zero",
        lambda: Panel(**_KW, flows=[[[0.0, 0.0]]]),
        "flows: every observed flow is zero",
    ),
    (
        "flows-empty",
        lambda: Panel(
            price=np.zeros((0, 2)),
            capacity=[4.0, 4.0],
            latency=0.5,
            demand=np.zeros((0, 1)),
            flows=np.zeros((0, 1, 2)),
        ),
        "flows: an empty panel (0 days",
    ),
    (
        "demand-nan",
        lambda: Panel(**{**_KW, "demand": [[np.nan]]}, flows=[[[0.5, 0.5]]]),
        "demand[0, 0]: must be finite",
    ),
    (
        "exact-flows-neg",
        lambda: Panel(**_KW, flows=[[[0.5, 0.5]]], exact_flows=[[[1.5, -0.5]]]),
        "exact_flows[0, 0, 1]: must be >= 0",
    ),
    (
        "from-markets-nan",
        lambda: Panel.from_markets([Market(**_DAY, observed_flows=[[np.nan, 1.0]])]),
        "observed_flows[0, 0]: must be finite",
    ),
    (
        "from-markets-neg",
        lambda: Panel.from_markets([Market(**_DAY, observed_flows=[[2.0, -1.0]])]),
        "observed_flows[0, 1]: must be >= 0",
    ),
    ("from-markets-empty", lambda: Panel.from_markets([]), "days: the panel has no days"),
]


@pytest.mark.parametrize(
    ("make", "field"), [c[1:] for c in CONSTRUCTOR_CASES], ids=[c[0] for c in CONSTRUCTOR_CASES]
)
def test_a_panel_built_in_python_refuses_bad_flows(make, field) -> None:
    with pytest.raises(MarketError) as info:
        make()
    msg = str(info.value)
    assert field in msg and "\n" not in msg, msg
