"""The differentiable equilibrium from the game coefficients ``c, k, D`` of Eq. (4-5).

:func:`equilibrium_from_coefficients` finds each market's support with the exact numpy engine
(:func:`prillm.equilibrium.solve_active_set`, one market at a time) and differentiates on it:

* ``linalg="numpy"`` (the CPU default): the engine's flows forward, and one adjoint solve per
  market with the engine's own fixed-support kernel (:func:`prillm.equilibrium.solve_support`)
  backward. For markets of a few hundred routes the per-operation overhead of torch would cost
  more than the arithmetic.
* ``linalg="torch"``: the flows recomputed on the supports by the torch kernel
  (:class:`~prillm.torch_equilibrium.kernel.SupportSystem`, on the inputs' device), and the
  adjoint solved with the same factor: the GPU path.

For many small markets, :func:`~prillm.torch_equilibrium.batched.batched_equilibrium` also finds
the supports in torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from prillm.equilibrium import solve_active_set, solve_support
from prillm.torch_equilibrium.batched import check_coefficients
from prillm.torch_equilibrium.kernel import SupportSystem, scales

__all__ = ["equilibrium_from_coefficients"]


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


class _NumpyAdjointEquilibrium(torch.autograd.Function):
    """CPU path: the exact solver's flows forward; backward by :func:`numpy_adjoint`."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        cost: torch.Tensor,
        slope: torch.Tensor,
        demand: torch.Tensor,
        flows: np.ndarray,
        support: np.ndarray,
    ) -> torch.Tensor:
        ctx.save_for_backward(cost, slope, demand)
        ctx.arrays = (flows, support)
        return torch.from_numpy(flows.copy())

    @staticmethod
    def backward(ctx: Any, grad_flows: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        coefficients = (t.detach().numpy() for t in ctx.saved_tensors)
        grads = numpy_adjoint(*coefficients, *ctx.arrays, grad_flows.detach().numpy())
        return (*(torch.from_numpy(g) for g in grads), None, None)


class _FixedSupportEquilibrium(torch.autograd.Function):
    """Flows of a batch of equilibria on given supports by the torch kernel; adjoint backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor, a: torch.Tensor
    ) -> torch.Tensor:
        c = cost.detach().permute(1, 2, 0)
        k = slope.detach().T
        dm = demand.detach().T
        d_scale, c_scale = scales(c, k, dm)
        capa = c_scale / (k * d_scale)
        a_last = a.permute(1, 2, 0).contiguous()
        sysm = SupportSystem(a_last, capa)
        _, _, x = sysm.solve(c / c_scale, dm / d_scale)
        flows = x * d_scale
        ctx.sysm = sysm
        ctx.save_for_backward(flows, a_last, d_scale, c_scale)
        return flows.permute(2, 0, 1)

    @staticmethod
    def backward(ctx: Any, grad_flows: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        flows, a, d_scale, c_scale = ctx.saved_tensors
        v = grad_flows.permute(1, 2, 0) * a
        v_scale = v.abs().amax(dim=(0, 1)).clamp_min(torch.finfo(v.dtype).tiny)
        lam_v, _, x_v = ctx.sysm.solve(v / v_scale, torch.zeros_like(flows[:, 0]))
        # K = capa * d_scale / c_scale: the flow map scales with K, the multiplier map does not
        grad_cost = x_v * (v_scale * d_scale / c_scale)
        grad_demand = lam_v * v_scale
        grad_slope = (grad_cost * (flows + flows.sum(dim=0))).sum(dim=0)
        return grad_cost.permute(2, 0, 1), grad_slope.T, grad_demand.T, None


def equilibrium_from_coefficients(
    cost: torch.Tensor,
    slope: torch.Tensor,
    demand: torch.Tensor,
    *,
    warm_start: np.ndarray | None = None,
    return_support: bool = False,
    linalg: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, np.ndarray]:
    """Differentiable equilibrium flows from the game coefficients of Eq. (4-5).

    Parameters
    ----------
    cost
        ``c_ij = w_p p_j + w_d d_ij - b_j``, shape ``(B, n, m)``.
    slope
        ``k_j = w_q / alpha_j > 0``, shape ``(B, m)``.
    demand
        ``D_i >= 0``, shape ``(B, n)``.
    warm_start
        Optional boolean supports ``(B, n, m)`` to start the exact solver from (changes the work,
        never the answer).
    return_support
        Also return the supports found (numpy, boolean ``(B, n, m)``).
    linalg
        Where the fixed-support algebra runs: ``"numpy"`` (the exact solver's flows forward,
        :func:`prillm.equilibrium.solve_support` for the adjoint; float64 CPU tensors only),
        ``"torch"`` (one batched factorisation in torch, forward and backward, on the inputs'
        device: the GPU path), or ``"auto"`` (numpy for float64 CPU tensors, torch otherwise).

    Returns
    -------
    torch.Tensor
        Flows ``(B, n, m)`` on the device and in the dtype of ``cost``, differentiable with
        respect to all three inputs (Eq. 19-20).

    Raises
    ------
    ValueError
        On wrong shapes, ``slope <= 0``, negative demand, non-finite values or a bad option.

    Examples
    --------
    >>> c = torch.tensor([[[1.0, 1.2]]], dtype=torch.float64, requires_grad=True)
    >>> k = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    >>> f = equilibrium_from_coefficients(c, k, torch.ones(1, 1, dtype=torch.float64))
    >>> [round(x, 6) for x in f.detach()[0, 0].tolist()]
    [0.55, 0.45]

    References
    ----------
    Eq. (4-5) the potential, Eq. (14-17) KKT, Theorem 2 and Eq. (19-20) the gradient.
    """
    check_coefficients(cost, slope, demand)
    if linalg not in ("auto", "numpy", "torch"):
        raise ValueError(f"linalg: expected 'auto', 'numpy' or 'torch', got {linalg!r}")
    cpu64 = all(t.device.type == "cpu" and t.dtype == torch.float64 for t in (cost, slope, demand))
    if linalg == "numpy" and not cpu64:
        raise ValueError("linalg='numpy' needs float64 CPU tensors")
    c_np, k_np, d_np = (t.detach().cpu().double().numpy() for t in (cost, slope, demand))
    supports, flows_np = find_supports(c_np, k_np, d_np, warm_start)
    if linalg == "numpy" or (linalg == "auto" and cpu64):
        flows = _NumpyAdjointEquilibrium.apply(cost, slope, demand, flows_np, supports)
    else:
        a = torch.as_tensor(supports, dtype=cost.dtype, device=cost.device)
        flows = _FixedSupportEquilibrium.apply(cost, slope, demand, a)
    if return_support:
        return flows, supports
    return flows
