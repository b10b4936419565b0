"""The ``prillm price`` sub-command."""

from __future__ import annotations

import argparse
import json

import pytest

from prillm import MarketError
from prillm.cli import price as cli
from prillm.pricing import optimal_price
from prillm.synthetic import demo_market


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prillm")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    return parser


@pytest.fixture
def market_file(tmp_path):
    market, prefs = demo_market()
    path = tmp_path / "market.json"
    market.to_json(path, prefs)
    return str(path)


def test_price_prints_the_optimum(market_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(["price", market_file, "--target", "mid-llm"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    market, prefs = demo_market()
    best = optimal_price(market, prefs, "mid-llm")
    assert f"{best.price:.6g}" in out and "certificate" in out


def test_price_json(market_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(
        [
            "price",
            market_file,
            "--target",
            "budget-llm",
            "--json",
            "--method",
            "spiter",
            "--p-max",
            "5",
            "--marginal-cost",
            "0.1",
        ]
    )
    assert args.func(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["method"] == "spiter" and payload["target"] == "budget-llm"
    assert payload["p_max"] == 5.0 and payload["marginal_cost"] == 0.1
    assert 0.0 <= payload["price"] <= 5.0


def test_a_refused_size_is_an_input_error(tmp_path) -> None:
    import numpy as np

    from .markets import random_market

    market, prefs = random_market(np.random.default_rng(0), 8, 8)
    path = tmp_path / "big.json"
    market.to_json(path, prefs)
    args = _parser().parse_args(["price", str(path), "--target", "p0", "--method", "bf"])
    with pytest.raises(MarketError, match="max_branches"):
        args.func(args)


def test_price_errors_are_market_errors(market_file: str) -> None:
    args = _parser().parse_args(["price", market_file, "--target", "nobody"])
    with pytest.raises(MarketError, match="nobody"):
        args.func(args)
    with pytest.raises(SystemExit):  # refused while the options are parsed
        _parser().parse_args(["price", market_file, "--target", "mid-llm", "--p-max", "-1"])
    args = _parser().parse_args(
        ["price", market_file, "--target", "mid-llm", "--p-min", "2", "--p-max", "1"]
    )
    with pytest.raises(MarketError, match=r"--p-min: must be below --p-max \(1\), got 2"):
        args.func(args)


def test_through_the_prillm_command(
    market_file: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import prillm.cli

    monkeypatch.setattr(prillm.cli, "SUBCOMMANDS", ("prillm.cli.price",))
    assert prillm.cli.main(["price", market_file, "--target", "premium-llm", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["target"] == "premium-llm"
    assert prillm.cli.main(["price", market_file, "--target", "nobody"]) == 2
    assert "nobody" in capsys.readouterr().err
    assert prillm.cli.main(["price", market_file, "--target", "mid-llm", "--p-min", "-1"]) == 2
    assert "argument --p-min: expected a price in [0, 1e+06], got '-1'" in capsys.readouterr().err
