"""The malformed-input corpus: every bad input is refused cleanly.

Each case asserts exit status 2 (command line) or a ``MarketError`` (Python API), a one-line
message naming the field or option and the offending value, no traceback, and no file left
behind. Categories:

- ``file``: malformed market files (syntax, size, nesting, structure, format, ids, units);
- ``number``: every numeric field of a market file given a string, a boolean, null, an integer
  too large for a float, NaN, an infinity, or a forbidden sign;
- ``shape``: arrays and preferences that do not fit the market;
- ``prefs``: a separate preferences file (``--prefs``);
- ``option``: every numeric and choice option of the sub-commands, and argparse's own errors;
- ``output``: output files (suffix, folder, clashes with inputs or each other);
- ``api``: the same rules through the Python API.

Panel files (``prillm calibrate PANEL``'s contents) are refused by the panel loaders and tested
with them.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prillm import Market, MarketError, Preferences, solve_equilibrium
from prillm._validation import MAX_PRICE, check_price
from prillm.cli import main
from prillm.io import MAX_JSON_BYTES, read_json

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "prillm" / "data" / "panel_seed0.npz"

BASE: dict[str, Any] = {
    "format": "prillm-market",
    "version": 1,
    "providers": [
        {"id": "a", "price": 1.0, "capacity": 1e6},
        {"id": "b", "price": 2.0, "capacity": 2e6},
    ],
    "users": [{"id": "u", "demand": 1e6}, {"id": "v", "demand": 2e6}],
    "latency": [0.1, 0.2],
    "observed_flows": [[5e5, 5e5], [1e6, 1e6]],
    "preferences": {"w_p": 1.0, "w_q": 1.0, "w_d": 0.5, "b": {"a": 0.0, "b": 1.0}},
}


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def drop(path: list[Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    node = data
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return data


# ------------------------------------------------------------------ the corpus
# (id, file content: a dict to dump, raw text or bytes, or a callable that makes the file,
#  fragments the one-line message must contain)
Case = tuple[str, Any, tuple[str, ...]]


def _sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with path.open("wb") as fh:
            fh.truncate(size)

    return make


def _folder(path: Path) -> None:
    path.mkdir()


FILE_CASES: list[Case] = [
    ("missing file", None, ("market.json: no such file",)),
    ("empty file", "", ("not valid JSON (line 1, column 1",)),
    ("not JSON", "{oops", ("not valid JSON (line 1, column 2",)),
    ("trailing garbage", json.dumps(BASE) + " x", ("not valid JSON",)),
    ("nested 200000 deep", "[" * 200_000 + "]" * 200_000, ("JSON nested too deeply",)),
    ("huge file", _sparse(MAX_JSON_BYTES + 1), (f"file larger than {MAX_JSON_BYTES} bytes",)),
    ("not UTF-8", b'{"format": "\xff\xfe"}', ("not a UTF-8 text file",)),
    ("a folder", _folder, ("market.json: cannot read the file",)),
    ("5000-digit integer", '{"version": ' + "9" * 5000 + "}", ("not valid JSON", "digits")),
    ("duplicate key", '{"version": 1, "version": 1}', ("duplicate key 'version'",)),
    ("top level a list", "[1, 2]", ("expected a JSON object, got a list",)),
    ("top level a string", '"market"', ("expected a JSON object, got a string",)),
    ("top level null", "null", ("expected a JSON object, got null",)),
    ("format other", mutate(["format"], "other"), ("format: expected 'prillm-market'", "'other'")),
    ("format a number", mutate(["format"], 5), ("format: expected 'prillm-market', got 5",)),
    ("version 2", mutate(["version"], 2), ("version: this prillm reads version 1, got 2",)),
    ("version true", mutate(["version"], True), ("version:", "got True")),
    ("version a string", mutate(["version"], "1"), ("version:", "got '1'")),
    ("version 1.0", mutate(["version"], 1.0), ("version:", "got 1.0")),
    ("unknown top-level field", mutate(["colour"], "red"), ("unknown field 'colour'",)),
    (
        "units not an object",
        mutate(["units"], "SI"),
        ("units: expected a JSON object, got a string",),
    ),
    (
        "units claim euros",
        mutate(["units"], {"price": "EUR per 1M tokens"}),
        ("units.price: prillm's unit is 'USD per 1M tokens', got 'EUR per 1M tokens'",),
    ),
    (
        "units unknown field",
        mutate(["units"], {"speed": "fast"}),
        ("units: unknown field 'speed'",),
    ),
    ("providers missing", drop(["providers"]), ("missing field 'providers'",)),
    (
        "providers an object",
        mutate(["providers"], {}),
        ("providers: expected a list, got an object",),
    ),
    (
        "providers empty",
        mutate(["providers"], []),
        ("providers: the market needs at least one provider",),
    ),
    ("users empty", mutate(["users"], []), ("users: the market needs at least one user",)),
    ("users missing", drop(["users"]), ("missing field 'users'",)),
    (
        "provider a number",
        mutate(["providers", 1], 7),
        ("providers[1]: expected an object, got a number 7",),
    ),
    (
        "user a string",
        mutate(["users", 0], "u"),
        ("users[0]: expected an object, got a string 'u'",),
    ),
    (
        "provider unknown field",
        mutate(["providers", 0, "colour"], 2),
        ("providers[0]: unknown field 'colour'",),
    ),
    (
        "provider without capacity",
        drop(["providers", 1, "capacity"]),
        ("providers[1]: missing field 'capacity'",),
    ),
    ("user without demand", drop(["users", 1, "demand"]), ("users[1]: missing field 'demand'",)),
    ("provider without id", drop(["providers", 0, "id"]), ("providers[0]: missing field 'id'",)),
    (
        "empty provider id",
        mutate(["providers", 1, "id"], ""),
        ("providers[1].id: ids must be non-empty strings, got ''",),
    ),
    (
        "blank user id",
        mutate(["users", 0, "id"], "  "),
        ("users[0].id: ids must be non-empty strings, got '  '",),
    ),
    (
        "numeric provider id",
        mutate(["providers", 0, "id"], 3),
        ("providers[0].id: ids must be non-empty strings, got 3",),
    ),
    (
        "duplicate provider id",
        mutate(["providers", 1, "id"], "a"),
        ("providers: duplicate id 'a' at positions 0 and 1",),
    ),
    (
        "duplicate user id",
        mutate(["users", 1, "id"], "u"),
        ("users: duplicate id 'u' at positions 0 and 1",),
    ),
    (
        "preferences a list",
        mutate(["preferences"], []),
        ("preferences: expected a JSON object, got a list",),
    ),
    (
        "preferences null",
        mutate(["preferences"], None),
        ("preferences: expected a JSON object, got null",),
    ),
    (
        "preferences unknown field",
        mutate(["preferences", "wq"], 1.0),
        ("preferences: unknown field 'wq'",),
    ),
    (
        "preferences of another format",
        mutate(["preferences", "format"], "prillm-market"),
        ("preferences: format: expected 'prillm-preferences', got 'prillm-market'",),
    ),
    (
        "preferences version true",
        mutate(["preferences", "version"], True),
        ("preferences: version:", "got True"),
    ),
    (
        "preferences units claim cents",
        mutate(["preferences", "units"], {"b": "cents"}),
        ("preferences.units.b: prillm's unit is 'USD per 1M tokens', got 'cents'",),
    ),
]

NUMERIC_FIELDS: list[tuple[list[Any], str]] = [
    (["providers", 0, "price"], "providers[0].price"),
    (["providers", 1, "capacity"], "providers[1].capacity"),
    (["users", 1, "demand"], "users[1].demand"),
    (["latency", 1], "latency[1]"),
    (["observed_flows", 1, 0], "observed_flows[1, 0]"),
    (["preferences", "w_p"], "preferences.w_p"),
    (["preferences", "w_q"], "preferences.w_q"),
    (["preferences", "w_d"], "preferences.w_d"),
    (["preferences", "b", "b"], "preferences.b['b']"),
]
BAD_NUMBERS: list[tuple[str, Any, str]] = [
    ("a string", "1.5", "expected a number, got '1.5'"),
    ("true", True, "expected a number, got True"),
    ("false", False, "expected a number, got False"),
    ("null", None, "expected a number, got None"),
    ("a list", [1.0], "got [1.0]"),
    (
        "a 400-digit integer",
        10**400,
        "too large for a floating-point number, got an integer of 401 digits",
    ),
    ("NaN", math.nan, "must be finite, got nan"),
    ("Infinity", math.inf, "must be finite, got inf"),
]
NUMBER_CASES: list[Case] = [
    (f"{label} is {what}", mutate(path, value), (f"{label}", message))
    for path, label in NUMERIC_FIELDS
    for what, value, message in BAD_NUMBERS
    if not (what == "a list" and label.startswith("latency"))  # a row per user: a shape case
]
NUMBER_CASES += [
    (
        "latency a string",
        mutate(["latency"], "0.1"),
        ("latency: expected numbers, got the string '0.1'",),
    ),
    ("latency true", mutate(["latency"], True), ("latency: expected a number, got True",)),
    (
        "b a string",
        mutate(["preferences", "b"], "x"),
        ("preferences.b: expected a number, got 'x'",),
    ),
    (
        "b list with a string",
        mutate(["preferences", "b"], [0.0, "1"]),
        ("preferences.b[1]: expected a number, got '1'",),
    ),
    (
        "negative price",
        mutate(["providers", 1, "price"], -1.0),
        ("providers[1].price: must be >= 0, got -1.0",),
    ),
    (
        "zero capacity",
        mutate(["providers", 0, "capacity"], 0),
        ("providers[0].capacity: must be > 0, got 0.0",),
    ),
    (
        "negative capacity",
        mutate(["providers", 0, "capacity"], -5),
        ("providers[0].capacity: must be > 0, got -5.0",),
    ),
    (
        "negative demand",
        mutate(["users", 0, "demand"], -1e6),
        ("users[0].demand: must be >= 0, got -1000000.0",),
    ),
    ("negative latency", mutate(["latency", 0], -0.2), ("latency[0]: must be >= 0, got -0.2",)),
    (
        "negative flow",
        mutate(["observed_flows", 0, 1], -3),
        ("observed_flows[0, 1]: must be >= 0, got -3.0",),
    ),
    ("zero w_p", mutate(["preferences", "w_p"], 0), ("preferences.w_p: must be > 0, got 0.0",)),
    (
        "negative w_p",
        mutate(["preferences", "w_p"], -1),
        ("preferences.w_p: must be > 0, got -1.0",),
    ),
    ("zero w_q", mutate(["preferences", "w_q"], 0.0), ("preferences.w_q: must be > 0, got 0.0",)),
    (
        "negative w_q",
        mutate(["preferences", "w_q"], -2.0),
        ("preferences.w_q: must be > 0, got -2.0",),
    ),
    (
        "tiny float overflow",
        '{"providers": [{"id": "a", "price": 1e400, "capacity": 1}], '
        '"users": [{"id": "u", "demand": 1}]}',
        ("providers[0].price: must be finite, got inf",),
    ),
]

SHAPE_CASES: list[Case] = [
    (
        "latency too short",
        mutate(["latency"], [0.1]),
        ("latency: expected shape (2, 2) or (2,), got shape (1,)",),
    ),
    (
        "latency ragged",
        mutate(["latency"], [[0.1, 0.2], [0.3]]),
        ("latency[1]: expected a row of 2 numbers (rows of equal length), got [0.3]",),
    ),
    (
        "latency 3-d",
        mutate(["latency"], [[[0.1, 0.2], [0.1, 0.2]]]),
        ("latency: expected shape (2, 2), got shape (1, 2, 2)",),
    ),
    (
        "latency nested deeply",
        mutate(["latency"], [[[[[[[[[[0.1]]]]]]]]]]),
        ("latency[0, 0, 0, 0, 0, 0, 0, 0]: expected numbers nested too deeply",),
    ),
    (
        "latency an object",
        mutate(["latency"], {"a": 0.1}),
        ("latency: expected a number, got {'a': 0.1}",),
    ),
    (
        "flows wrong shape",
        mutate(["observed_flows"], [[1.0, 2.0]]),
        ("observed_flows: expected shape (2, 2), got shape (1, 2)",),
    ),
    ("flows a number", mutate(["observed_flows"], 5.0), ("observed_flows", "shape (2, 2)")),
    (
        "b list too short",
        mutate(["preferences", "b"], [0.0]),
        ("preferences: b: expected 2 values (one per provider), got 1",),
    ),
    (
        "b for an unknown provider",
        mutate(["preferences", "b"], {"a": 0.0, "b": 1.0, "zz": 2.0}),
        ("b: unknown provider id 'zz'",),
    ),
    (
        "b misses a provider",
        mutate(["preferences", "b"], {"a": 0.0}),
        ("b: no value for provider id 'b'",),
    ),
    (
        "b nested",
        mutate(["preferences", "b"], [[0.0, 1.0]]),
        ("preferences.b: expected a scalar or one value per provider, got shape (1, 2)",),
    ),
    (
        "b with an empty id",
        mutate(["preferences", "b"], {"": 0.0, "b": 1.0}),
        ("provider_ids[0]: ids must be non-empty strings, got ''",),
    ),
]


def write_input(path: Path, content: Any) -> None:
    if content is None:
        return
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content), encoding="utf-8")


def one_line(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert "Traceback" not in err
    return err.strip()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def case_id(case: Case) -> str:
    return case[0]


@pytest.mark.parametrize("case", FILE_CASES + NUMBER_CASES + SHAPE_CASES, ids=case_id)
def test_market_file_cli_and_api(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``prillm solve FILE`` exits 2 with one line; the API raises the same MarketError."""
    _name, content, fragments = case
    path = tmp_path / "market.json"
    write_input(path, content)
    before = listing(tmp_path)
    assert main(["solve", str(path)]) == 2
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert captured.out == ""
    assert line.startswith("prillm: error: ") and str(path) in line, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert listing(tmp_path) == before
    # the same file through the API: Market.from_json, then the preferences section
    with pytest.raises(MarketError) as info:
        market = Market.from_json(path)
        prefs = Market.preferences_from_json(path)
        if prefs is not None:
            prefs.values_for(market)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        if fragment.startswith("preferences: b:"):  # the API's values_for has no prefix
            fragment = fragment.removeprefix("preferences: ")
        assert fragment in message, (fragment, message)


# ------------------------------------------------------------------ a preferences file
PREFS_CASES: list[Case] = [
    ("missing", None, ("prefs.json: no such file",)),
    ("not JSON", "{w_q: 1}", ("prefs.json: not valid JSON",)),
    ("w_q true", {"w_q": True}, ("prefs.json: w_q: expected a number, got True",)),
    ("w_q a string", {"w_q": "2"}, ("prefs.json: w_q: expected a number, got '2'",)),
    ("w_p zero", {"w_p": 0}, ("prefs.json: w_p: must be > 0, got 0.0",)),
    ("w_d NaN", '{"w_d": NaN}', ("prefs.json: w_d: must be finite, got nan",)),
    ("unknown field", {"w_q": 1.0, "typo": 2}, ("prefs.json: unknown field 'typo'",)),
    (
        "a market file",
        BASE,
        ("prefs.json: format: expected 'prillm-preferences', got 'prillm-market'",),
    ),
    (
        "b for an unknown provider",
        {"b": {"a": 1.0, "zz": 0.0}},
        ("prefs.json: b: unknown provider id 'zz'",),
    ),
    (
        "b as a list of strings",
        {"b": ["1", "2"]},
        ("prefs.json: b[0]: expected a number, got '1'",),
    ),
    ("duplicate key", '{"w_q": 1, "w_q": 2}', ("prefs.json: duplicate key 'w_q'",)),
]


@pytest.mark.parametrize("case", PREFS_CASES, ids=case_id)
def test_preferences_file(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _name, content, fragments = case
    market = tmp_path / "market.json"
    market.write_text(json.dumps(drop(["preferences"])))
    prefs = tmp_path / "prefs.json"
    write_input(prefs, content)
    for command in (["solve", str(market)], ["price", str(market), "--target", "a"]):
        assert main([*command, "--prefs", str(prefs)]) == 2
        line = one_line(capsys.readouterr().err)
        for fragment in fragments:
            assert fragment in line, (fragment, line)


# ------------------------------------------------------------------ options
OPTION_CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    ("no sub-command", [], ("the following arguments are required: command",)),
    ("unknown sub-command", ["serve"], ("invalid choice: 'serve'",)),
    ("solve without a file", ["solve"], ("the following arguments are required: market",)),
    ("unknown option", ["solve", "{market}", "--fast"], ("unrecognized arguments: --fast",)),
    ("price without a target", ["price", "{market}"], ("required: --target",)),
    (
        "price unknown target",
        ["price", "{market}", "--target", "zz"],
        ("unknown provider id 'zz'",),
    ),
    (
        "price unknown method",
        ["price", "{market}", "--target", "a", "--method", "magic"],
        ("argument --method: invalid choice: 'magic'",),
    ),
    (
        "calibrate unknown method",
        ["calibrate", "{panel}", "--out", "{tmp}/p.json", "--method", "magic"],
        ("argument --method: invalid choice: 'magic'",),
    ),
    (
        "calibrate unknown optimizer",
        ["calibrate", "{panel}", "--out", "{tmp}/p.json", "--optimizer", "sgd"],
        ("argument --optimizer: invalid choice: 'sgd'",),
    ),
    ("calibrate without --out", ["calibrate", "{panel}"], ("required: --out",)),
    ("explain without a target", ["explain", "{market}"], ("required: --target",)),
    (
        "explain unknown target",
        ["explain", "{market}", "--target", "zz", "--plot", "{tmp}/e.png"],
        ("--target: unknown provider id 'zz'",),
    ),
]
NUMERIC_OPTIONS: list[tuple[list[str], str, list[str], str]] = [
    # (command before the option, option, bad values, the accepted range as printed)
    (
        ["solve", "{market}"],
        "--tol",
        ["nan", "0", "-1", "1e-300", "1e300", "inf", "abc", ""],
        "a number in [1e-13, 0.01]",
    ),
    (
        ["price", "{market}", "--target", "a"],
        "--p-min",
        ["-1", "nan", "1e308", "inf", "1e7", "x"],
        "a price in [0, 1e+06]",
    ),
    (
        ["price", "{market}", "--target", "a"],
        "--p-max",
        ["0", "-1", "nan", "1e308", "-inf"],
        "a price in (0, 1e+06]",
    ),
    (
        ["price", "{market}", "--target", "a"],
        "--marginal-cost",
        ["-1", "nan", "1e308", "inf"],
        "a cost in [0, 1e+06]",
    ),
    (
        ["calibrate", "{panel}", "--out", "{tmp}/p.json"],
        "--steps",
        ["0", "-1", "1.5", "1e9", "abc", "100001"],
        "an integer in [1, 100000]",
    ),
    (
        ["calibrate", "{panel}", "--out", "{tmp}/p.json"],
        "--lr",
        ["nan", "0", "-1", "inf", "1e6"],
        "a number in (0, 10]",
    ),
    (
        ["calibrate", "{panel}", "--out", "{tmp}/p.json"],
        "--test-fraction",
        ["0", "1", "-0.5", "nan", "2"],
        "a number in (0, 1)",
    ),
    (
        ["calibrate", "{panel}", "--out", "{tmp}/p.json"],
        "--seed",
        ["-1", "abc", "1.5", str(2**64)],
        "a seed (an integer) in [0, 9223372036854775807]",
    ),
    (
        ["calibrate", "{panel}", "--out", "{tmp}/p.json", "--optimizer", "adam"],
        "--lr",
        ["nan", "-inf", "1e-400", "11"],
        "a number in (0, 10]",
    ),
    (
        ["explain", "{market}", "--target", "a"],
        "--p-min",
        ["1e308", "nan", "-1"],
        "a price in [0, 1e+06]",
    ),
    (
        ["explain", "{market}", "--target", "a"],
        "--p-max",
        ["1e308", "0", "inf"],
        "a price in (0, 1e+06]",
    ),
    (
        ["explain", "{market}", "--target", "a"],
        "--marginal-cost",
        ["1e308", "-0.5", "nan"],
        "a cost in [0, 1e+06]",
    ),
    (
        ["compete", "{market}"],
        "--tol",
        ["nan", "0", "-1", "1e-300", "1e300", "inf", "0.5"],
        "a number in [1e-13, 0.01]",
    ),
    (
        ["compete", "{market}"],
        "--damping",
        ["0", "-1", "1.5", "nan", "inf"],
        "a number in (0, 1]",
    ),
    (
        ["compete", "{market}"],
        "--max-rounds",
        ["0", "-1", "1.5", "1e3", "10001", str(10**12)],
        "an integer in [1, 10000]",
    ),
    (
        ["train-abstraction", "--out", "{tmp}/w.pt"],
        "--scenarios",
        ["59", "0", "1e3", "100001", str(10**11)],
        "an integer in [60, 100000]",
    ),
    (
        ["train-abstraction", "--out", "{tmp}/w.pt"],
        "--epochs",
        ["0", "-3", "2.5", "10001", str(10**12)],
        "an integer in [1, 10000]",
    ),
    (
        ["train-abstraction", "--out", "{tmp}/w.pt"],
        "--seed",
        ["-1", str(2**70), "x"],
        "a seed (an integer) in [0, 9223372036854775807]",
    ),
]
for command, option, values, expected in NUMERIC_OPTIONS:
    for value in values:
        OPTION_CASES.append(
            (
                f"{command[0]}{' (adam)' if 'adam' in command else ''} {option} {value or 'empty'}",
                [*command, f"{option}={value}"],
                (f"argument {option}: expected {expected}, got {value!r}",),
            )
        )
OPTION_CASES += [
    (
        "price p-min above p-max",
        ["price", "{market}", "--target", "a", "--p-min", "3", "--p-max", "2"],
        ("--p-min: must be below --p-max (2), got 3",),
    ),
    (
        "price p-min equal to p-max",
        ["price", "{market}", "--target", "a", "--p-min", "2", "--p-max", "2"],
        ("--p-min: must be below --p-max (2), got 2",),
    ),
    (
        "explain p-min above p-max",
        ["explain", "{market}", "--target", "a", "--p-min", "5", "--p-max", "1"],
        ("--p-min: must be below --p-max (1), got 5",),
    ),
    (
        "compete respond-to 1e308",
        ["compete", "{market}", "--respond-to", "a=1e308"],
        ("--respond-to: the price must be finite and >= 0, at most 1e+06", "'1e308'"),
    ),
    (
        "compete respond-to nan",
        ["compete", "{market}", "--respond-to", "a=nan"],
        ("--respond-to: the price must be finite", "'nan'"),
    ),
    (
        "compete respond-to a word",
        ["compete", "{market}", "--respond-to", "a=cheap"],
        ("--respond-to: the price must be a number, got 'cheap'",),
    ),
    (
        "compete costs NaN",
        ["compete", "{market}", "--costs", "{tmp}/costs-nan.json"],
        ("marginal_costs['a']: must be finite, got nan",),
    ),
    (
        "compete costs 1e308",
        ["compete", "{market}", "--costs", "{tmp}/costs-huge.json"],
        ("marginal_costs['a']: expected at most 1e+06 USD per 1M tokens, got 1e+308",),
    ),
    (
        "compete bound a 400-digit integer",
        ["compete", "{market}", "--costs", "{tmp}/costs-digits.json"],
        ("price_bounds['b'][1]: too large for a floating-point number", "401 digits"),
    ),
]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    market = tmp_path / "market.json"
    market.write_text(json.dumps(BASE))
    (tmp_path / "costs-nan.json").write_text('{"marginal_costs": {"a": NaN}}')
    (tmp_path / "costs-huge.json").write_text('{"marginal_costs": {"a": 1e308}}')
    (tmp_path / "costs-digits.json").write_text('{"price_bounds": {"b": [0, ' + "9" * 401 + "]}}")
    return {"market": str(market), "panel": str(PANEL), "tmp": str(tmp_path)}


def fill(argv: list[str], inputs: dict[str, str]) -> list[str]:
    return [a.format(**inputs) for a in argv]


@pytest.mark.parametrize(
    ("name", "argv", "fragments"), OPTION_CASES, ids=[c[0] for c in OPTION_CASES]
)
def test_bad_options(
    name: str,
    argv: list[str],
    fragments: tuple[str, ...],
    inputs: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = listing(tmp_path)
    assert main(fill(argv, inputs)) == 2
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert captured.out == "" and line.startswith("prillm: error: "), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert listing(tmp_path) == before


# ------------------------------------------------------------------ output files
OUTPUT_CASES: list[tuple[str, list[str], tuple[str, ...]]] = [
    (
        "explain plot e.gif",
        ["explain", "{market}", "--target", "a", "--plot", "{tmp}/e.gif"],
        ("--plot: unsupported file type '.gif'", "e.gif"),
    ),
    (
        "plot fit.xyz",
        ["calibrate", "{panel}", "--out", "{tmp}/p.json", "--plot", "{tmp}/fit.xyz"],
        ("--plot: unsupported file type '.xyz'", "fit.xyz", ".png"),
    ),
    (
        "plot without suffix",
        ["calibrate", "{panel}", "--out", "{tmp}/p.json", "--plot", "{tmp}/fit"],
        ("--plot: unsupported file type '(no suffix)'",),
    ),
    (
        "out not JSON",
        ["calibrate", "{panel}", "--out", "{tmp}/prefs.txt"],
        ("--out: unsupported file type '.txt'", "prefs.txt"),
    ),
    (
        "out a PNG",
        ["calibrate", "{panel}", "--out", "{tmp}/fit.png"],
        ("--out: unsupported file type '.png'",),
    ),
    (
        "out in a missing folder",
        ["calibrate", "{panel}", "--out", "{tmp}/nowhere/p.json"],
        ("--out: folder", "nowhere", "does not exist"),
    ),
    (
        "out is a folder",
        ["calibrate", "{panel}", "--out", "{tmp}/sub.json"],
        ("--out:", "sub.json' is a folder, not a file"),
    ),
    (
        "out and plot the same",
        ["calibrate", "{panel}", "--out", "{tmp}/x.json", "--plot", "{tmp}/x.json"],
        ("--plot: unsupported file type '.json'",),
    ),
    (
        "out is the input panel",
        ["calibrate", "{tmp}/panel.json", "--out", "{tmp}/panel.json"],
        (
            "--out:",
            "panel.json' is an input file",
        ),
    ),
    ("out empty", ["calibrate", "{panel}", "--out", ""], ("--out: expected a file name, got ''",)),
    (
        "demo writes a text file",
        ["demo", "--write", "{tmp}/demo.txt"],
        ("--write: unsupported file type '.txt'",),
    ),
    (
        "demo in a missing folder",
        ["demo", "--write", "{tmp}/nowhere/demo.json"],
        ("--write: folder", "does not exist"),
    ),
    (
        "demo onto a folder",
        ["demo", "--write", "{tmp}/sub.json"],
        ("--write:", "is a folder, not a file"),
    ),
    (
        "demo to the current folder",
        ["demo", "--write", "."],
        ("--write: expected a file name, got '.'",),
    ),
    (
        "explain plot in a missing folder",
        ["explain", "{market}", "--target", "a", "--plot", "{tmp}/nowhere/e.png"],
        ("--plot: folder", "nowhere", "does not exist"),
    ),
    (
        "compete plot fit.xyz",
        ["compete", "{market}", "--plot", "{tmp}/fit.xyz"],
        ("--plot: unsupported file type '.xyz'", "fit.xyz", ".png, .svg, .pdf"),
    ),
    (
        "compete plot a JPEG",
        ["compete", "{market}", "--plot", "{tmp}/fit.jpg"],
        ("--plot: unsupported file type '.jpg'",),
    ),
    (
        "compete plot in a missing folder",
        ["compete", "{market}", "--plot", "{tmp}/nowhere/c.png"],
        ("--plot: folder", "nowhere", "does not exist"),
    ),
    (
        "compete plot onto a folder",
        ["compete", "{market}", "--plot", "{tmp}/sub.png"],
        ("--plot:", "sub.png' is a folder, not a file"),
    ),
    (
        "compete plot onto the costs file",
        ["compete", "{market}", "--costs", "{tmp}/costs.svg", "--plot", "{tmp}/costs.svg"],
        ("--plot:", "costs.svg' is an input file"),
    ),
    (
        "train-abstraction out a text file",
        ["train-abstraction", "--out", "{tmp}/w.txt"],
        ("--out: unsupported file type '.txt'", ".pt"),
    ),
    (
        "train-abstraction out in a missing folder",
        ["train-abstraction", "--out", "{tmp}/nowhere/w.pt"],
        ("--out: folder", "nowhere", "does not exist"),
    ),
    (
        "train-abstraction out onto a folder",
        ["train-abstraction", "--out", "{tmp}/sub.pt"],
        ("--out:", "sub.pt' is a folder, not a file"),
    ),
    (
        "train-abstraction curve onto a folder",
        ["train-abstraction", "--out", "{tmp}/curve.pt"],
        ("--out:", "curve.png' is a folder, not a file"),
    ),
]


@pytest.mark.parametrize(
    ("name", "argv", "fragments"), OUTPUT_CASES, ids=[c[0] for c in OUTPUT_CASES]
)
def test_bad_outputs(
    name: str,
    argv: list[str],
    fragments: tuple[str, ...],
    inputs: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for folder in ("sub.json", "sub.png", "sub.pt", "curve.png"):
        (tmp_path / folder).mkdir()
    (tmp_path / "panel.json").write_text("{}")
    (tmp_path / "costs.svg").write_text("{}")
    before = listing(tmp_path)
    assert main(fill(argv, inputs)) == 2
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert captured.out == "", captured.out  # refused before any work (demo prints nothing)
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    assert listing(tmp_path) == before


# ------------------------------------------------------------------ the Python API
MARKET = {"demand": [1e6, 2e6], "price": [1.0, 2.0], "capacity": [1e6, 1e6]}
API_CASES: list[tuple[str, Callable[[], object], str]] = [
    (
        "latency true",
        lambda: Market(**MARKET, latency=[0.1, True]),
        "latency[1]: expected a number, got True",
    ),
    (
        "latency a string in a row",
        lambda: Market(**MARKET, latency=[[0.1, 0.2], [0.1, "0.2"]]),
        "latency[1, 1]: expected a number, got '0.2'",
    ),
    (
        "latency array of strings",
        lambda: Market(**MARKET, latency=np.array(["0.1", "0.2"])),
        "latency: expected a number, got '0.1'",
    ),
    (
        "flows with None",
        lambda: Market(**MARKET, observed_flows=[[1.0, None], [1.0, 1.0]]),
        "observed_flows[0, 1]: expected a number, got None",
    ),
    (
        "flows boolean array",
        lambda: Market(**MARKET, observed_flows=np.ones((2, 2), dtype=bool)),
        "observed_flows: expected a number, got True",
    ),
    (
        "price a 400-digit integer",
        lambda: Market(demand=[1.0], price=[10**400], capacity=[1.0]),
        "price[0]: too large for a floating-point number, got an integer of 401 digits",
    ),
    (
        "demand as a string",
        lambda: Market(demand="1e6", price=[1.0], capacity=[1.0]),
        "demand: expected numbers, got the string '1e6'",
    ),
    (
        "capacity a complex number",
        lambda: Market(demand=[1.0], price=[1.0], capacity=[1j]),
        "capacity[0]: expected a number, got 1j",
    ),
    (
        "blank user id",
        lambda: Market(**MARKET, user_ids=["x", " "]),
        "user_ids[1]: ids must be non-empty strings, got ' '",
    ),
    ("w_q true", lambda: Preferences(w_q=True), "w_q: expected a number, got True"),
    ("w_p zero", lambda: Preferences(w_p=0.0), "w_p: must be > 0, got 0.0"),
    ("w_p negative", lambda: Preferences(w_p=-1.0), "w_p: must be > 0, got -1.0"),
    ("w_d a string", lambda: Preferences(w_d="0.5"), "w_d: expected numbers, got the string '0.5'"),
    ("b a string", lambda: Preferences(b="1"), "b: expected numbers, got the string '1'"),
    ("b with None", lambda: Preferences(b=[1.0, None]), "b[1]: expected a number, got None"),
    (
        "b with a Decimal",
        lambda: Preferences(b=[__import__("decimal").Decimal("1")]),
        "b[0]: expected a number, got Decimal('1')",
    ),
    (
        "from_dict w_q true",
        lambda: Preferences.from_dict({"w_q": True}),
        "preferences.w_q: expected a number, got True",
    ),
    (
        "price bound 1e308",
        lambda: check_price("p_min", 1e308),
        "p_min: expected a price in [0, 1e+06] USD per 1M tokens, got 1e+308",
    ),
    (
        "positive price bound 0",
        lambda: check_price("p_max", 0, positive=True),
        "p_max: expected a price in (0, 1e+06] USD per 1M tokens, got 0.0",
    ),
    ("price bound NaN", lambda: check_price("p_min", math.nan), "p_min: must be finite, got nan"),
    (
        "price bound a string",
        lambda: check_price("p_min", "1"),
        "p_min: expected a number, got '1'",
    ),
    (
        "solve tol NaN",
        lambda: solve_equilibrium(Market(**MARKET), tol=math.nan),
        "tol: must be finite, got nan",
    ),
    (
        "solve tol -1",
        lambda: solve_equilibrium(Market(**MARKET), tol=-1.0),
        "tol: must be > 0, got -1.0",
    ),
    ("solve tol 0", lambda: solve_equilibrium(Market(**MARKET), tol=0), "tol: must be > 0, got 0"),
    (
        "solve tol a string",
        lambda: solve_equilibrium(Market(**MARKET), tol="1e-9"),
        "tol: expected a number, got '1e-9'",
    ),
    (
        "from_dict version true",
        lambda: Market.from_dict(mutate(["version"], True)),
        "market: version: this prillm reads version 1, got True",
    ),
]


@pytest.mark.parametrize(("name", "make", "message"), API_CASES, ids=[c[0] for c in API_CASES])
def test_bad_api_input(name: str, make: Callable[[], object], message: str) -> None:
    with pytest.raises(MarketError) as info:
        make()
    assert str(info.value) == message


def test_the_command_and_the_library_share_the_price_limit() -> None:
    from prillm.cli._options import MAX_PRICE as CLI_MAX_PRICE

    assert CLI_MAX_PRICE == MAX_PRICE


def test_read_json_names_the_file_and_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"x": list(range(100))}))
    with pytest.raises(MarketError, match=re.escape(f"{path}: file larger than 100 bytes")):
        read_json(path, max_bytes=100)
    assert read_json(path, max_bytes=10_000)["x"][-1] == 99


def test_corpus_size() -> None:
    sizes = {
        "file": len(FILE_CASES),
        "number": len(NUMBER_CASES),
        "shape": len(SHAPE_CASES),
        "prefs": len(PREFS_CASES),
        "option": len(OPTION_CASES),
        "output": len(OUTPUT_CASES),
        "api": len(API_CASES),
    }
    print("malformed-input corpus:", sizes, "total", sum(sizes.values()))
    assert sum(sizes.values()) >= 100


def test_no_case_is_listed_twice() -> None:
    for cases in (FILE_CASES + NUMBER_CASES + SHAPE_CASES, PREFS_CASES, OPTION_CASES):
        names = [c[0] for c in cases]
        assert len(names) == len(set(names))
    for cases in (OUTPUT_CASES, API_CASES):
        names = [c[0] for c in cases]
        assert len(names) == len(set(names))


# ------------------------------------------------------------------ modes of written files
@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("demo", ["demo", "--write", "{out}.json"]),
        ("compete", ["compete", "{market}", "--plot", "{out}.png"]),
        ("explain", ["explain", "{market}", "--target", "a", "--no-scores", "--plot", "{out}.svg"]),
    ],
)
def test_outputs_get_the_mode_of_a_plain_write(
    name: str,
    argv: list[str],
    inputs: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A new output gets ``0o666`` less the umask, a replaced one keeps its mode (never the
    ``0o600`` of a temporary file), and no temporary file is left beside it."""
    import os

    old = os.umask(0o027)
    try:
        assert main(fill(argv, {**inputs, "out": str(tmp_path / "new")})) == 0
    finally:
        os.umask(old)
    (new,) = tmp_path.glob("new.*")
    assert new.stat().st_mode & 0o777 == 0o640
    for mode in (0o644, 0o664):
        target = tmp_path / f"old{mode:o}{new.suffix}"
        target.write_text("{}")
        target.chmod(mode)
        assert main(fill(argv, {**inputs, "out": str(target.with_suffix(""))})) == 0
        assert target.stat().st_mode & 0o777 == mode and target.read_bytes() != b"{}"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    capsys.readouterr()


def test_weights_files_get_the_mode_of_a_plain_write(tmp_path: Path) -> None:
    import os

    pytest.importorskip("torch", reason="the weights writer lives in the torch extra")
    from prillm.abstraction.weights import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "w.pt", b"new")
    finally:
        os.umask(old)
    assert (tmp_path / "w.pt").stat().st_mode & 0o777 == 0o644
    (tmp_path / "w.pt").chmod(0o664)
    atomic_write_bytes(tmp_path / "w.pt", b"again")
    assert (tmp_path / "w.pt").stat().st_mode & 0o777 == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]
