"""PriLLM's pipeline: ``optimal_price(method="prillm")``, the command line, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import prillm.cli
from prillm import Market, MarketError, Preferences, optimal_price, solve_equilibrium
from prillm.abstraction import abstract, build_scenarios, load_weights
from prillm.pricing import METHODS

from .markets import random_market


@pytest.fixture(scope="module")
def scenario():
    return build_scenarios(3, seed=0, families=["Economy"])[0]


def test_prillm_is_a_registered_pricing_method() -> None:
    from prillm.abstraction import method

    assert METHODS["prillm"]() is method.solve


def test_prillm_pipeline_through_optimal_price(scenario) -> None:
    sc = scenario
    res = optimal_price(sc.market, sc.prefs, sc.target, method="prillm")
    ex = optimal_price(sc.market, sc.prefs, sc.target)
    assert res.method == "prillm" and res.p_max == ex.p_max
    raw = res.diagnostics["raw_price"]  # the pipeline's own answer, before any bound
    assert 0 <= raw <= res.p_max, raw
    assert res.diagnostics["clamped"] is False and res.price == raw
    # the profit is evaluated in the true game, and cannot beat the certified optimum
    eq = solve_equilibrium(sc.market.with_price(sc.target, res.price), sc.prefs)
    s = sc.market.provider_index(sc.target)
    assert res.profit == pytest.approx(res.price * eq.loads[s] / 1e6, rel=1e-12)
    assert res.profit <= ex.profit * (1 + 1e-9)
    d = res.diagnostics
    ab = d["abstraction"]
    assert ab["method"] == "da" and ab["K"] == 2 and len(ab["kept"]) == 1
    assert len(ab["merged"]) == sc.n_rivals - 1 and set(ab["score_avg"]) == set(
        ab["kept"] + ab["merged"]
    )
    assert d["solver"] == "spiter" and ab["abstract_shape"] == [sc.market.n_users, 3]
    assert np.isfinite(d["abstract_profit"]) and d["abstract_price"] == res.price
    json.dumps(res.to_dict())  # the diagnostics are JSON-able


def test_prillm_with_another_solver_and_baselines(scenario) -> None:
    sc = scenario
    a = optimal_price(sc.market, sc.prefs, sc.target, method="prillm", K=3, solver="exact")
    assert a.diagnostics["solver_diagnostics"]["n_breakpoints"] >= 0
    assert len(a.diagnostics["abstraction"]["kept"]) == 2
    b = optimal_price(sc.market, sc.prefs, sc.target, method="prillm", abstraction="min")
    assert b.diagnostics["abstraction"]["score_avg"] is None
    assert len(b.diagnostics["abstraction"]["dropped"]) == sc.n_rivals - 2


def test_k_at_least_the_rivals_solves_the_true_game_and_says_so() -> None:
    market, prefs = random_market(np.random.default_rng(2), 3, 3)
    res = optimal_price(market, prefs, 0, method="prillm", K=2, solver="exact")
    ex = optimal_price(market, prefs, 0)
    assert res.diagnostics["abstraction"]["identity"] is True
    assert "identity" in res.diagnostics["abstraction"]["note"]
    assert res.profit == pytest.approx(ex.profit, rel=1e-12)


@pytest.mark.parametrize(
    ("opts", "match"),
    [
        ({"K": 0}, "K: expected an integer >= 1"),
        ({"solver": "prillm"}, "solver: unknown pricing method 'prillm'"),
        ({"solver": "magic"}, "solver: unknown pricing method 'magic'"),
        ({"abstraction": "median"}, "abstraction: unknown method 'median'"),
    ],
)
def test_bad_options_are_clear_errors(opts: dict, match: str) -> None:
    market, prefs = random_market(np.random.default_rng(2), 3, 4)
    with pytest.raises(MarketError, match=match):
        optimal_price(market, prefs, 0, method="prillm", **opts)


def test_no_rivals_and_unknown_target_are_refused() -> None:
    alone = Market(demand=[1e6], price=[1.0], capacity=[1e6], provider_ids=["s"])
    with pytest.raises(MarketError, match="no rivals"):
        optimal_price(alone, Preferences(), "s", method="prillm")
    market, prefs = random_market(np.random.default_rng(2), 3, 4)
    with pytest.raises(MarketError, match="unknown provider id 'zz'"):
        optimal_price(market, prefs, "zz", method="prillm")


def test_weights_for_another_feature_set_are_refused(tmp_path) -> None:
    from prillm.abstraction.weights import SHIPPED_WEIGHTS

    data = torch.load(SHIPPED_WEIGHTS, weights_only=True)
    data["feature_spec"] = {"version": 1, "names": ["price", "capacity"]}
    torch.save(data, tmp_path / "old.pt")
    market, prefs = random_market(np.random.default_rng(2), 3, 4)
    with pytest.raises(MarketError, match=r"old\.pt: trained on another feature set"):
        optimal_price(market, prefs, 0, method="prillm", weights=str(tmp_path / "old.pt"))
    net = load_weights()
    ab = abstract(market, prefs, 0, K=1, weights=net)
    assert ab.market.n_providers == 2


# ------------------------------------------------------------------ the command line
def _main(argv: list[str]) -> int:
    return prillm.cli.main(argv)


def test_price_command_with_the_prillm_method(tmp_path, capsys, scenario) -> None:
    path = tmp_path / "market.json"
    scenario.market.to_json(path, preferences=scenario.prefs)
    status = _main(
        ["price", str(path), "--target", scenario.target, "--method", "prillm", "--json"]
    )
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "prillm" and out["diagnostics"]["abstraction"]["K"] == 2
    assert out["profit_usd"] > 0


def test_train_abstraction_command_writes_weights_and_curve(tmp_path, capsys) -> None:
    out = tmp_path / "w.pt"
    argv = ["train-abstraction", "--quick", "--scenarios", "60", "--epochs", "1", "--quiet"]
    status = _main([*argv, "--out", str(out), "--seed", "3", "--json"])
    assert status == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["scenarios"] == 60 and summary["epochs"] == 1 and summary["seed"] == 3
    net = load_weights(out)
    assert net.meta["seed"] == 3 and net.meta["quick"] is True
    assert (tmp_path / "w.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--epochs", "0"], "--epochs"),
        (["--scenarios", "10"], "--scenarios"),
        (["--seed", "-2"], "--seed"),
    ],
)
def test_train_abstraction_rejects_bad_options(tmp_path, capsys, argv, match) -> None:
    out = tmp_path / "w.pt"
    assert _main(["train-abstraction", "--quick", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "w.png").exists()


def test_train_abstraction_rejects_bad_paths(tmp_path, capsys) -> None:
    for out in (tmp_path / "missing" / "w.pt", tmp_path / "w.txt", tmp_path):
        assert _main(["train-abstraction", "--quick", "--out", str(out)]) == 2
        assert "--out" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_min_on_an_economy_8_market_why_it_scores_what_it_scores() -> None:
    """Literal MIN (all demand kept) prices at p_max, where the true profit is zero."""
    from prillm.abstraction.curves import curve_from_pieces
    from prillm.pricing.exact import price_path
    from prillm.pricing.problem import make_problem

    sc = build_scenarios(2, seed=0, families=["Economy-8"])[0]
    prob = make_problem(sc.market, sc.prefs, sc.target, None, 0.0, 0.0)
    path = price_path(prob)
    best = path["best"][1]
    rivals = [p for p in sc.market.provider_ids if p != sc.target]
    cheapest = sorted(rivals, key=lambda p: sc.market.price[sc.market.provider_index(p)])[:2]
    shares = {}
    for how in ("all", "served"):
        ab = abstract(sc.market, sc.prefs, sc.target, K=2, method="min", min_demand=how)
        assert set(ab.kept) == set(cheapest)
        sub = price_path(make_problem(ab.market, ab.prefs, ab.target, prob.p_max, 0.0, 0.0))
        p_hat = float(sub["best"][0])
        shares[how] = (p_hat, float(curve_from_pieces(path["pieces"], np.array([p_hat]))[0]))
    assert shares["all"][0] == pytest.approx(prob.p_max, rel=1e-9)  # the top of the range
    assert shares["all"][1] <= 1e-9 * best  # where the target has lost its last user
    assert shares["served"][1] > 0.05 * best


def test_timing_records_compare_every_pipeline_on_the_same_market() -> None:
    from prillm.abstraction.evaluation import PIPELINES, timing_records, timing_summary

    net = load_weights()
    rows = timing_records([(5, 8), (6, 4)], n_markets=2, seed=1, weights=net, repeats=2)
    assert len(rows) == 2 * 2 * len(PIPELINES)
    for r in rows:
        assert r["time_s"] > 0 and r["share"] <= 1 + 1e-9 and r["share"] > 0
        if r["pipeline"] == "exact":
            assert r["share"] == 1.0 and r["time_over_exact"] == 1.0
        else:
            ex = next(
                e
                for e in rows
                if e["pipeline"] == "exact"
                and (e["users"], e["providers"], e["market"])
                == (r["users"], r["providers"], r["market"])
            )
            assert r["time_over_exact"] == pytest.approx(r["time_s"] / ex["time_s"], rel=1e-12)
        assert (r["abstraction_time_s"] > 0) == r["pipeline"].startswith("da+")
    again = timing_records([(5, 8), (6, 4)], n_markets=2, seed=1, weights=net)
    assert [r["share"] for r in again] == pytest.approx([r["share"] for r in rows], rel=1e-9)
    summary = timing_summary(rows)
    assert [(s["users"], s["providers"], s["pipeline"]) for s in summary][:4] == [
        (5, 8, p) for p in PIPELINES
    ]
    assert all(s["markets"] == 2 for s in summary)
    with pytest.raises(ValueError, match="pipelines: unknown"):
        timing_records([(3, 3)], pipelines=["brute"])
    with pytest.raises(ValueError, match="repeats: expected a positive integer"):
        timing_records([(3, 3)], repeats=0)
