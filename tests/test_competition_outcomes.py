"""Collusion, the others' answer to a price move, comparisons and best-response maps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prillm import MarketError, solve_equilibrium
from prillm.pricing import optimal_price
from prillm.pricing.collusion import collusive_prices, joint_line, joint_profit
from prillm.pricing.competition import price_equilibrium
from prillm.pricing.game import make_game
from prillm.pricing.outcomes import best_response_map, compare_outcomes
from prillm.pricing.respond import respond_to
from prillm.synthetic import demo_market, random_market

from .competition_check import Reference


def _joint(ref: Reference, game, prices) -> float:
    full = np.array(game.at(np.asarray(prices, dtype=float)).price)
    loads, _ = ref.loads(full)
    j = list(game.players)
    return float(((full[j] - game.marginal_costs) * loads[j]).sum() / 1e6)


# ---------------------------------------------------------------- collusion
@pytest.mark.parametrize("seed", range(4))
def test_joint_line_is_the_exact_maximum_along_one_price(seed):
    rng = np.random.default_rng(seed)
    market, prefs = random_market(rng, 3, 3)
    game = make_game(market, prefs, [0, 1], [0.3, 0.0])
    ref = Reference(market, prefs)
    prices = game.start_prices()
    for k in range(2):
        p, v, _, proven = joint_line(game, prices, k)
        assert proven
        q = prices.copy()
        q[k] = p
        assert v == pytest.approx(_joint(ref, game, q), rel=1e-9)
        hi = ref.vanishing(np.array(game.at(prices).price), game.players[k])
        for x in np.linspace(0.0, hi * 1.2, 400):
            q[k] = x
            assert _joint(ref, game, q) <= v * (1 + 1e-9) + 1e-9


def test_collusion_is_coordinatewise_optimal_and_beats_the_equilibrium():
    market, prefs = demo_market()
    players = ["mid-llm", "budget-llm"]
    ne = price_equilibrium(market, prefs, players)
    cartel = collusive_prices(market, prefs, players, start=ne.prices)
    assert cartel.status == "coordinate-wise optimum"
    assert cartel.joint_profit >= ne.profits.sum() * (1 - 1e-12)
    assert np.all(np.diff(cartel.history) >= -1e-9 * abs(cartel.history[-1]))
    ref = Reference(market, prefs)
    best = _joint(ref, cartel.game, cartel.prices)
    assert cartel.joint_profit == pytest.approx(best, rel=1e-9)
    for k in range(2):  # no single price change pays (checked by the reference)
        q = cartel.prices.copy()
        for x in np.linspace(0.0, 8.0, 801):
            q[k] = x
            assert _joint(ref, cartel.game, q) <= best * (1 + 1e-7)


def test_collusion_on_the_demo_matches_a_dense_joint_grid():
    """On this two-player market the coordinate-wise optimum is also the grid's optimum."""
    market, prefs = demo_market()
    cartel = collusive_prices(market, prefs, ["mid-llm", "budget-llm"])
    ref = Reference(market, prefs)
    grid = np.linspace(0.5, 4.0, 36)
    top = max(_joint(ref, cartel.game, [a, b]) for a in grid for b in grid)
    assert cartel.joint_profit >= top * (1 - 1e-9)


def test_collusion_of_every_provider_needs_a_cap():
    market, prefs = demo_market()
    with pytest.raises(MarketError, match="without bound"):
        collusive_prices(market, prefs)
    capped = collusive_prices(market, prefs, p_bounds=(0.0, 6.0))
    # inelastic demand: no token pays more than the cap, and the cartel reaches that bound
    assert capped.joint_profit == pytest.approx(6.0 * market.demand.sum() / 1e6, rel=1e-12)
    value, _ = joint_profit(capped.game, capped.prices)
    assert value == pytest.approx(capped.joint_profit)
    for bad, match in (
        ({"max_sweeps": 0}, "max_sweeps"),
        ({"tol": 0.0}, "tol"),
        ({"start": [1.0]}, "start"),
    ):
        with pytest.raises(MarketError, match=match):
            collusive_prices(market, prefs, ["mid-llm", "budget-llm"], **bad)


# ---------------------------------------------------------------- answers to a move
def test_respond_to_holds_the_mover_and_the_others_best_respond():
    market, prefs = demo_market()
    r = respond_to(market, prefs, "budget-llm", 0.2, marginal_costs={"budget-llm": 0.05})
    assert r.others.player_ids == ("premium-llm", "mid-llm")
    assert r.others.market.price[2] == 0.2
    assert r.others.status == "converged"
    for k, pid in enumerate(r.others.player_ids):
        best = optimal_price(r.others.market, prefs, pid)
        assert r.others.prices[k] == pytest.approx(best.price, rel=1e-5)
    eq0 = solve_equilibrium(market, prefs)
    eq1 = solve_equilibrium(market.with_price("budget-llm", 0.2), prefs)
    assert r.before == pytest.approx((0.3 - 0.05) * eq0.loads[2] / 1e6)
    assert r.unanswered == pytest.approx((0.2 - 0.05) * eq1.loads[2] / 1e6)
    assert r.answered == pytest.approx((0.2 - 0.05) * r.others.equilibrium.loads[2] / 1e6)
    json.dumps(r.to_dict(), allow_nan=False)


def test_respond_to_from_the_equilibrium_is_a_price_war():
    market, prefs = demo_market()
    ne = price_equilibrium(market, prefs)
    cut = 0.8 * ne.prices[2]
    r = respond_to(ne.market, prefs, "budget-llm", cut)
    assert np.all(r.others.prices < ne.prices[:2])  # the others cut too
    assert r.answered < r.unanswered  # and the cut earns less once they have answered


@pytest.mark.parametrize(
    "args,match",
    [
        (("nope", 1.0), "mover: provider: unknown provider id"),
        (("budget-llm", -1.0), "finite and >= 0"),
        (("budget-llm", float("inf")), "finite and >= 0"),
        (("budget-llm", 9.0, {"p_bounds": {"budget-llm": (0.0, 2.0)}}), "outside its bounds"),
        (("budget-llm", 1.0, {"players": ["budget-llm"]}), "no player other than the mover"),
    ],
)
def test_respond_to_errors(args, match):
    market, prefs = demo_market()
    kwargs = args[2] if len(args) > 2 else {}
    with pytest.raises(MarketError, match=match):
        respond_to(market, prefs, args[0], args[1], **kwargs)


# ---------------------------------------------------------------- comparisons and maps
def test_compare_outcomes_tables():
    market, prefs = demo_market()
    cmp = compare_outcomes(market, prefs, ["mid-llm", "budget-llm"], {"mid-llm": 0.2})
    rows = cmp.players_table()
    assert [r["provider"] for r in rows] == ["mid-llm", "budget-llm"]
    for r in rows:
        lead = optimal_price(
            market, prefs, r["provider"], marginal_cost=0.2 if r["provider"] == "mid-llm" else 0.0
        )
        assert r["stackelberg_price"] == pytest.approx(lead.price)
        assert r["collusion_profit"] + 1e-9 >= 0
    scen = {r["scenario"]: r for r in cmp.scenarios_table()}
    ref = Reference(market, prefs)
    eq = cmp.equilibrium.equilibrium
    assert scen["price equilibrium"]["users_cost"] == pytest.approx(float(eq.user_costs.sum()))
    assert scen["price equilibrium"]["players_profit"] == pytest.approx(
        cmp.equilibrium.profits.sum()
    )
    assert scen["collusion"]["players_profit"] >= scen["price equilibrium"]["players_profit"]
    loads, _ = ref.loads(np.array(eq.market.price))
    assert scen["price equilibrium"]["users_payment"] == pytest.approx(
        float(eq.market.price @ loads / 1e6), rel=1e-9
    )
    every = compare_outcomes(market, prefs)
    assert every.collusion is None and "without bound" in every.collusion_note


def test_best_response_map_agrees_with_optimal_price_and_finds_the_jump():
    rng = np.random.default_rng(101)
    market, prefs = random_market(rng, int(rng.integers(2, 5)), 2)
    game = make_game(market, prefs)
    grid = np.linspace(5.0, 9.0, 41)
    brm = best_response_map(game, 0, 1, grid)
    for x, p in zip(grid[::8], brm.prices[::8], strict=True):
        best = optimal_price(market.with_price(1, x), prefs, 0)
        assert p == pytest.approx(best.price, rel=1e-9)
    assert brm.jumps.sum() == 1
    i = int(np.flatnonzero(brm.jumps)[0])
    assert abs(brm.prices[i] - brm.prices[i - 1]) > 10 * np.median(np.abs(np.diff(brm.prices)))
    with pytest.raises(MarketError, match="strictly increasing"):
        best_response_map(game, 0, 1, [2.0, 1.0])
    with pytest.raises(MarketError, match="must differ"):
        best_response_map(game, 0, 0, [1.0])


# ---------------------------------------------------------------- the game's inputs
@pytest.mark.parametrize("fn", [price_equilibrium, collusive_prices, compare_outcomes])
def test_game_functions_take_the_inputs_or_a_built_game(fn):
    """Positional, keyword and PricingGame calls are the same game; the signature is make_game's
    five inputs followed by the function's keyword-only options."""
    import inspect

    market, prefs = demo_market()
    players, costs, bounds = ["mid-llm", "budget-llm"], {"mid-llm": 0.1}, (0.0, 10.0)
    params = inspect.signature(fn).parameters
    assert list(params)[:5] == ["market", "prefs", "players", "marginal_costs", "p_bounds"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(params.values())[5:-1])
    by_position = fn(market, prefs, players, costs, bounds)
    by_name = fn(p_bounds=bounds, marginal_costs=costs, players=players, prefs=prefs, market=market)
    built = fn(make_game(market, prefs, players, costs, bounds))
    for other in (by_name, built):
        if fn is compare_outcomes:
            assert other.scenarios_table() == by_position.scenarios_table()
        else:
            np.testing.assert_array_equal(other.prices, by_position.prices)
            assert other.game.player_ids == ("mid-llm", "budget-llm")
    with pytest.raises(MarketError, match="players: already part of the PricingGame"):
        fn(make_game(market, prefs), None, players)
    with pytest.raises(TypeError):
        fn(market, prefs, players, costs, bounds, "extra positional")
