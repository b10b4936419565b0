"""A batched, differentiable user-side equilibrium in torch (Theorem 2, Eq. 19-20).

Forward
-------
For each market of the batch the exact active-set solver
(:func:`prillm.equilibrium.solve_active_set`, numpy, CPU) finds the support of the equilibrium.
Given the supports, the flows are recomputed by one *batched* fixed-support solve in torch
(same device and dtype as the inputs; float64 recommended): with :math:`K_j = 1/k_j`,
:math:`n_j` users on provider :math:`j` and :math:`w_j = K_j/(1+n_j)`, the multipliers solve the
symmetric positive-definite system (the one :func:`prillm.equilibrium.solve_support` builds)

.. math::

    \\Big(\\operatorname{diag}(A K) - A \\operatorname{diag}(w) A^\\top\\Big)\\lambda
      = D + (A\\circ c) K - A\\,\\big(w \\circ (A\\circ c)^\\top \\mathbf 1\\big),

then :math:`F_j = w_j(\\sum_{i \\in U_j} \\lambda_i - c_{ij})` and
:math:`f_{ij} = A_{ij}(K_j(\\lambda_i - c_{ij}) - F_j)` (Eq. 14-17 on the support).
The batched Cholesky factorisation runs on a GPU when the inputs live there.

Backward
--------
On a fixed support the KKT system (Eq. 19) is linear: with :math:`H` the Hessian of the potential
restricted to the support and :math:`E` the demand constraints,
:math:`H f = E^\\top\\lambda - c`, :math:`E f = D`. Differentiating gives
:math:`df = -P\\,(dc + dH\\,f) + H^{-1}E^\\top M^{-1} dD` with
:math:`P = H^{-1} - H^{-1}E^\\top M^{-1} E H^{-1}` and :math:`M = E H^{-1} E^\\top`. For an
upstream gradient :math:`v = \\partial L/\\partial f` (Eq. 20), therefore,

* :math:`\\partial L/\\partial c = -P v` is the flow of the same game with costs :math:`v` and
  zero demand,
* :math:`\\partial L/\\partial D = M^{-1} E H^{-1} v` is the multiplier of that game,
* :math:`\\partial L/\\partial k_j = \\sum_{i \\in U_j} (\\partial L/\\partial c_{ij})
  (f_{ij} + F_j)`, because :math:`\\partial (H f)_{ij}/\\partial k_j = f_{ij} + F_j`,

so the backward pass is one more solve with the same matrix (one adjoint solve). Gradients with
respect to prices, ``w_p``, ``w_q``, ``w_d``, ``b``, latencies and capacities follow by the chain
rule through :math:`c_{ij} = w_p p_j + w_d d_{ij} - b_j` and :math:`k_j = w_q/\\alpha_j`, which
torch's autograd handles.

Where the support changes (a flow at zero on a used route, or a zero reduced cost on an unused
one) the map is not differentiable; the gradient returned is the one of the support the exact
solver reports, a one-sided derivative, which is the sub-gradient of Theorem 2.

Users with zero demand carry no flow; they are given the single cheapest route (by marginal
cost) as support, so the gradient with respect to their demand is the right derivative.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from prillm._optional import optional_dependency
from prillm.equilibrium import solve_active_set, solve_support

with optional_dependency("the differentiable equilibrium (prillm.torch_equilibrium)"):
    import torch

__all__ = [
    "CvxpyLayerEquilibrium",
    "EquilibriumLayer",
    "equilibrium_flows",
    "equilibrium_from_coefficients",
    "torch_threads",
]


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads, restoring the previous number after.

    The tensors of calibration are tiny (a few hundred entries): on a few shared cores a
    multi-threaded torch runs them several times slower than one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ----------------------------------------------------------------------- fixed support
def _scales(cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor) -> tuple[Any, Any]:
    """Per-market scales (flows by max D, costs by the largest cost term), shape ``(B,)``."""
    d_max = demand.amax(dim=1)
    d_scale = torch.where(d_max > 0, d_max, torch.ones_like(d_max))
    c_scale = torch.maximum(
        cost.abs().amax(dim=(1, 2)), slope.amax(dim=1) * demand.sum(dim=1)
    ).clamp_min(torch.finfo(cost.dtype).tiny)
    return d_scale, c_scale


def _support_solve(
    cost: torch.Tensor, capa: torch.Tensor, demand: torch.Tensor, a: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batched KKT solve on fixed supports (the n x n system in the multipliers).

    Parameters
    ----------
    cost
        ``(B, n, m)`` fixed costs.
    capa
        ``(B, m)`` values ``K_j = 1/k_j``.
    demand
        ``(B, n)`` demands.
    a
        ``(B, n, m)`` 0/1 support (float), every row non-empty.

    Returns
    -------
    lam, loads, flows
        ``(B, n)``, ``(B, m)``, ``(B, n, m)``.
    """
    ac = a * cost
    col_c = ac.sum(dim=1)
    rowk = (a * capa[:, None, :]).sum(dim=2)
    base = demand + (ac * capa[:, None, :]).sum(dim=2)
    nj = a.sum(dim=1)
    w = capa / (1.0 + nj)
    bm = a * torch.sqrt(w)[:, None, :]
    mat = torch.diag_embed(rowk) - bm @ bm.transpose(1, 2)
    rhs = base - (a * (w * col_c)[:, None, :]).sum(dim=2)
    chol = torch.linalg.cholesky(mat)
    lam = torch.cholesky_solve(rhs[..., None], chol)[..., 0]
    loads = w * ((a * lam[..., None]).sum(dim=1) - col_c)
    flows = a * (capa[:, None, :] * (lam[..., None] - cost) - loads[:, None, :])
    return lam, loads, flows


def _find_supports(
    cost: np.ndarray, slope: np.ndarray, demand: np.ndarray, warm: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact equilibria (numpy, one market at a time): supports (zero-demand rows filled), flows."""
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


class _NumpyAdjointEquilibrium(torch.autograd.Function):
    """CPU path: the exact solver's flows forward; backward by :func:`solve_support` (numpy).

    For small markets the per-operation overhead of torch dominates; one LAPACK solve per
    market with the core's own fixed-support system is several times faster.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        cost: torch.Tensor,
        slope: torch.Tensor,
        demand: torch.Tensor,
        flows: torch.Tensor,
        support: np.ndarray,
    ) -> torch.Tensor:
        return flows.clone()

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        cost, slope, demand, _, support = inputs
        ctx.support = support
        ctx.save_for_backward(cost, slope, demand, output)

    @staticmethod
    def backward(ctx: Any, grad_flows: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        cost, slope, demand, flows = (t.detach().numpy() for t in ctx.saved_tensors)
        support = ctx.support
        v_all = grad_flows.detach().numpy() * support
        grad_cost = np.zeros_like(cost)
        grad_demand = np.zeros_like(demand)
        zero = np.zeros(cost.shape[1])
        for t in range(cost.shape[0]):
            v = v_all[t]
            v_scale = float(np.abs(v).max())
            if v_scale == 0.0:
                continue
            d_scale = float(demand[t].max()) if demand[t].max() > 0 else 1.0
            c_scale = max(float(np.abs(cost[t]).max()), float(slope[t].max() * demand[t].sum()))
            capa = c_scale / (slope[t] * d_scale)
            lam_v, _, x_v = solve_support(v / v_scale, capa, zero, support[t])
            grad_cost[t] = x_v * (v_scale * d_scale / c_scale)
            grad_demand[t] = lam_v * v_scale
        loads = flows.sum(axis=1)
        grad_slope = (grad_cost * (flows + loads[:, None, :])).sum(axis=1)
        as_t = torch.as_tensor
        return as_t(grad_cost), as_t(grad_slope), as_t(grad_demand), None, None


class _FixedSupportEquilibrium(torch.autograd.Function):
    """Flows of a batch of equilibria given their supports; implicit-differentiation backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor, a: torch.Tensor
    ) -> torch.Tensor:
        d_scale, c_scale = _scales(cost, slope, demand)
        capa = c_scale[:, None] / (slope * d_scale[:, None])
        _, _, x = _support_solve(cost / c_scale[:, None, None], capa, demand / d_scale[:, None], a)
        return x * d_scale[:, None, None]

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        cost, slope, demand, a = inputs
        ctx.save_for_backward(cost, slope, demand, a, output)

    @staticmethod
    def backward(ctx: Any, grad_flows: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        cost, slope, demand, a, flows = ctx.saved_tensors
        d_scale, c_scale = _scales(cost, slope, demand)
        capa = c_scale[:, None] / (slope * d_scale[:, None])
        v = grad_flows * a
        v_scale = v.abs().amax(dim=(1, 2)).clamp_min(torch.finfo(v.dtype).tiny)
        zero = torch.zeros_like(demand)
        lam_v, _, x_v = _support_solve(v / v_scale[:, None, None], capa, zero, a)
        # K = capa * d_scale / c_scale; the flow map scales with K, the multiplier map does not
        grad_cost = x_v * (v_scale * d_scale / c_scale)[:, None, None]
        grad_demand = lam_v * v_scale[:, None]
        loads = flows.sum(dim=1)
        grad_slope = (grad_cost * (flows + loads[:, None, :])).sum(dim=1)
        return grad_cost, grad_slope, grad_demand, None


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
        ``"torch"`` (one batched Cholesky in torch, forward and backward, on the inputs' device:
        the GPU path), or ``"auto"`` (numpy for float64 CPU tensors, torch otherwise).

    Returns
    -------
    torch.Tensor
        Flows ``(B, n, m)`` on the device and in the dtype of ``cost``, differentiable with
        respect to all three inputs (Eq. 19-20).
    """
    if cost.dim() != 3 or slope.dim() != 2 or demand.dim() != 2:
        raise ValueError(
            "cost, slope, demand: expected shapes (B, n, m), (B, m), (B, n); got "
            f"{tuple(cost.shape)}, {tuple(slope.shape)}, {tuple(demand.shape)}"
        )
    batch, n, m = cost.shape
    if tuple(slope.shape) != (batch, m) or tuple(demand.shape) != (batch, n):
        raise ValueError(
            f"slope, demand: expected shapes {(batch, m)} and {(batch, n)}, got "
            f"{tuple(slope.shape)} and {tuple(demand.shape)}"
        )
    if bool((slope.detach() <= 0).any()):
        raise ValueError("slope: k_j = w_q/alpha_j must be > 0 (w_q > 0, Eq. 8)")
    if bool((demand.detach() < 0).any()):
        raise ValueError("demand: must be >= 0")
    if linalg not in ("auto", "numpy", "torch"):
        raise ValueError(f"linalg: expected 'auto', 'numpy' or 'torch', got {linalg!r}")
    supports, flows_np = _find_supports(
        cost.detach().cpu().double().numpy(),
        slope.detach().cpu().double().numpy(),
        demand.detach().cpu().double().numpy(),
        warm_start,
    )
    cpu64 = cost.device.type == "cpu" and cost.dtype == torch.float64
    if linalg == "numpy" or (linalg == "auto" and cpu64):
        if not cpu64:
            raise ValueError("linalg='numpy' needs float64 CPU tensors")
        flows = _NumpyAdjointEquilibrium.apply(
            cost, slope, demand, torch.as_tensor(flows_np), supports
        )
    else:
        a = torch.as_tensor(supports, dtype=cost.dtype, device=cost.device)
        flows = _FixedSupportEquilibrium.apply(cost, slope, demand, a)
    if return_support:
        return flows, supports
    return flows


# --------------------------------------------------------------------------- market API
def _as_tensor(x: Any, like: torch.Tensor | None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    dtype = torch.float64 if like is None else like.dtype
    device = None if like is None else like.device
    return torch.as_tensor(np.asarray(x, dtype=float), dtype=dtype, device=device)


def _coefficients(
    price: Any,
    capacity: Any,
    latency: Any,
    demand: Any,
    w_q: Any,
    w_d: Any,
    b: Any,
    w_p: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    like = next((x for x in (price, demand, w_q, w_d, b) if isinstance(x, torch.Tensor)), None)
    price, capacity, latency, demand = (
        _as_tensor(x, like) for x in (price, capacity, latency, demand)
    )
    w_q, w_d, b, w_p = (_as_tensor(x, like) for x in (w_q, w_d, b, w_p))
    if demand.dim() == 0 or price.dim() == 0:
        raise ValueError("demand, price: expected (..., n) and (..., m) tensors")
    n, m = demand.shape[-1], price.shape[-1]
    if latency.dim() <= 1:
        latency = latency.expand(n, m)
    if b.dim() == 0:
        b = b.expand(m)
    batched = any(
        t.dim() > k for t, k in ((price, 1), (capacity, 1), (latency, 2), (demand, 1), (b, 1))
    ) or any(t.dim() > 0 for t in (w_q, w_d, w_p))
    cost = (
        w_p[..., None, None] * price[..., None, :]
        + w_d[..., None, None] * latency
        - b[..., None, :]
    )
    slope = w_q[..., None] / capacity
    batch_shape = torch.broadcast_shapes(cost.shape[:-2], slope.shape[:-1], demand.shape[:-1])
    cost = cost.expand(*batch_shape, n, m).reshape(-1, n, m)
    slope = slope.expand(*batch_shape, m).reshape(-1, m)
    demand = demand.expand(*batch_shape, n).reshape(-1, n)
    return cost, slope, demand, batched


def equilibrium_flows(
    price: Any,
    capacity: Any,
    latency: Any,
    demand: Any,
    w_q: Any,
    w_d: Any,
    b: Any,
    w_p: Any = 1.0,
    *,
    warm_start: np.ndarray | None = None,
    linalg: str = "auto",
) -> torch.Tensor:
    """Equilibrium flows of a batch of markets, differentiable in every input (Theorem 2).

    All arguments are tensors (or array-likes, converted to float64) that broadcast with a
    leading batch dimension: ``price (B, m)``, ``capacity (B, m)``, ``latency (B, n, m)`` (or
    ``(m,)``/scalar, the same for every user), ``demand (B, n)``, ``w_q``/``w_d``/``w_p`` scalars
    or ``(B,)``, ``b (m,)`` or ``(B, m)``. Any of them may drop the batch dimension (it is then
    shared). Units are those of :mod:`prillm.market`.

    Parameters
    ----------
    price, capacity, latency, demand
        The market data :math:`p_j, \\alpha_j, d_{ij}, D_i`.
    w_q, w_d, b, w_p
        The preferences :math:`\\theta` of Eq. (1); ``w_q > 0``.
    warm_start
        Optional boolean supports ``(B, n, m)`` for the exact solver.
    linalg
        ``"auto"``, ``"numpy"`` or ``"torch"``: see :func:`equilibrium_from_coefficients`.

    Returns
    -------
    torch.Tensor
        Flows ``(B, n, m)`` (``(n, m)`` if no input has a batch dimension).

    Examples
    --------
    >>> import torch
    >>> p = torch.tensor([1.0, 1.2], dtype=torch.float64, requires_grad=True)
    >>> f = equilibrium_flows(p, [1e6, 1e6], 0.0, [1e6], w_q=1.0, w_d=0.0, b=0.0)
    >>> f.shape
    torch.Size([1, 2])
    >>> f.sum(dim=1).backward()  # demand is conserved: no price moves the total
    >>> abs(float(p.grad.abs().max())) < 1e-6
    True

    References
    ----------
    Eq. (1), (4-5) the game; Eq. (14-17) KKT; Eq. (19-20) implicit differentiation.
    """
    cost, slope, dem, batched = _coefficients(price, capacity, latency, demand, w_q, w_d, b, w_p)
    flows = equilibrium_from_coefficients(cost, slope, dem, warm_start=warm_start, linalg=linalg)
    assert isinstance(flows, torch.Tensor)
    return flows if batched else flows[0]


class EquilibriumLayer:
    """:func:`equilibrium_flows` with warm starts: remembers the last supports it found.

    Calibration solves the same batch of markets again and again with slowly changing
    preferences; starting the exact solver from the previous supports saves most of its
    iterations.
    """

    def __init__(self) -> None:
        self.supports: np.ndarray | None = None

    def __call__(
        self,
        price: Any,
        capacity: Any,
        latency: Any,
        demand: Any,
        w_q: Any,
        w_d: Any,
        b: Any,
        w_p: Any = 1.0,
    ) -> torch.Tensor:
        """Flows ``(B, n, m)``; see :func:`equilibrium_flows`."""
        cost, slope, dem, _ = _coefficients(price, capacity, latency, demand, w_q, w_d, b, w_p)
        warm = self.supports
        if warm is not None and warm.shape != tuple(cost.shape):
            warm = None
        flows, supports = equilibrium_from_coefficients(
            cost, slope, dem, warm_start=warm, return_support=True
        )
        self.supports = supports
        return flows


# ------------------------------------------------------------------ generic reference
class CvxpyLayerEquilibrium:
    """The same equilibrium through a generic differentiable convex layer (cvxpylayers).

    An independent reference for tests and benchmarks: it shares nothing with the exact solver
    but the potential of Eq. (4-5), written in cvxpy with parameters ``c``, ``sqrt(k/2)`` and
    ``D`` (rescaled to order one, as :mod:`prillm.reference` does) and differentiated by
    cvxpylayers (diffcp). Needs the optional ``cvxpylayers`` package.

    Parameters
    ----------
    n_users, n_providers
        Shape of the flow matrix.
    solver_args
        Passed to the layer (e.g. ``{"eps": 1e-10}``).
    """

    def __init__(
        self, n_users: int, n_providers: int, solver_args: dict[str, Any] | None = None
    ) -> None:
        with optional_dependency("the cvxpylayers reference (CvxpyLayerEquilibrium)"):
            import cvxpy as cp
            from cvxpylayers.torch import CvxpyLayer

        n, m = n_users, n_providers
        c = cp.Parameter((n, m))
        s_col = cp.Parameter(m, nonneg=True)
        s_mat = cp.Parameter((n, m), nonneg=True)
        d = cp.Parameter(n, nonneg=True)
        x = cp.Variable((n, m), nonneg=True)
        objective = (
            cp.sum(cp.multiply(c, x))
            + cp.sum_squares(cp.multiply(s_col, cp.sum(x, axis=0)))
            + cp.sum_squares(cp.multiply(s_mat, x))
        )
        problem = cp.Problem(cp.Minimize(objective), [cp.sum(x, axis=1) == d])
        self.shape = (n, m)
        self.solver_args = solver_args or {}
        self.layer = CvxpyLayer(problem, parameters=[c, s_col, s_mat, d], variables=[x])

    def from_coefficients(
        self, cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor
    ) -> torch.Tensor:
        """Flows ``(B, n, m)`` from ``cost (B, n, m)``, ``slope (B, m)``, ``demand (B, n)``."""
        d_scale, c_scale = (t.detach() for t in _scales(cost, slope, demand))
        s = torch.sqrt(slope * (d_scale / c_scale)[:, None] / 2.0)
        (x,) = self.layer(
            cost / c_scale[:, None, None],
            s,
            s[:, None, :].expand(-1, self.shape[0], -1),
            demand / d_scale[:, None],
            solver_args=self.solver_args,
        )
        return x * d_scale[:, None, None]

    def __call__(
        self,
        price: Any,
        capacity: Any,
        latency: Any,
        demand: Any,
        w_q: Any,
        w_d: Any,
        b: Any,
        w_p: Any = 1.0,
    ) -> torch.Tensor:
        """Flows ``(B, n, m)`` with the arguments of :func:`equilibrium_flows`."""
        cost, slope, dem, _ = _coefficients(price, capacity, latency, demand, w_q, w_d, b, w_p)
        return self.from_coefficients(cost, slope, dem)
