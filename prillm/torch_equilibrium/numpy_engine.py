"""The bridge to the numpy engine: exact supports one market at a time, and its adjoint solve.

The single-market paths (:mod:`~prillm.torch_equilibrium.coefficients`,
:mod:`~prillm.torch_equilibrium.flows`) find every support with
:func:`prillm.equilibrium.solve_active_set` and differentiate with the engine's own fixed-support
kernel :func:`prillm.equilibrium.solve_support`; the batched equilibrium hands the rare market it
cannot settle to the same engine.
"""

from __future__ import annotations

import numpy as np

from prillm.equilibrium import solve_active_set, solve_support

__all__ = ["find_supports", "numpy_adjoint", "numpy_scales"]


def numpy_scales(cost: np.ndarray, slope: np.ndarray, demand: np.ndarray) -> tuple[float, float]:
    """Flow and cost scales of one market, the rule of :func:`prillm.equilibrium.solve_active_set`.

    Flows are scaled by ``max D`` (1 without demand), costs by ``max(max |c|, max k * sum D)``.
    """
    d_max = float(demand.max()) if demand.size else 0.0
    d_scale = d_max if d_max > 0 else 1.0
    c_scale = max(float(np.abs(cost).max()), float(slope.max() * demand.sum()), 1e-300)
    return d_scale, c_scale


def find_supports(
    cost: np.ndarray, slope: np.ndarray, demand: np.ndarray, warm: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact equilibria by the numpy engine, one market at a time: supports and flows.

    A user without demand gets the route of its cheapest first token as support (so that the
    gradient in its demand is the right derivative).
    """
    batch, n, m = cost.shape
    out = np.zeros((batch, n, m), bool)
    flows = np.zeros((batch, n, m))
    for t in range(batch):
        res = solve_active_set(cost[t], slope[t], demand[t], None if warm is None else warm[t])
        s = res.support.copy()
        empty = ~s.any(axis=1)
        if empty.any():
            marginal = cost[t][empty] + slope[t][None, :] * res.loads[None, :]
            s[np.flatnonzero(empty), np.argmin(marginal, axis=1)] = True
        out[t] = s
        flows[t] = res.flows
    return out, flows


def numpy_adjoint(
    cost: np.ndarray,
    slope: np.ndarray,
    demand: np.ndarray,
    flows: np.ndarray,
    support: np.ndarray,
    grad_flows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``sum(grad_flows * f)`` in ``c, k, D`` by one adjoint solve per market.

    On a fixed support, ``dL/dc`` is the flow of the same game with costs ``v = grad_flows`` and
    zero demand, ``dL/dD`` its multiplier and ``dL/dk_j = sum_i dL/dc_ij (f_ij + F_j)``
    (Theorem 2, Eq. 19-20); see :mod:`prillm.torch_equilibrium`.

    Parameters
    ----------
    cost, slope, demand, flows, support, grad_flows
        ``(B, n, m)``, ``(B, m)``, ``(B, n)``, ``(B, n, m)``, bool ``(B, n, m)``, ``(B, n, m)``.

    Returns
    -------
    grad_cost, grad_slope, grad_demand
    """
    v_all = grad_flows * support
    grad_cost = np.zeros_like(cost)
    grad_demand = np.zeros_like(demand)
    zero = np.zeros(cost.shape[1])
    for t in range(cost.shape[0]):
        v = v_all[t]
        v_scale = float(np.abs(v).max())
        if v_scale == 0.0:
            continue
        d_scale, c_scale = numpy_scales(cost[t], slope[t], demand[t])
        capa = c_scale / (slope[t] * d_scale)
        lam_v, _, x_v = solve_support(v / v_scale, capa, zero, support[t])
        grad_cost[t] = x_v * (v_scale * d_scale / c_scale)
        grad_demand[t] = lam_v * v_scale
    loads = flows.sum(axis=1)
    grad_slope = (grad_cost * (flows + loads[:, None, :])).sum(axis=1)
    return grad_cost, grad_slope, grad_demand
