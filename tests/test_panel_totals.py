"""Each user's flows add up to its own demand (``DEMAND_RTOL`` of ``max(D_i, DEMAND_FLOOR)``)."""

from __future__ import annotations

import numpy as np
import pytest

from prillm import MarketError
from prillm.data import DEMAND_FLOOR, DEMAND_RTOL, Panel

BASE = {"price": [[1.0, 2.0]], "capacity": [4.0, 4.0], "latency": 0.5}


def test_a_small_users_flows_are_checked_against_its_own_demand():
    # user u1 sends 5x its demand; next to a 1e9-token user that was within 1e-6 of max D
    with pytest.raises(
        MarketError, match=r"flows\[0, 1\]: user 'u1' sends 500\.0 tokens .* 100\.0"
    ):
        Panel(**BASE, demand=[[1e9, 100.0]], flows=[[[5e8, 5e8], [250.0, 250.0]]])


def test_exact_flows_are_checked_per_user_too():
    flows = [[[5e8, 5e8], [50.0, 50.0]]]
    with pytest.raises(MarketError, match=r"exact_flows\[0, 1\]: user 'u1'"):
        Panel(
            **BASE, demand=[[1e9, 100.0]], flows=flows, exact_flows=[[[5e8, 5e8], [250.0, 250.0]]]
        )


def test_the_tolerance_is_relative_to_the_users_demand_with_an_absolute_floor():
    for d in (1e9, 100.0, 0.25):  # 0.25 tokens: below the floor, the gap is measured in tokens
        scale = max(d, DEMAND_FLOOR)
        ok = d + 0.5 * DEMAND_RTOL * scale
        Panel(**BASE, demand=[[1e9, d]], flows=[[[5e8, 5e8], [ok / 2, ok / 2]]])
        bad = d + 2.0 * DEMAND_RTOL * scale
        with pytest.raises(MarketError, match=r"flows\[0, 1\]"):
            Panel(**BASE, demand=[[1e9, d]], flows=[[[5e8, 5e8], [bad / 2, bad / 2]]])


def test_noisy_flow_totals_keep_their_meaning():
    """Observed flows with noise may miss the demand (the shipped planted panel's mode)."""
    pnl = Panel(
        **BASE,
        demand=[[1e9, 100.0]],
        flows=[[[5e8, 5e8], [250.0, 250.0]]],
        flow_totals="noisy",
        exact_flows=[[[5e8, 5e8], [50.0, 50.0]]],
    )
    assert pnl.flow_totals == "noisy"
    assert np.allclose(pnl.exact_flows.sum(axis=2), pnl.demand)
    with pytest.raises(MarketError, match="no demand"):  # but no flow without demand
        Panel(**BASE, demand=[[1e9, 0.0]], flows=[[[5e8, 5e8], [1.0, 0.0]]], flow_totals="noisy")
