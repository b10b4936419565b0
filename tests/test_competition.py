"""The pricing game among providers: equilibria checked independently, certificates, cycles."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from prillm import Market, MarketError, Preferences
from prillm.pricing import optimal_price
from prillm.pricing.best_response import best_response, profit_peaks
from prillm.pricing.competition import price_equilibrium
from prillm.pricing.exact import price_path
from prillm.pricing.game import make_game
from prillm.pricing.nash import nash_certificate
from prillm.pricing.problem import make_problem
from prillm.synthetic import demo_market, random_market

from .competition_check import Reference
from .markets import markets

#: Independent check: no grid price beats a returned equilibrium by more than this, relative.
CHECK_REL = 1e-7


def _cycling_duopoly() -> tuple[Market, Preferences]:
    """Two users, two providers: best responses cycle (found by a seed search)."""
    rng = np.random.default_rng(101)
    n = int(rng.integers(2, 5))
    return random_market(rng, n, 2)


def _independent_gains(res, ref: Reference, n: int = 240) -> np.ndarray:
    """Each player's best-response gain at the returned prices, by the reference alone.

    The grid's best price competes with the library's claimed best response evaluated by the
    reference solver (so a narrow peak the grid misses still counts, but only at the value the
    reference gives it).
    """
    game = res.game
    price = np.array(res.market.price)
    gains = []
    for k, j in enumerate(game.players):
        hi = None if not math.isfinite(game.upper[k]) else float(game.upper[k])
        _, best = ref.best_response(
            price,
            j,
            float(game.marginal_costs[k]),
            float(game.lower[k]),
            hi,
            n=n,
            extra=(float(res.certificate.best_prices[k]),),
        )
        gains.append(best - ref.profit(price, j, float(game.marginal_costs[k])))
    return np.array(gains)


# ---------------------------------------------------------------- correctness
CASES = [
    ("demo", *demo_market(), None, None),
    ("demo-costs", *demo_market(), {"premium-llm": 1.0, "budget-llm": 0.1}, None),
    ("demo-bounds", *demo_market(), None, {"premium-llm": (3.5, 4.0), "mid-llm": (0.5, None)}),
]
for _seed, (_n, _m) in enumerate([(1, 2), (2, 2), (3, 3), (4, 4), (2, 4), (4, 3), (3, 2)]):
    CASES.append(
        (f"random-{_n}x{_m}", *random_market(np.random.default_rng(_seed), _n, _m), None, None)
    )


@pytest.mark.parametrize("name,market,prefs,costs,bounds", CASES, ids=[c[0] for c in CASES])
def test_every_equilibrium_passes_an_independent_check(name, market, prefs, costs, bounds):
    res = price_equilibrium(market, prefs, marginal_costs=costs, p_bounds=bounds)
    ref = Reference(market, prefs)
    price = np.array(res.market.price)
    own = np.array(
        [
            ref.profit(price, j, float(res.game.marginal_costs[k]))
            for k, j in enumerate(res.game.players)
        ]
    )
    scale = np.maximum(np.abs(own), 1e-12 * max(1.0, float(np.abs(own).max())))
    np.testing.assert_allclose(res.profits, own, rtol=1e-9, atol=1e-9 * float(np.abs(own).max()))
    gains = _independent_gains(res, ref)
    if res.status == "converged":
        assert np.all(gains <= CHECK_REL * scale), (name, gains / scale)
    else:  # honest: a non-equilibrium really is one
        assert gains.max() > res.tol * scale.max() * 0.5, (name, res.status, gains)
    assert np.all(res.prices >= res.game.lower) and np.all(res.prices <= res.game.upper)


def test_the_independent_check_flags_the_list_prices():
    """The check has teeth: at the demo's list prices every player gains by moving."""
    market, prefs = demo_market()
    cert, _ = nash_certificate(make_game(market, prefs), market.price)
    ref = Reference(market, prefs)
    price = np.array(market.price)
    for j in range(3):
        _, best = ref.best_response(price, j)
        here = ref.profit(price, j)
        assert best > 1.005 * here
        assert best - here == pytest.approx(cert.epsilon[j], rel=1e-7)


def test_most_small_random_markets_converge_and_none_is_mislabelled():
    statuses = []
    for seed in range(8):
        rng = np.random.default_rng(1000 + seed)
        market, prefs = random_market(rng, int(rng.integers(2, 4)), int(rng.integers(2, 4)))
        res = price_equilibrium(market, prefs, max_rounds=60)
        statuses.append(res.status)
        if res.status == "converged":
            assert res.epsilon_relative <= res.tol
        else:
            assert res.epsilon_relative > res.tol
    assert statuses.count("converged") >= 5, statuses


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(mk=markets(max_users=4, max_providers=4), data=st.data())
def test_reported_epsilon_equals_the_independent_one(mk, data):
    market, prefs = mk
    assume(market.n_providers >= 2 and market.demand.max() > 0)
    method = data.draw(st.sampled_from(["gauss-seidel", "jacobi"]))
    rounds = data.draw(st.integers(1, 12))
    res = price_equilibrium(market, prefs, method=method, max_rounds=rounds)
    ref = Reference(market, prefs)
    gains = _independent_gains(res, ref, n=160)
    price = np.array(res.market.price)
    own = np.array([ref.profit(price, j) for j in res.game.players])
    top = max(float(np.abs(own).max()), float(np.abs(res.certificate.best_profits).max()))
    tol = CHECK_REL * max(top, 1e-300)
    # the reported epsilon (the exact best-response gain) is what the reference finds
    np.testing.assert_allclose(res.certificate.epsilon, np.maximum(gains, 0.0), rtol=0, atol=tol)
    if res.status == "converged":
        assert res.epsilon_relative <= res.tol
    assert res.status in ("converged", "cycle", "not_converged")
    json.dumps(res.to_dict(), allow_nan=False)


def test_pruned_best_responses_equal_the_full_path_and_optimal_price():
    followed = [0, 0]
    for seed in range(25):
        rng = np.random.default_rng(seed)
        market, prefs = random_market(rng, int(rng.integers(2, 7)), int(rng.integers(2, 7)))
        costs = list(rng.uniform(0.0, 2.0, market.n_providers))
        game = make_game(market, prefs, marginal_costs=costs)
        prices = game.clip(rng.uniform(0.5, 15.0, game.n_players))
        for k in range(game.n_players):
            pruned = best_response(game, prices, k)
            full = best_response(game, prices, k, prune=False)
            ref = optimal_price(game.at(prices), prefs, k, marginal_cost=costs[k])
            tol = 1e-9 * max(abs(ref.profit), 1e-300)
            assert abs(pruned.profit - ref.profit) <= tol and abs(full.profit - ref.profit) <= tol
            followed[0] += pruned.n_pieces
            followed[1] += full.n_pieces
    assert followed[0] < followed[1]  # pruning follows fewer pieces overall


def test_profit_peaks_match_a_dense_evaluation_of_the_path():
    market, prefs = _cycling_duopoly()
    game = make_game(market, prefs)
    res = price_equilibrium(market, prefs)
    two = False
    for prices in res.cycle.prices:
        for k in range(2):
            prob = make_problem(game.at(prices), prefs, k, None, 0.0, 0.0)
            pieces = price_path(prob)["pieces"]
            peaks = profit_peaks(pieces, 0.0)
            grid = np.linspace(prob.p_min, prob.p_max, 20001)
            ref = Reference(market, prefs)
            full = np.array(game.at(prices).price)
            vals = []
            for x in grid[::50]:
                full[k] = x
                vals.append(ref.profit(full, k))
            vals = np.array(vals)
            local = [
                i
                for i in range(1, len(vals) - 1)
                if vals[i] > vals[i - 1] and vals[i] >= vals[i + 1]
            ]
            assert len(peaks) == len(local), (peaks, grid[::50][local])
            two |= len(peaks) >= 2
    assert two  # the cycle comes with a two-peak profit


# ---------------------------------------------------------------- cycles
def test_a_cycle_is_detected_and_really_is_periodic():
    market, prefs = _cycling_duopoly()
    res = price_equilibrium(market, prefs, max_rounds=100)
    assert res.status == "cycle" and res.cycle is not None
    assert res.cycle.period == 2 and res.cycle.kind == "jump" and res.cycle.jumps
    assert res.epsilon_relative > 1e-3
    # replay the orbit with optimal_price (Gauss-Seidel by hand): it returns where it started
    orbit = res.cycle.prices
    p = orbit[0].copy()
    for t in range(1, res.cycle.period + 1):
        for k in range(2):
            mkt = market.replace(price=p)
            p[k] = optimal_price(mkt, prefs, k).price
        np.testing.assert_allclose(p, orbit[t % res.cycle.period], rtol=1e-8)
    assert "cycle" in res.reason and "period 2" in res.reason


def test_damping_and_jacobi_do_not_rescue_the_cycling_duopoly():
    market, prefs = _cycling_duopoly()
    for method, damping in (("jacobi", 1.0), ("gauss-seidel", 0.5)):
        res = price_equilibrium(market, prefs, method=method, damping=damping, max_rounds=150)
        assert res.status != "converged"
        assert res.epsilon_relative > res.tol


def test_jacobi_and_damping_reach_the_same_equilibrium_on_the_demo():
    market, prefs = demo_market()
    base = price_equilibrium(market, prefs)
    for method, damping in (("jacobi", 1.0), ("jacobi", 0.7), ("gauss-seidel", 0.5)):
        res = price_equilibrium(market, prefs, method=method, damping=damping, max_rounds=300)
        assert res.status == "converged", (method, damping, res.reason)
        np.testing.assert_allclose(res.prices, base.prices, rtol=1e-4)


def test_history_and_steps_are_consistent():
    market, prefs = demo_market()
    res = price_equilibrium(market, prefs)
    assert res.history.shape == (res.n_rounds + 1, 3)
    np.testing.assert_allclose(res.history[0], market.price)
    np.testing.assert_array_equal(res.history[-1], res.prices)
    assert len(res.steps) == 3 * res.n_rounds
    assert res.n_best_responses == len(res.steps) + 3  # plus the certificate's
    last = {s["player"]: s["to"] for s in res.steps}
    assert [last[p] for p in res.player_ids] == res.prices.tolist()


def test_certificate_of_any_profile_matches_optimal_price():
    market, prefs = demo_market()
    game = make_game(market, prefs, ["premium-llm", "budget-llm"], [0.5, 0.05])
    cert, eq = nash_certificate(game, [2.0, 0.7])
    for k, pid in enumerate(game.player_ids):
        mkt = game.at(cert.prices)
        best = optimal_price(mkt, prefs, pid, marginal_cost=[0.5, 0.05][k])
        assert cert.best_profits[k] == pytest.approx(best.profit, rel=1e-9)
        here = (cert.prices[k] - [0.5, 0.05][k]) * eq.loads[game.players[k]] / 1e6
        assert cert.profits[k] == pytest.approx(here, rel=1e-12)
    assert cert.max_relative == pytest.approx(float(cert.relative.max()))
    assert json.dumps(cert.to_dict(), allow_nan=False)


# ---------------------------------------------------------------- inputs
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"players": ["nope"]}, "players: unknown provider id 'nope'"),
        ({"players": ["mid-llm", "mid-llm"]}, "'mid-llm' is listed twice"),
        ({"players": []}, "at least one player"),
        ({"players": [7]}, "out of range"),
        ({"marginal_costs": {"nope": 1.0}}, "marginal_costs: unknown provider id 'nope'"),
        ({"marginal_costs": {"mid-llm": -1.0}}, r"marginal_costs\['mid-llm'\]: must be >= 0"),
        ({"marginal_costs": {"mid-llm": float("nan")}}, "must be finite"),
        ({"marginal_costs": [1.0]}, "expected 3 values"),
        ({"players": ["mid-llm"], "marginal_costs": {"budget-llm": 1.0}}, "is not a player"),
        ({"p_bounds": (2.0, 1.0)}, "exclude every price"),
        ({"p_bounds": (1.0, 1.0)}, "exclude every price"),
        ({"p_bounds": (-1.0, None)}, "lower bound must be >= 0"),
        ({"p_bounds": {"mid-llm": "cheap"}}, "expected a pair"),
        ({"p_bounds": {"mid-llm": (0.0, "x")}}, "upper bound"),
        ({"method": "newton"}, "method: expected one of"),
        ({"damping": 0.0}, "damping"),
        ({"damping": 1.5}, "damping"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"max_rounds": 2.5}, "max_rounds"),
        ({"tol": -1.0}, "tol"),
        ({"start": [1.0]}, "start: expected 3 prices"),
        ({"start": {"mid-llm": -2.0}}, "finite and >= 0"),
        ({"start": {"nope": 1.0}}, "unknown provider id"),
    ],
)
def test_bad_inputs_are_clear_errors(kwargs, match):
    market, prefs = demo_market()
    with pytest.raises(MarketError, match=match):
        price_equilibrium(market, prefs, **kwargs)


def test_a_monopolist_needs_an_upper_bound():
    market = Market(demand=[1e6], price=[1.0], capacity=[1e6], provider_ids=["only"])
    with pytest.raises(MarketError, match="only provider"):
        price_equilibrium(market, Preferences(w_q=1.0, w_d=0.0))
    res = price_equilibrium(market, Preferences(w_q=1.0, w_d=0.0), p_bounds=(0.0, 5.0))
    assert res.status == "converged" and res.prices[0] == pytest.approx(5.0)


def test_start_prices_and_subset_of_players():
    market, prefs = demo_market()
    res = price_equilibrium(market, prefs, ["mid-llm", "budget-llm"], start={"mid-llm": 2.0})
    assert res.history[0].tolist() == [2.0, 0.3]
    assert res.market.price[0] == market.price[0]  # the non-player keeps its price
    assert res.status == "converged"
