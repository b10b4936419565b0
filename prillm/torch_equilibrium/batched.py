"""A batched, differentiable equilibrium for many small markets at once (training).

:func:`batched_equilibrium` solves and differentiates a batch of markets entirely in torch, on
fixed-shape tensors, so the same code runs on a CPU (the default) and on a GPU.

Forward: a primal-dual active-set iteration, the one of the numpy engine
(:func:`prillm.equilibrium.solve_active_set`), run on every market of the batch together. Supports
are 0/1 masks; each iteration builds and factorises the fixed-support KKT system of every market
(:class:`~prillm.torch_equilibrium.kernel.SupportSystem`, the providers' m x m system when the
markets have fewer providers than users), drops used routes whose flow came out negative and adds
unused routes whose reduced cost :math:`\\mu_{ij} = c_{ij} + k_j F_j - \\lambda_i` is negative.
A market whose support no longer changes satisfies the KKT conditions (Eq. 14-17) and stays
unchanged; the iteration stops when every market has. A market that cycles (its support returns to
the one of two iterations before), whose factorisation fails, that is not settled after
``max_iter`` iterations, or whose demand residual is above ``tol`` is handed to the numpy engine
(which falls back to a monotone method on cycles) and flagged in :class:`BatchedInfo`; if that too
fails, :class:`~prillm.equilibrium.EquilibriumError` is raised. No market is returned unconverged.
So is a market whose flows plain doubles cannot settle, by the engine's own test (a capacity that
dwarfs the demand, or a user too small beside the loads): the engine refines those in
double-double arithmetic, where the batched iteration's flows were off by up to ``1e-5`` of a
user's demand.

Users without demand carry no flow; their support is the route of the cheapest first token
(ties within round-off kept), so the gradient in their demand is the right derivative.

Backward: implicit differentiation on the final supports (Theorem 2, Eq. 19-20), one adjoint solve
with the factor of the forward pass (see :mod:`prillm.torch_equilibrium`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from prillm.equilibrium import EquilibriumError
from prillm.equilibrium.active_set import ACCURATE_ERROR, ACCURATE_FROM, UNIT
from prillm.torch_equilibrium.kernel import (
    SupportSystem,
    adjoint,
    batch_last,
    check_coefficients,
    scaled,
    workspace,
)
from prillm.torch_equilibrium.numpy_engine import Markets

__all__ = ["BatchedInfo", "batched_equilibrium"]

_EPS_REL = 1e-13  # the numpy engine's threshold on reduced costs (relative to max |lambda|)
_CYCLE_CHECK = 4  # from this iteration on, look for two-cycles (rare; most markets settle before)


@dataclass(frozen=True)
class BatchedInfo:
    """What the batched solver did, per market.

    Attributes
    ----------
    iterations
        ``(B,)`` active-set iterations (fixed-support solves) of the batched iteration.
    fallback
        ``(B,)`` bool: the market was solved by the numpy engine instead (a cycle, a failed
        factorisation, the iteration budget spent, a demand residual above ``tol``, or flows
        that need the engine's accurate refinement).
    support
        ``(B, n, m)`` bool: the final supports (zero-demand users: their cheapest first token).
    residual
        ``(B,)`` relative demand residual ``max_i |sum_j f_ij - D_i| / max_i D_i`` of the
        returned flows.
    """

    iterations: torch.Tensor
    fallback: torch.Tensor
    support: torch.Tensor
    residual: torch.Tensor


def _first_token_support(
    cost: torch.Tensor, loads_k: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """The route of each user's cheapest first token ``c_ij + k_j F_j``, one-hot ``(n, m, B)``.

    Of routes within ``eps`` of the cheapest, the first is taken, so that round-off in the loads
    cannot make the choice flip between iterations.
    """
    marginal = cost + loads_k
    ties = (marginal <= marginal.amin(dim=1, keepdim=True) + eps).to(cost.dtype)
    taken = ties[:, 0]
    for j in range(1, ties.shape[1]):
        ties[:, j] *= 1.0 - taken
        taken = taken + ties[:, j]
    return ties


def _first_support(ct: torch.Tensor, capa: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """A starting support: each user's water-filling as if alone, with congestion inflated.

    User ``i`` alone with marginal costs ``c_ij + s k_j f_ij`` routes its demand to the routes
    whose cost is below its level ``lambda_i`` (a water-filling, at most ``m`` rounds of dropping
    routes above the level). With ``s = 1 + 2 n / m`` the inflation stands in for the others'
    load; measured on random congested markets it roughly halves the active-set iterations
    against starting from every route (20 x 3: 5.5 to 2.8 on average). Only the work depends
    on it, never the answer.
    """
    n, m, _ = ct.shape
    inv = capa / (1.0 + 2.0 * n / m)  # 1 / (s k_j)
    a = torch.ones_like(ct)
    w, keep = torch.empty_like(ct), torch.empty_like(ct)
    for _ in range(m):
        torch.mul(a, inv, out=w)
        level = (d + (ct * w).sum(dim=1)) / w.sum(dim=1)
        torch.le(ct, level[:, None], out=keep)
        keep *= a
        if bool((keep == a).all()):
            break
        a, keep = keep, a
    return a


def _iterate(
    ct: torch.Tensor,
    ctk: torch.Tensor,
    capa: torch.Tensor,
    d: torch.Tensor,
    zero_rows: torch.Tensor | None,
    start: torch.Tensor,
    max_iter: int,
    system: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The batched primal-dual active-set iteration on scaled, batch-last data.

    A settled market recomputes the same support at every further iteration (the arithmetic is
    element-wise in the batch), so it simply rides along; once at most a quarter of the markets
    are still moving they are gathered into a smaller batch, so the tail of slow markets costs
    little. All large temporaries live in buffers allocated once per batch size.

    Parameters
    ----------
    ct, ctk, capa, d
        Scaled costs ``(n, m, B)``, costs times ``K`` ``(n, m, B)``, ``K`` ``(m, B)``, demands
        ``(n, B)``.
    zero_rows
        ``(n, 1, B)`` float 0/1 marks of users without demand, or None if there are none.
    start
        ``(n, m, B)`` float 0/1 starting supports (every row non-empty).
    max_iter, system
        Iteration budget and the linear system to factorise.

    Returns
    -------
    support, unsettled, iterations
        ``(n, m, B)`` final supports (float 0/1; meaningless where unsettled), ``(B,)`` bool
        markets that did not settle (cycle, failed factorisation, budget spent), ``(B,)``
        iterations per market.
    """
    _, _, batch = ct.shape
    dev = ct.device
    work = workspace(*ct.shape, ct)
    a = start.clone()
    new, prev, tmp = torch.empty_like(ct), torch.empty_like(ct), torch.empty_like(ct)
    settled = torch.zeros(batch, dtype=torch.bool, device=dev)
    finished = torch.zeros(batch, dtype=torch.bool, device=dev)
    iters = torch.full((batch,), max_iter, dtype=torch.int64, device=dev)
    for it in range(1, max_iter + 1):
        sysm = SupportSystem(a, capa, system, work)
        lam, loads, xt = sysm.solve(ct, d, cost_capa=ctk, masked=False)
        # keep used routes whose flow is >= 0; add unused ones with mu < -eps (xt = -K mu there)
        lam_max = lam.abs().amax(dim=0)  # NaN or inf here flags a failed solve
        eps = _EPS_REL * lam_max.clamp_min(1.0)
        epsk = eps * capa
        torch.ge(torch.addcmul(xt, a, epsk, out=tmp), epsk, out=new)
        if zero_rows is not None:
            new += zero_rows * (_first_token_support(ct, loads / capa, eps) - new)
        changed = torch.sub(new, a, out=tmp).square_().sum(dim=(0, 1)) > 0
        bad = ~(sysm.ok & torch.isfinite(lam_max) & torch.isfinite(loads.sum(dim=0)))
        if it >= _CYCLE_CHECK:  # a two-cycle: back to the support before the current one
            bad |= changed & (torch.sub(new, prev, out=tmp).square_().sum(dim=(0, 1)) == 0)
        now = ~finished & (bad | ~changed)
        iters = torch.where(now, it, iters)
        settled |= now & ~bad
        finished |= now
        remaining = torch.nonzero(~finished).flatten()
        left = remaining.numel()
        if left == 0:
            break
        prev, a, new = a, new, prev
        if it < max_iter and batch >= 64 and 4 * left <= batch:
            sub = (t[..., remaining] for t in (ct, ctk, capa, d, a))
            s_ct, s_ctk, s_capa, s_d, s_a = sub
            s_zero = None if zero_rows is None else zero_rows[..., remaining]
            s_sup, s_bad, s_it = _iterate(
                s_ct, s_ctk, s_capa, s_d, s_zero, s_a, max_iter - it, system
            )
            a[..., remaining] = s_sup
            settled[remaining] = ~s_bad
            iters[remaining] = it + s_it
            break
    return a, ~settled, iters


def _refine(sysm: SupportSystem, d: torch.Tensor, lam: Any, loads: Any, x: Any) -> tuple[Any, ...]:
    """One step of iterative refinement of the demand constraints (as the numpy engine does)."""
    resid = torch.nan_to_num(d - x.sum(dim=1), nan=0.0, posinf=0.0, neginf=0.0)
    if float(resid.abs().max()) > 1e-13:
        dlam, dloads, dx = sysm.solve(torch.zeros_like(x), resid)
        lam, loads, x = lam + dlam, loads + dloads, x + dx
    return lam, loads, x


def _needs_refinement(
    ct: torch.Tensor,
    capa: torch.Tensor,
    d: torch.Tensor,
    a: torch.Tensor,
    lam: torch.Tensor,
    loads: torch.Tensor,
    x: torch.Tensor,
) -> torch.Tensor:
    """``(B,)`` bool: markets whose flows plain doubles cannot settle, by the engine's own test.

    As in :func:`prillm.equilibrium.solve_active_set`: a scaled capacity above
    :data:`~prillm.equilibrium.active_set.ACCURATE_FROM` (congestion nearly negligible: a flow
    ``K (lambda - c) - F`` is a huge ``K`` times a small cost difference), or a round-off
    estimate of ``f = K (lambda - c) - F`` above
    :data:`~prillm.equilibrium.active_set.ACCURATE_ERROR` of some user's demand. The engine
    refines such flows in double-double arithmetic (:mod:`prillm.equilibrium.refine`).
    """
    err = (ct.abs() + lam.abs()[:, None]) * capa + loads.abs() + x.abs()
    user_err = (err * a).amax(dim=1) * (4.0 * UNIT)
    has = d > 0
    user_err = torch.where(has, user_err / torch.where(has, d, torch.ones_like(d)), 0.0)
    return (capa.amax(dim=0) > ACCURATE_FROM) | (user_err.amax(dim=0) > ACCURATE_ERROR)


def _engine_solve(
    cost: np.ndarray, slope: np.ndarray, demand: np.ndarray, tol: float, ids: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Markets ``(b, n, m)`` by the numpy engine: flows, supports and demand residuals, checked.

    ``ids``: their numbers in the batch (for the engine's warning about unsettled flows).
    """
    solved = Markets(cost, slope, demand, ids=ids)
    supports, flows = solved.supports, solved.flows
    d_max = demand.max(axis=1)
    resid = np.abs(flows.sum(axis=2) - demand).max(axis=1) / np.where(d_max > 0, d_max, 1.0)
    worst = float(resid.max())
    if not np.isfinite(flows).all() or worst > tol or flows.min() < 0:
        raise EquilibriumError(
            f"batched equilibrium: the numpy engine left a demand residual of {worst:.3e} "
            f"(tol={tol:.1e}) on a market the batched iteration could not settle"
        )
    return flows, supports, resid


def _solve_batch(
    cost: torch.Tensor,
    slope: torch.Tensor,
    demand: torch.Tensor,
    warm: torch.Tensor | None,
    max_iter: int,
    system: str,
    tol: float,
) -> tuple[Any, ...]:
    """Forward pass on batch-last data: flows (tokens) and everything the backward needs."""
    ct, capa, d, d_scale, c_scale = scaled(cost, slope, demand)
    zero = (d <= 0)[:, None].to(ct.dtype)
    start = _first_support(ct, capa, d) if warm is None else warm
    a, unsettled, iters = _iterate(
        ct, ct * capa, capa, d, zero if bool(zero.any()) else None, start, max_iter, system
    )
    sysm = SupportSystem(a, capa, system)
    lam, loads, x = sysm.solve(ct, d)
    lam, loads, x = _refine(sysm, d, lam, loads, x)
    x = (x.clamp_min(0.0) * (d > 0)[:, None]).add_(0.0)  # no negative zeros
    resid = (x.sum(dim=1) - d).abs().amax(dim=0)
    fallback = unsettled | ~(resid <= tol) | _needs_refinement(ct, capa, d, a, lam, loads, x)
    flows = x * d_scale
    if bool(fallback.any()):
        idx = torch.nonzero(fallback).flatten()
        arrays = (
            t.index_select(-1, idx).movedim(-1, 0).cpu().double().numpy()
            for t in (cost, slope, demand)
        )
        f_fb, s_fb, r_fb = (
            torch.as_tensor(x, dtype=cost.dtype, device=cost.device)
            for x in _engine_solve(*arrays, tol, idx.tolist())
        )
        flows[..., idx] = f_fb.movedim(0, -1)
        a = a.clone()
        a[..., idx] = s_fb.movedim(0, -1)
        sysm = SupportSystem(a, capa, system)  # the factor the backward pass needs
        resid[idx] = r_fb
    return flows, sysm, a, d_scale, c_scale, iters, fallback, resid


class _BatchedEquilibrium(torch.autograd.Function):
    """Flows of a batch of equilibria (batch-first in and out); adjoint backward."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        cost: torch.Tensor,
        slope: torch.Tensor,
        demand: torch.Tensor,
        solve: Callable[..., tuple[Any, ...]],
        info_box: list[BatchedInfo],
    ) -> torch.Tensor:
        """``solve`` is :func:`_solve_batch` with its settings bound (warm start included)."""
        c, k, dm = (t.contiguous() for t in batch_last(cost, slope, demand))
        flows, sysm, a, d_scale, c_scale, iters, fallback, resid = solve(c, k, dm)
        ctx.sysm = sysm
        ctx.save_for_backward(flows, a, d_scale, c_scale)
        info_box.append(BatchedInfo(iters, fallback, a.permute(2, 0, 1) > 0, resid))
        return flows.permute(2, 0, 1).contiguous()

    @staticmethod
    def backward(ctx: Any, grad_flows: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grads = adjoint(ctx.sysm, grad_flows, *ctx.saved_tensors)
        return (*grads, None, None)


def batched_equilibrium(
    cost: torch.Tensor,
    slope: torch.Tensor,
    demand: torch.Tensor,
    *,
    warm_start: torch.Tensor | np.ndarray | None = None,
    max_iter: int = 50,
    system: str = "auto",
    tol: float = 1e-9,
    return_info: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, BatchedInfo]:
    """Equilibrium flows of a batch of markets, solved and differentiated in torch.

    The drop-in batched replacement of
    :func:`~prillm.torch_equilibrium.equilibrium_from_coefficients` (same arguments, same
    result) for many small markets: every step is a batched torch operation on the inputs'
    device (CPU or GPU), with no per-market Python loop.

    Parameters
    ----------
    cost, slope, demand
        The game coefficients ``c (B, n, m)``, ``k (B, m)`` and ``D (B, n)``, as in
        :func:`~prillm.torch_equilibrium.equilibrium_from_coefficients`.
    warm_start
        Optional boolean supports ``(B, n, m)`` to start from (e.g. :attr:`BatchedInfo.support`
        of a previous call on nearby markets); changes the work, never the answer. Users whose
        row is empty start from every route.
    max_iter
        Batched active-set iterations before the markets still moving go to the numpy engine.
    system
        ``"auto"`` (the smaller of the users' n x n and the providers' m x m system),
        ``"users"`` or ``"providers"``.
    tol
        Largest relative demand residual ``max_i |sum_j f_ij - D_i| / max_i D_i`` accepted from
        the batched iteration; a market above it is re-solved by the numpy engine.
    return_info
        Also return a :class:`BatchedInfo`.

    Returns
    -------
    torch.Tensor
        Flows ``(B, n, m)`` in the dtype and on the device of ``cost``, differentiable with
        respect to ``cost``, ``slope`` and ``demand`` (Theorem 2, Eq. 19-20). Use float64 for
        results exact to round-off.

    Raises
    ------
    ValueError
        On wrong shapes, ``slope <= 0``, negative or non-finite inputs.
    prillm.equilibrium.EquilibriumError
        If a market can be settled neither by the batched iteration nor by the numpy engine.

    Examples
    --------
    >>> c = torch.tensor([[[1.0, 1.2], [1.0, 3.0]]], dtype=torch.float64, requires_grad=True)
    >>> k = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    >>> d = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    >>> f = batched_equilibrium(c, k, d)
    >>> f.detach()[0].round(decimals=9).tolist()
    [[0.3, 0.7], [1.0, 0.0]]
    >>> f[0, :, 0].sum().backward()  # provider 0's load falls as user 0's cost there rises
    >>> round(float(c.grad[0, 0, 0]), 9)
    -0.25

    References
    ----------
    Eq. (4-5) the potential, Eq. (14-17) its KKT conditions, Theorem 2 and Eq. (19-20) the
    implicit differentiation.
    """
    check_coefficients(cost, slope, demand)
    if system not in ("auto", "users", "providers"):
        raise ValueError(f"system: expected 'auto', 'users' or 'providers', got {system!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter: expected an integer >= 1, got {max_iter!r}")
    warm = None
    if warm_start is not None:
        w = torch.as_tensor(warm_start, device=cost.device)
        if tuple(w.shape) != tuple(cost.shape):
            raise ValueError(
                f"warm_start: expected shape {tuple(cost.shape)}, got {tuple(w.shape)}"
            )
        w = (w != 0).permute(1, 2, 0)
        w = w | ~w.any(dim=1, keepdim=True)  # empty rows: every route
        warm = w.to(cost.dtype).contiguous()
    box: list[BatchedInfo] = []
    solve = partial(_solve_batch, warm=warm, max_iter=max_iter, system=system, tol=tol)
    flows = _BatchedEquilibrium.apply(cost, slope, demand, solve, box)
    if return_info:
        return flows, box[0]
    return flows
