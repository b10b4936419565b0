"""Prices to evaluate at must lie within the bounds; a start outside them is clipped and recorded.

A price at which something is *evaluated* (a Nash certificate's profile, a best-response map's
other prices) outside the players' bounds is an error naming the field, the value and the
bound. A *starting point* outside the bounds is clipped to them, and the result says so: a
``start_clipped`` record (what was given, what was used) and a clause in ``reason``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from prillm import MarketError
from prillm.pricing import optimal_price
from prillm.pricing.collusion import collusive_prices
from prillm.pricing.competition import price_equilibrium
from prillm.pricing.game import make_game
from prillm.pricing.nash import nash_certificate
from prillm.pricing.outcomes import best_response_map
from prillm.synthetic import demo_market

BOUNDS = (0.5, 2.0)


def _game():
    market, prefs = demo_market()
    return make_game(market, prefs, p_bounds=BOUNDS)


# ---------------------------------------------------------------- prices to evaluate at
@pytest.mark.parametrize(
    "prices, match",
    [
        ([10.0, 1.0, 1.0], r"prices\['premium-llm'\]: 10\.0 is outside .*\[0\.5, 2\]"),
        ([1.0, 1.0, 0.1], r"prices\['budget-llm'\]: 0\.1 is outside .*\[0\.5, 2\]"),
        ([1.0, 1.0], r"prices: expected 3 prices \(one per player\), got 2"),
        ([1.0, math.nan, 1.0], r"prices\['mid-llm'\]: a price must be finite"),
    ],
)
def test_nash_certificate_refuses_prices_outside_the_bounds(prices, match):
    with pytest.raises(MarketError, match=match):
        nash_certificate(_game(), prices)


def test_nash_certificate_at_the_bounds_is_accepted():
    cert, _ = nash_certificate(_game(), [2.0, 0.5, 2.0])
    assert cert.prices.tolist() == [2.0, 0.5, 2.0]


def test_best_response_map_refuses_other_prices_outside_the_bounds():
    game = _game()
    with pytest.raises(MarketError, match=r"prices\['premium-llm'\]: 10\.0 is outside"):
        best_response_map(game, "budget-llm", "mid-llm", [1.0, 2.0], prices=[10.0, 1.0, 1.0])
    # the other's own entry is replaced by the grid, so it is not checked
    m = best_response_map(game, "budget-llm", "mid-llm", [1.0, 2.0], prices=[1.5, 99.0, 1.0])
    assert m.grid.tolist() == [1.0, 2.0]
    assert m.held == {"premium-llm": 1.5, "budget-llm": 1.0} and m.start_clipped is None


def test_best_response_map_records_the_clipped_list_prices_by_default():
    game = _game()  # list prices 3.0, 0.8, 0.3 against the bounds [0.5, 2]
    m = best_response_map(game, "budget-llm", "mid-llm", [1.0, 2.0])
    assert m.start_clipped == {
        "given": {"premium-llm": 3.0, "budget-llm": 0.3},
        "used": {"premium-llm": 2.0, "budget-llm": 0.5},
    }
    assert m.held == {"premium-llm": 2.0, "budget-llm": 0.5}
    # the varied player's list price is replaced by the grid: its clip is not a clip of the map
    m = best_response_map(game, "mid-llm", "premium-llm", [1.0, 2.0])
    assert m.start_clipped == {"given": {"budget-llm": 0.3}, "used": {"budget-llm": 0.5}}
    assert m.held == {"mid-llm": 0.8, "budget-llm": 0.5}
    # the same map at the held prices given explicitly
    again = best_response_map(game, "mid-llm", "premium-llm", [1.0, 2.0], prices=[1.0, 0.8, 0.5])
    assert again.prices.tolist() == m.prices.tolist() and again.start_clipped is None


# ---------------------------------------------------------------- starts
def test_price_equilibrium_records_a_clipped_start():
    market, prefs = demo_market()
    res = price_equilibrium(market, prefs, p_bounds=BOUNDS, start=[10.0, 1.0, 10.0])
    assert res.history[0].tolist() == [2.0, 1.0, 2.0]
    assert res.start_clipped == {
        "given": {"premium-llm": 10.0, "budget-llm": 10.0},
        "used": {"premium-llm": 2.0, "budget-llm": 2.0},
    }
    assert "start was clipped to the bounds" in res.reason
    assert "'premium-llm' 10 -> 2" in res.reason
    assert json.loads(json.dumps(res.to_dict()))["start_clipped"] == res.start_clipped


def test_price_equilibrium_records_the_clipped_list_prices_by_default():
    market, prefs = demo_market()  # list prices 3.0, 0.8, 0.3
    res = price_equilibrium(market, prefs, p_bounds=BOUNDS)
    assert res.start_clipped == {
        "given": {"premium-llm": 3.0, "budget-llm": 0.3},
        "used": {"premium-llm": 2.0, "budget-llm": 0.5},
    }
    assert "start was clipped" in res.reason


def test_a_start_within_the_bounds_is_not_recorded():
    market, prefs = demo_market()
    res = price_equilibrium(market, prefs, p_bounds=BOUNDS, start=[1.0, 1.0, 1.0])
    assert res.start_clipped is None and "clipped" not in res.reason
    assert res.to_dict()["start_clipped"] is None
    res = price_equilibrium(market, prefs)  # no bounds: the list prices are the start
    assert res.start_clipped is None


def test_collusive_prices_records_a_clipped_start():
    market, prefs = demo_market()
    players = ["mid-llm", "budget-llm"]
    res = collusive_prices(market, prefs, players, p_bounds=BOUNDS, start=[10.0, 0.0])
    assert res.start_clipped == {
        "given": {"mid-llm": 10.0, "budget-llm": 0.0},
        "used": {"mid-llm": 2.0, "budget-llm": 0.5},
    }
    assert "start was clipped to the bounds" in res.reason
    assert json.loads(json.dumps(res.to_dict()))["start_clipped"] == res.start_clipped
    inside = collusive_prices(market, prefs, players, p_bounds=BOUNDS, start=[1.0, 1.0])
    assert inside.start_clipped is None and "clipped" not in inside.reason


def test_collusive_prices_refuses_a_negative_start():
    market, prefs = demo_market()
    with pytest.raises(MarketError, match=r"start\['mid-llm'\]: a price must be finite and >= 0"):
        collusive_prices(market, prefs, ["mid-llm", "budget-llm"], start=[-1.0, 1.0])


@pytest.mark.parametrize("method", ["smooth", "pmpec"])
def test_optimal_price_records_a_clipped_start_price(method):
    pytest.importorskip("pyomo")
    market, prefs = demo_market()
    res = optimal_price(market, prefs, "mid-llm", method=method, p_max=1.86, start_price=1e5)
    assert res.diagnostics["start_clipped"] == {"given": 1e5, "used": 1.86}
    assert res.diagnostics["start_price"] == 1.86
    assert "start price 100000 is outside [0, 1.86]" in res.reason
    inside = optimal_price(market, prefs, "mid-llm", method=method, p_max=1.86, start_price=1.0)
    assert "start_clipped" not in inside.diagnostics and "is outside" not in inside.reason


@pytest.mark.parametrize("bad", [math.nan, -1.0, "cheap"])
def test_optimal_price_refuses_a_start_price_that_is_no_price(bad):
    pytest.importorskip("pyomo")
    market, prefs = demo_market()
    with pytest.raises(MarketError, match="start_price"):
        optimal_price(market, prefs, "mid-llm", method="smooth", start_price=bad)


def test_dynamics_stay_within_the_bounds():
    """Damped steps between prices within the bounds stay within them (no round-off escape)."""
    market, prefs = demo_market()
    for damping in (0.3, 0.7, 1.0):
        res = price_equilibrium(market, prefs, p_bounds=BOUNDS, damping=damping, max_rounds=30)
        lo, hi = np.array(res.game.lower), np.array(res.game.upper)
        assert np.all(res.history >= lo) and np.all(res.history <= hi)
