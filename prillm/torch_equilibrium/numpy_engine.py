"""The bridge to the numpy engine: exact supports one market at a time, and its adjoint solve.

The single-market paths (:mod:`~prillm.torch_equilibrium.coefficients`,
:mod:`~prillm.torch_equilibrium.flows`) find every support with
:func:`prillm.equilibrium.solve_active_set` and differentiate with the engine's own fixed-support
kernel (:class:`prillm.equilibrium.SupportKKT`, one factor and one adjoint solve per market); the
batched equilibrium hands the rare market it cannot settle to the same engine.
"""

from __future__ import annotations

import numpy as np

from prillm.equilibrium import SupportKKT, solve_active_set
from prillm.equilibrium.kkt import support_flows

__all__ = [
    "MarketAdjoint",
    "find_supports",
    "first_token_routes",
    "numpy_adjoint",
    "numpy_scales",
]


def numpy_scales(cost: np.ndarray, slope: np.ndarray, demand: np.ndarray) -> tuple[float, float]:
    """Flow and cost scales of one market, the rule of :func:`prillm.equilibrium.solve_active_set`.

    Flows are scaled by ``max D`` (1 without demand), costs by ``max(max |c|, max k * sum D)``.
    """
    d_max = float(demand.max()) if demand.size else 0.0
    d_scale = d_max if d_max > 0 else 1.0
    c_scale = max(float(np.abs(cost).max()), float(slope.max() * demand.sum()), 1e-300)
    return d_scale, c_scale


def first_token_routes(
    support: np.ndarray,
    cost: np.ndarray,
    slope: np.ndarray,
    loads: np.ndarray,
    demand: np.ndarray,
) -> np.ndarray:
    """``support`` with the route of its cheapest first token for each user without demand.

    The engine leaves a user without demand with an empty row; the route of its cheapest
    first token ``c_ij + k_j F_j`` is the support of the right derivative in its demand.
    """
    empty = demand <= 0
    if not empty.any():
        return support
    s = support.copy()
    marginal = cost[empty] + slope[None, :] * loads[None, :]
    s[np.flatnonzero(empty), np.argmin(marginal, axis=1)] = True
    return s


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
        out[t] = first_token_routes(res.support, cost[t], slope[t], res.loads, demand[t])
        flows[t] = res.flows
    return out, flows


class MarketAdjoint:
    """The adjoint solve of one market's equilibrium (Theorem 2, Eq. 19-20), factorised once.

    On a fixed support, ``dL/dc`` is the flow of the same game with costs ``v = dL/df`` and
    zero demand, ``dL/dD`` its multiplier and ``dL/dk_j = sum_i dL/dc_ij (f_ij + F_j)`` (see
    :mod:`prillm.torch_equilibrium`). The system depends on the support and the slopes only:
    it is factorised in the forward pass (or is the exact solver's own,
    :attr:`prillm.equilibrium.ActiveSetResult.kkt`), and :meth:`solve` is the backward pass's
    one solve. Both maps are linear in ``v``, which needs no scale of its own.

    Parameters
    ----------
    kkt
        The factorised system of the support, with ``K = c_scale / (k d_scale)``.
    scales
        ``(d_scale, c_scale)`` of ``kkt`` (:func:`numpy_scales`, or the solver's).
    """

    __slots__ = ("kkt", "mask", "ratio")

    def __init__(self, kkt: SupportKKT, scales: tuple[float, float]) -> None:
        d_scale, c_scale = scales
        self.kkt = kkt
        # the flow map scales with K (so by d_scale / c_scale), the multiplier map does not:
        # the costs of the solve are v times that ratio on the support
        self.ratio = d_scale / c_scale
        self.mask = kkt.a * self.ratio

    @classmethod
    def build(
        cls, slope: np.ndarray, support: np.ndarray, scales: tuple[float, float]
    ) -> MarketAdjoint:
        """Factorise the system of ``support`` (boolean (n, m), rows non-empty) for slopes ``k``."""
        d_scale, c_scale = scales
        return cls(SupportKKT(c_scale / (slope * d_scale), support), scales)

    def solve(self, grad_flows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``dL/dc`` (n, m), its column sums (m,) and ``dL/dD`` (n,) for ``dL/df`` (n, m).

        The column sums of ``dL/dc`` are the loads of the adjoint game (the load equations
        hold on the support), so they come with the solve.
        """
        kkt = self.kkt
        v = grad_flows * self.mask
        lam, loads = kkt.solve(v @ kkt.capa, v.sum(axis=0))
        grad_cost = support_flows(kkt.a, v, kkt.capa, lam, loads)
        lam /= self.ratio
        return grad_cost, loads, lam


def numpy_adjoint(
    cost: np.ndarray,
    slope: np.ndarray,
    demand: np.ndarray,
    flows: np.ndarray,
    support: np.ndarray,
    grad_flows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``sum(grad_flows * f)`` in ``c, k, D`` by one adjoint solve per market.

    Parameters
    ----------
    cost, slope, demand, flows, support, grad_flows
        ``(B, n, m)``, ``(B, m)``, ``(B, n)``, ``(B, n, m)``, bool ``(B, n, m)``, ``(B, n, m)``.

    Returns
    -------
    grad_cost, grad_slope, grad_demand
        ``(B, n, m)``, ``(B, m)``, ``(B, n)``.
    """
    grad_cost = np.zeros_like(cost)
    grad_demand = np.zeros_like(demand)
    for t in range(cost.shape[0]):
        if not grad_flows[t].any():
            continue
        scales = numpy_scales(cost[t], slope[t], demand[t])
        adj = MarketAdjoint.build(slope[t], support[t], scales)
        grad_cost[t], _, grad_demand[t] = adj.solve(grad_flows[t])
    grad_slope = (grad_cost * (flows + flows.sum(axis=1, keepdims=True))).sum(axis=1)
    return grad_cost, grad_slope, grad_demand
