"""``prillm explain`` through the command line: the report, its JSON, its plot and its errors.

The numbers are checked against independent computations: the elasticity against a central
finite difference of the equilibrium load, each rival's effect against a direct exact solve on
a market file written without that rival, and each breakpoint against the equilibrium flows
just below and just above it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prillm import Market, solve_equilibrium
from prillm.cli import main
from prillm.pricing import optimal_price

MARKET: dict[str, Any] = {
    "format": "prillm-market",
    "version": 1,
    "providers": [
        {"id": "a", "price": 1.0, "capacity": 1e6},
        {"id": "b", "price": 2.0, "capacity": 1e6},
        {"id": "c", "price": 1.5, "capacity": 2e6},
    ],
    "users": [
        {"id": "u0", "demand": 1e6},
        {"id": "u1", "demand": 2e6},
        {"id": "u2", "demand": 1.5e6},
    ],
    "latency": [[0.1, 0.5, 0.3], [0.4, 0.2, 0.1], [0.2, 0.2, 0.9]],
    "preferences": {"w_p": 1.0, "w_q": 1.0, "w_d": 1.0, "b": {"a": 0.5, "b": 0.0, "c": 1.0}},
}


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def market_file(tmp_path: Path) -> str:
    return write(tmp_path / "market.json", MARKET)


def explain_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(["explain", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def load_of(path: str, target: str, price: float) -> float:
    market = Market.from_json(path)
    prefs = Market.preferences_from_json(path)
    eq = solve_equilibrium(market.with_price(target, price), prefs)
    return float(eq.loads[market.provider_index(target)])


def test_json_keys_and_exact_optimum(market_file, capsys):
    out = explain_json(capsys, market_file, "--target", "a", "--no-scores")
    for key in ("price", "profit", "breakpoints", "elasticity", "rivals", "median_price"):
        assert key in out
    market = Market.from_json(market_file)
    prefs = Market.preferences_from_json(market_file)
    ref = optimal_price(market, prefs, "a", method="exact")
    assert out["price"] == pytest.approx(ref.price, rel=1e-12)
    assert out["profit"] == pytest.approx(ref.profit, rel=1e-12)
    assert out["status"] == "global_optimum"
    assert {r["id"] for r in out["rivals"]} == {"b", "c"}


def test_elasticity_matches_a_finite_difference(market_file, capsys):
    out = explain_json(capsys, market_file, "--target", "a", "--no-scores")
    p, h = out["price"], 1e-4
    load = load_of(market_file, "a", p)
    slope = (load_of(market_file, "a", p + h) - load_of(market_file, "a", p - h)) / (2 * h)
    assert out["elasticity"]["value"] == pytest.approx(slope * p / load, rel=1e-6, abs=1e-8)
    # interior optimum, no cost: F + p F' = 0, the elasticity is -1
    assert out["elasticity"]["value"] == pytest.approx(-1.0, abs=1e-8)


def test_elasticity_with_a_cost_follows_the_lerner_rule(market_file, capsys):
    out = explain_json(
        capsys, market_file, "--target", "a", "--no-scores", "--marginal-cost", "0.5"
    )
    p = out["price"]
    h = 1e-4
    load = load_of(market_file, "a", p)
    slope = (load_of(market_file, "a", p + h) - load_of(market_file, "a", p - h)) / (2 * h)
    assert out["elasticity"]["value"] == pytest.approx(slope * p / load, rel=1e-6)
    assert out["elasticity"]["value"] == pytest.approx(-p / (p - 0.5), rel=1e-8)


@pytest.mark.parametrize("rival", ["b", "c"])
def test_rival_removal_matches_a_direct_solve(market_file, tmp_path, capsys, rival):
    out = explain_json(capsys, market_file, "--target", "a", "--no-scores")
    k = [p["id"] for p in MARKET["providers"]].index(rival)
    reduced = copy.deepcopy(MARKET)
    del reduced["providers"][k]
    reduced["latency"] = [[v for j, v in enumerate(row) if j != k] for row in MARKET["latency"]]
    del reduced["preferences"]["b"][rival]
    path = write(tmp_path / "reduced.json", reduced)
    ref = optimal_price(Market.from_json(path), Market.preferences_from_json(path), "a")
    row = next(r for r in out["rivals"] if r["id"] == rival)
    assert row["profit_without"] == pytest.approx(ref.profit, rel=1e-10)
    assert row["profit_change"] == pytest.approx(ref.profit - out["profit"], rel=1e-10)
    changes = [abs(r["profit_change"]) for r in out["rivals"]]
    assert changes == sorted(changes, reverse=True)


def test_breakpoints_name_the_users_who_stop_buying(market_file, capsys):
    out = explain_json(capsys, market_file, "--target", "a", "--no-scores")
    assert out["breakpoints"], "this market has breakpoints"
    market = Market.from_json(market_file)
    prefs = Market.preferences_from_json(market_file)
    s = market.provider_index("a")
    for bp in out["breakpoints"]:
        p = bp["price"]
        below = solve_equilibrium(market.with_price("a", p - 1e-3), prefs).flows[:, s]
        above = solve_equilibrium(market.with_price("a", p + 1e-3), prefs).flows[:, s]
        for user in bp["stops_buying"]:
            i = market.user_ids.index(user)
            assert below[i] > 0 and above[i] <= 1e-6 * market.demand[i]
        for user in bp["starts_buying"]:
            i = market.user_ids.index(user)
            assert below[i] <= 1e-6 * market.demand[i] and above[i] > 0


def test_median_price_loss(market_file, capsys):
    out = explain_json(capsys, market_file, "--target", "a", "--no-scores")
    median = float(np.median([p["price"] for p in MARKET["providers"]]))
    med = out["median_price"]
    assert med["price"] == median
    assert med["profit"] == pytest.approx(median * load_of(market_file, "a", median) / 1e6)
    assert med["loss"] == pytest.approx(out["profit"] - med["profit"])
    assert med["loss"] > 0


def test_network_scores_when_torch_is_installed(market_file, capsys):
    pytest.importorskip("torch", reason="the abstraction network needs the torch extra")
    out = explain_json(capsys, market_file, "--target", "a")
    for row in out["rivals"]:
        assert set(row["scores"]) == {"score_sum", "score_avg"}
        assert all(np.isfinite(v) for v in row["scores"].values())


def test_text_report_and_plot(market_file, tmp_path, capsys):
    plot = tmp_path / "explain.png"
    assert main(["explain", market_file, "--target", "a", "--no-scores", "--plot", str(plot)]) == 0
    captured = capsys.readouterr()
    assert "optimal price" in captured.out and "stops buying" in captured.out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert listing(tmp_path) == ["explain.png", "market.json"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--target", "zz"], "--target: unknown provider id 'zz'"),
        (["--target", "a", "--plot", "out.gif"], "--plot: unsupported file type '.gif'"),
        (["--target", "a", "--plot", "/no/such/folder/p.png"], "does not exist"),
        (["--target", "a", "--p-min", "3", "--p-max", "2"], "--p-min: must be below --p-max"),
        (["--target", "a", "--marginal-cost", "-1"], "--marginal-cost"),
    ],
)
def test_bad_options_exit_2_and_leave_no_file(market_file, tmp_path, capsys, argv, message):
    before = listing(tmp_path)
    argv = [str(tmp_path / a) if a == "out.gif" else a for a in argv]
    plot = tmp_path / "p.png"
    extra = [] if "--plot" in argv else ["--plot", str(plot)]
    assert main(["explain", market_file, *argv, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = captured.err.strip()
    assert "\n" not in line and message in line, line
    assert listing(tmp_path) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), ("{not json", "not valid JSON"), ({"format": "x"}, "format")],
)
def test_bad_market_file_exit_2_and_no_plot(tmp_path, capsys, content, message):
    path = tmp_path / "market.json"
    if content is not None:
        write(path, content)
    before = listing(tmp_path)
    plot = tmp_path / "p.png"
    assert main(["explain", str(path), "--target", "a", "--plot", str(plot)]) == 2
    captured = capsys.readouterr()
    line = captured.err.strip()
    assert "\n" not in line and message in line and str(path) in line, line
    assert listing(tmp_path) == before
