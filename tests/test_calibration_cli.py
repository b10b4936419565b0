"""``prillm calibrate``: panel in, preferences file (and a plot) out."""

from __future__ import annotations

import json

import numpy as np
import pytest

import prillm.cli
from prillm import Preferences
from prillm.calibration import preference_errors
from prillm.data import RandomDesign, generate_planted_panel

TRUTH = Preferences(w_q=2.0, w_d=0.5, b=[2.0, 0.0, 1.0, 3.0])


@pytest.fixture
def main(monkeypatch):
    monkeypatch.setattr(prillm.cli, "SUBCOMMANDS", ("prillm.cli.calibrate",))
    return prillm.cli.main


@pytest.fixture(scope="module")
def panel_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("panel") / "panel.json"
    design = RandomDesign(6, 4, TRUTH)
    generate_planted_panel(seed=3, n_days=12, design=design, noise_sigma=0.02).to_json(path)
    return path


def test_calibrate_writes_preferences_and_plot(main, panel_file, tmp_path, capsys) -> None:
    out, png = tmp_path / "prefs.json", tmp_path / "fit.png"
    status = main(["calibrate", str(panel_file), "--out", str(out), "--plot", str(png)])
    assert status == 0
    text = capsys.readouterr().out
    assert "held-out: R^2" in text and "vs planted truth" in text
    prefs = Preferences.from_json(out)
    assert prefs.provider_ids == ("llm0", "llm1", "llm2", "llm3")
    err = preference_errors(prefs, TRUTH)
    assert err["w_q"] < 0.05 and err["w_d"] < 0.05 and err["b"] < 0.1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_calibrate_json_summary(main, panel_file, tmp_path, capsys) -> None:
    out = tmp_path / "prefs.json"
    status = main(["calibrate", str(panel_file), "--out", str(out), "--json", "--method", "npm"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "npm"
    assert summary["days"] == {"train": 10, "test": 2}
    assert 0 < summary["test"]["r2"] < 1
    assert np.all(np.asarray(list(summary["preferences"]["b"].values())) == 0.0)


def test_calibrate_reports_bad_input_in_one_line(main, tmp_path, capsys) -> None:
    missing = tmp_path / "nope.json"
    assert main(["calibrate", str(missing), "--out", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert "nope.json" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "prillm-panel", "days": "x"}))
    assert main(["calibrate", str(bad), "--out", str(tmp_path / "p.json")]) == 2
    assert "days" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
    out = str(tmp_path / "p.json")
    assert main(["calibrate", str(bad), "--out", out, "--method", "xgboost"]) == 2
    assert "--method" in capsys.readouterr().err


def test_calibrate_names_what_one_day_cannot_identify(main, tmp_path, capsys) -> None:
    design = RandomDesign(4, 3, Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0]))
    panel = generate_planted_panel(seed=1, n_days=3, design=design, noise_sigma=0.02)
    # constant prices over the days: the scale of w_q, w_d is not identified
    path = tmp_path / "flat.json"
    panel.replace(price=panel.price[0]).to_json(path)
    out = tmp_path / "prefs.json"
    assert main(["calibrate", str(path), "--out", str(out), "--steps", "5", "--quiet"]) == 0
    report = capsys.readouterr().out
    assert "not identified: w_q, w_d (no provider's price changes over the days" in report


def test_a_one_day_panel_is_fitted_whole_and_the_scale_reported(main, tmp_path, capsys) -> None:
    design = RandomDesign(4, 3, Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0]))
    path = tmp_path / "one.json"
    generate_planted_panel(seed=1, n_days=1, design=design, noise_sigma=0.02).to_json(path)
    out, png = tmp_path / "prefs.json", tmp_path / "fit.png"
    argv = ["calibrate", str(path), "--out", str(out), "--steps", "5", "--quiet"]
    assert main([*argv, "--plot", str(png)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.err == ""
    assert "held-out: none (a panel of one day is fitted whole)" in captured.out
    assert "not identified: w_q, w_d (one day:" in captured.out
    assert Preferences.from_json(out).provider_ids == ("llm0", "llm1", "llm2")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["days"] == {"train": 1, "test": 0} and summary["test"] is None
    assert summary["not_identified"] == ["w_q", "w_d"]


def test_a_flat_loss_profile_is_named_in_the_report(main, tmp_path, capsys) -> None:
    # list prices that barely move: the data check passes, the fitted loss is flat along the ray
    listed = generate_planted_panel(seed=0, n_days=32, price_sigma=0.0).segment("Coding")
    path = tmp_path / "listed.json"
    listed.to_json(path)
    out = tmp_path / "prefs.json"
    assert main(["calibrate", str(path), "--out", str(out), "--steps", "40", "--quiet"]) == 0
    report = capsys.readouterr().out
    line = next(x for x in report.splitlines() if "flat along the scale ray" in x)
    assert line.startswith("  not identified: w_q, w_d (the loss is flat along the scale ray")
