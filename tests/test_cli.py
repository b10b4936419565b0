"""The ``prillm`` command: tables, JSON, and one-line errors with non-zero exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from prillm import Market, Preferences, solve_equilibrium
from prillm.cli import main
from prillm.synthetic import demo_market


@pytest.fixture
def market_file(tmp_path: Path) -> Path:
    market, prefs = demo_market()
    path = tmp_path / "market.json"
    market.to_json(path, prefs)
    return path


def test_solve_prints_a_table(market_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", str(market_file)]) == 0
    out = capsys.readouterr().out
    assert "premium-llm" in out and "coding-agent" in out
    assert "certified at tol" in out
    assert "preferences: from the market file" in out


def test_solve_json_matches_the_library(
    market_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["solve", str(market_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    market, prefs = demo_market()
    eq = solve_equilibrium(market, prefs)
    loads = {p["id"]: p["load"] for p in out["providers"]}
    np.testing.assert_allclose([loads[p] for p in market.provider_ids], eq.loads, rtol=1e-12)
    assert out["certificate"]["certified"] is True
    assert out["certificate"]["nash_gap"] <= 1e-10


def test_prefs_file_overrides(
    market_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prefs_path = tmp_path / "prefs.json"
    Preferences(w_q=9.0, w_d=0.0, b=0.0).to_json(prefs_path)
    assert main(["solve", str(market_file), "--prefs", str(prefs_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["preferences"] == f"from {prefs_path}"


def test_defaults_when_no_preferences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.json"
    Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6]).to_json(path)
    assert main(["solve", str(path)]) == 0
    assert "defaults (w_p = w_q = w_d = 1, b = 0)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{oops", "not valid JSON"),
        (
            '{"providers": [{"id": "a", "price": 1, "capacity": 0}], "users": [{"id": "u", '
            '"demand": 1}]}',
            r"providers[0].capacity: must be > 0, got 0.0",
        ),
        (
            '{"providers": [{"id": "a", "price": 1, "capacity": 1}], "users": [{"id": "u", '
            '"demand": 1}], "preferences": {"b": {"zz": 1.0}}}',
            "b: unknown provider id 'zz'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, content: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("prillm: error:")
    assert message in err
    assert "Traceback" not in err


def test_demo_writes_a_market_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.json"
    assert main(["demo", "--write", str(path)]) == 0
    assert Market.from_json(path) == demo_market()[0]
    assert "wrote the demo market" in capsys.readouterr().out


def test_console_script_runs(market_file: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "prillm.cli", "solve", str(market_file), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["certificate"]["certified"] is True
    bad = subprocess.run(
        [sys.executable, "-m", "prillm.cli", "solve", "/nonexistent.json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
