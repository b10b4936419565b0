"""A user without demand next to near-linear costs: the accurate refinement's path."""

from __future__ import annotations

import numpy as np

from prillm.equilibrium.active_set import ACCURATE_FROM, solve_active_set


def test_zero_demand_user_with_accurate_refinement():
    cost = np.array([[1.0, 1.0 + 1e-9], [0.5, 2.0], [2.0, 1.0]])
    demand = np.array([1e6, 0.0, 2e6])
    slope = np.full(2, 1.0 / (1e3 * ACCURATE_FROM * demand.max()))  # capacities dwarf demand
    res = solve_active_set(cost, slope, demand)
    assert res.flows.shape == (3, 2)
    assert np.all(res.flows[1] == 0.0)
    np.testing.assert_allclose(res.flows.sum(axis=1), demand, rtol=1e-12)
    # the others as if the idle user were not there
    alone = solve_active_set(cost[[0, 2]], slope, demand[[0, 2]])
    np.testing.assert_allclose(res.flows[[0, 2]], alone.flows, rtol=1e-12, atol=1e-6)
