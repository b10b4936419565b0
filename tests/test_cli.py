"""The ``prillm`` command: tables, JSON, and one-line errors with non-zero exit status."""

from __future__ import annotations

import json
import os
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


def test_demo_write_keeps_the_mode_of_a_replaced_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for mode in (0o644, 0o600, 0o664):
        path = tmp_path / f"demo-{mode:o}.json"
        path.write_text("{}")
        path.chmod(mode)
        assert main(["demo", "--write", str(path)]) == 0
        assert path.stat().st_mode & 0o777 == mode
        assert Market.from_json(path) == demo_market()[0]
    capsys.readouterr()


def test_a_new_file_gets_the_mode_of_a_plain_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = os.umask(0o027)
    try:
        assert main(["demo", "--write", str(tmp_path / "new.json")]) == 0
        with open(tmp_path / "plain.json", "w") as fh:
            fh.write("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "plain.json").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "plain.json"]
    capsys.readouterr()


def test_calibrate_writes_nothing_when_the_figure_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--out`` is written only after the figure: a figure that fails leaves no file."""
    import prillm.calibration.plot as plot
    from prillm.data import RandomDesign, generate_planted_panel

    panel = tmp_path / "panel.json"
    design = RandomDesign(3, 2, Preferences(w_q=2.0, w_d=0.5, b=0.0))
    generate_planted_panel(seed=1, n_days=6, design=design).to_json(panel)

    class Broken:
        def savefig(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("the figure cannot be rendered")

    monkeypatch.setattr(plot, "fit_figure", lambda *a, **k: Broken())
    out, png = tmp_path / "prefs.json", tmp_path / "fit.png"
    argv = ["calibrate", str(panel), "--out", str(out), "--plot", str(png), "--steps", "2"]
    with pytest.raises(RuntimeError, match="cannot be rendered"):
        main([*argv, "--quiet"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["panel.json"]
    monkeypatch.undo()
    assert main([*argv, "--quiet"]) == 0  # the same run with a working figure writes both
    assert Preferences.from_json(out).provider_ids == ("llm0", "llm1")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in capsys.readouterr().out


def test_every_image_suffix_is_one_matplotlib_writes() -> None:
    from matplotlib.figure import Figure

    from prillm.cli._options import IMAGE_SUFFIXES

    supported = Figure().canvas.get_supported_filetypes()
    assert {s[1:] for s in IMAGE_SUFFIXES} <= set(supported)
