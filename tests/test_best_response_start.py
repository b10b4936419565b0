"""``best_response_dynamics(start=...)``: the start's rows must carry the users' demands."""

from __future__ import annotations

import numpy as np
import pytest

from prillm import Market, MarketError, Preferences
from prillm.equilibrium import best_response_dynamics
from prillm.equilibrium.model import START_ROW_TOL

MARKET = Market(demand=[1e6, 2e6, 0.0], price=[1.0, 2.0], capacity=[1e6, 1e6])
PREFS = Preferences(w_d=0.0)


def test_a_start_whose_row_misses_its_demand_is_refused_naming_the_user():
    start = np.array([[5e5, 5e5], [1e6, 5e5], [0.0, 0.0]])  # user 1 carries 1.5e6 of 2e6
    with pytest.raises(MarketError, match=r"start: row 1 sums to 1\.5e\+06, not the demand 2e\+06"):
        best_response_dynamics(MARKET, PREFS, start, rounds=1)


def test_a_zero_demand_user_must_start_with_no_flow():
    start = np.array([[5e5, 5e5], [1e6, 1e6], [1.0, 0.0]])
    with pytest.raises(MarketError, match=r"start: row 2 sums to 1, not the demand 0"):
        best_response_dynamics(MARKET, PREFS, start, rounds=1)


def test_round_off_within_the_stated_tolerance_is_accepted():
    start = np.array([[5e5, 5e5], [1e6, 1e6], [0.0, 0.0]])
    start[1, 0] += 0.5 * START_ROW_TOL * 2e6
    traj = best_response_dynamics(MARKET, PREFS, start, rounds=2)
    np.testing.assert_array_equal(traj.flows[0], start)  # the start as given
    start[1, 0] += 2 * START_ROW_TOL * 2e6
    with pytest.raises(MarketError, match="row 1"):
        best_response_dynamics(MARKET, PREFS, start, rounds=2)
