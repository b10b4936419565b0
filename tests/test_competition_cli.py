"""The ``prillm compete`` sub-command: tables, JSON, --respond-to, the plot, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prillm.cli import main
from prillm.pricing.competition import price_equilibrium
from prillm.synthetic import demo_market


@pytest.fixture
def market_file(tmp_path: Path) -> str:
    market, prefs = demo_market()
    path = tmp_path / "market.json"
    market.to_json(path, prefs)
    return str(path)


def _costs(tmp_path: Path, payload) -> str:
    path = tmp_path / "costs.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return str(path)


def test_compete_prints_the_equilibrium(market_file, capsys):
    assert main(["compete", market_file]) == 0
    out = capsys.readouterr().out
    market, prefs = demo_market()
    res = price_equilibrium(market, prefs)
    assert "status: converged" in out
    for pid, p in zip(res.player_ids, res.prices, strict=True):
        assert pid in out and f"{p:.6g}" in out


def test_compete_json_with_players_and_costs(market_file, tmp_path, capsys):
    costs = _costs(
        tmp_path,
        {
            "format": "prillm-costs",
            "version": 1,
            "marginal_costs": {"mid-llm": 0.2, "premium-llm": 9.0},
            "price_bounds": {"budget-llm": [0.1, None]},
        },
    )
    argv = ["compete", market_file, "--players", "mid-llm, budget-llm", "--costs", costs, "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in payload["players"]] == ["mid-llm", "budget-llm"]
    assert payload["players"][0]["marginal_cost"] == 0.2
    assert payload["status"] == "converged" and payload["epsilon_relative"] <= 1e-9
    assert payload["prices"]["premium-llm"] == 3.0  # not a player: its cost entry is ignored
    market, prefs = demo_market()
    res = price_equilibrium(
        market, prefs, ["mid-llm", "budget-llm"], {"mid-llm": 0.2}, {"budget-llm": (0.1, None)}
    )
    np.testing.assert_allclose([p["price"] for p in payload["players"]], res.prices, rtol=1e-12)


def test_respond_to(market_file, capsys):
    assert main(["compete", market_file, "--respond-to", "budget-llm=0.2"]) == 0
    out = capsys.readouterr().out
    assert "'budget-llm' moves to 0.2" in out and "once the others answer" in out
    assert main(["compete", market_file, "--respond-to", "budget-llm=0.2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["mover"] == "budget-llm" and payload["price"] == 0.2
    assert [p["id"] for p in payload["others"]["players"]] == ["premium-llm", "mid-llm"]
    assert payload["others"]["prices"]["budget-llm"] == 0.2


def test_plot_is_written_after_success(market_file, tmp_path, capsys):
    plot = tmp_path / "path.png"
    assert main(["compete", market_file, "--plot", str(plot), "--max-rounds", "3"]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "status: not_converged" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--players", "mid-llm,nope"], "players: unknown provider id 'nope'"),
        (["--players", "mid-llm,mid-llm"], "'mid-llm' is listed twice"),
        (["--players", "mid-llm,,budget-llm"], "--players: expected comma-separated"),
        (["--respond-to", "budget-llm"], "--respond-to: expected ID=PRICE"),
        (["--respond-to", "budget-llm=cheap"], "the price must be a number"),
        (["--respond-to", "budget-llm=-1"], "finite and >= 0"),
        (["--respond-to", "nope=1"], "unknown provider id 'nope'"),
        (["--max-rounds", "0"], "argument --max-rounds: expected an integer in [1, 10000]"),
        (["--damping", "1.5"], "argument --damping: expected a number in (0, 1], got '1.5'"),
        (["--tol", "0"], "--tol"),
        (["--plot", "out.gif"], "--plot: unsupported file type '.gif' in 'out.gif'"),
        (["--plot", "/no/such/folder/p.png"], "folder '/no/such/folder'"),
    ],
)
def test_bad_options_exit_2_with_one_line(market_file, capsys, extra, message):
    assert main(["compete", market_file, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("prillm: error:")


@pytest.mark.parametrize(
    "payload,message",
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a JSON object"),
        ({"costs": {}}, "unknown field 'costs'"),
        ({"format": "other"}, "format: expected 'prillm-costs'"),
        ({"version": 2}, "version: expected 1"),
        ({"marginal_costs": {"nope": 1.0}}, "unknown provider id 'nope'"),
        ({"marginal_costs": {"mid-llm": "1"}}, "expected a number"),
        ({"marginal_costs": {"mid-llm": -1}}, "must be >= 0"),
        ({"marginal_costs": []}, "expected an object keyed by provider id"),
        ({"price_bounds": {"mid-llm": [2.0, 1.0]}}, "exclude every price"),
        ({"price_bounds": {"mid-llm": [None, 1.0]}}, "expected [lo, hi]"),
        ({"price_bounds": {"mid-llm": 3}}, "expected [lo, hi]"),
    ],
)
def test_malformed_costs_file_exit_2_and_no_plot(market_file, tmp_path, capsys, payload, message):
    costs = _costs(tmp_path, payload)
    plot = tmp_path / "p.png"
    assert main(["compete", market_file, "--costs", costs, "--plot", str(plot)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not plot.exists()


def test_missing_market_file(tmp_path, capsys):
    assert main(["compete", str(tmp_path / "none.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unknown_method_is_an_argparse_error(market_file, capsys):
    assert main(["compete", market_file, "--method", "newton"]) == 2
