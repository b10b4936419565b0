"""Equilibrium flows from market data and preferences, differentiable in every input.

:func:`equilibrium_flows` takes prices, capacities, latencies, demands and the preferences
``w_q, w_d, b, w_p`` of Eq. (1). On float64 CPU tensors (the default) it is one autograd node:
the game coefficients ``c_ij = w_p p_j + w_d d_ij - b_j`` and ``k_j = w_q / alpha_j`` are formed
in numpy, the exact engine solves each market, and the backward pass is one adjoint solve per
market followed by the chain rule through ``c`` and ``k`` written out by hand. A dozen small
torch operations and their autograd bookkeeping would cost more than the equilibrium itself at
20 x 20. On other devices or dtypes (or with ``linalg="torch"``) the coefficients are formed by
torch operations and :func:`~prillm.torch_equilibrium.coefficients.equilibrium_from_coefficients`
differentiates them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
import torch

from prillm.torch_equilibrium.coefficients import equilibrium_from_coefficients
from prillm.torch_equilibrium.fused import MarketInputs, fused_flows, is_batched

__all__ = ["EquilibriumLayer", "MarketLayer", "equilibrium_flows", "market_coefficients"]


def _as_tensor(x: Any, like: torch.Tensor | None) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    dtype = torch.float64 if like is None else like.dtype
    device = None if like is None else like.device
    arr = np.asarray(x, dtype=float)
    if not arr.flags.writeable:  # a read-only array (a market's): torch cannot share it
        arr = arr.copy()
    return torch.as_tensor(arr, dtype=dtype, device=device)


def _inputs(args: tuple[Any, ...]) -> list[torch.Tensor]:
    """The eight inputs as tensors (array-likes take the dtype and device of the first tensor)."""
    like = next((x for x in args if isinstance(x, torch.Tensor)), None)
    out = [_as_tensor(x, like) for x in args]
    price, _, _, demand = out[:4]
    if demand.dim() == 0 or price.dim() == 0:
        raise ValueError("demand, price: expected (..., n) and (..., m) tensors")
    return out


def market_coefficients(
    *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The game coefficients of Eq. (4-5) as differentiable torch tensors, flattened to a batch.

    ``c_ij = w_p p_j + w_d d_ij - b_j``, ``k_j = w_q / alpha_j`` and ``D``, with the broadcasting
    rules of :func:`equilibrium_flows`.

    Parameters
    ----------
    *args, **kwargs
        The eight inputs of :func:`equilibrium_flows` (``price, capacity, latency, demand,
        w_q, w_d, b`` and ``w_p = 1``), positionally or by name
        (:class:`~prillm.torch_equilibrium.fused.MarketInputs`).

    Returns
    -------
    cost, slope, demand
        ``(B, n, m)``, ``(B, m)``, ``(B, n)`` (``B = 1`` for an unbatched market).

    Examples
    --------
    >>> c, k, d = market_coefficients([1.0, 2.0], [10.0, 20.0], 0.5, [3.0], 2.0, 1.0, 0.0)
    >>> c.tolist(), k.tolist(), d.tolist()
    ([[[1.5, 2.5]]], [[0.2, 0.1]], [[3.0]])
    """
    return _torch_coefficients(_inputs(MarketInputs(*args, **kwargs)))


def _torch_coefficients(ts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    price, capacity, latency, demand, w_q, w_d, b, w_p = ts
    n, m = demand.shape[-1], price.shape[-1]
    if latency.dim() <= 1:
        latency = latency.expand(n, m)
    if b.dim() == 0:
        b = b.expand(m)
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
    return cost, slope, demand


def _float64_cpu(args: tuple[Any, ...]) -> bool:
    """Whether every tensor among ``args`` is float64 on the CPU (the fused path's inputs)."""
    for t in args:
        if isinstance(t, torch.Tensor) and not (t.dtype == torch.float64 and t.is_cpu):
            return False
    return True


def _solve(
    args: tuple[Any, ...], warm: np.ndarray | None, linalg: str, keep_batch: bool
) -> tuple[torch.Tensor, np.ndarray]:
    """Flows and the supports ``(B, n, m)`` found, by the fused path when it applies.

    The flows are ``(B, n, m)``, or ``(n, m)`` when no input has a batch dimension and not
    ``keep_batch``.
    """
    if linalg not in ("auto", "numpy", "torch"):
        raise ValueError(f"linalg: expected 'auto', 'numpy' or 'torch', got {linalg!r}")
    if linalg != "torch" and _float64_cpu(args):
        return fused_flows(args, warm, keep_batch)
    ts = _inputs(args)
    cost, slope, dem = _torch_coefficients(ts)
    if warm is not None and warm.shape != tuple(cost.shape):
        warm = None
    flows, supports = equilibrium_from_coefficients(
        cost, slope, dem, warm_start=warm, return_support=True, linalg=linalg
    )
    return (flows if keep_batch or is_batched(ts) else flows[0]), supports


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
        ``"auto"``, ``"numpy"`` or ``"torch"``: see
        :func:`~prillm.torch_equilibrium.coefficients.equilibrium_from_coefficients`. With
        ``"auto"`` and float64 CPU tensors, the whole map is one autograd node.

    Returns
    -------
    torch.Tensor
        Flows ``(B, n, m)`` (``(n, m)`` if no input has a batch dimension).

    Raises
    ------
    ValueError
        On wrong shapes, ``w_q <= 0`` or a capacity ``<= 0``, negative demand, NaN.

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
    args = (price, capacity, latency, demand, w_q, w_d, b, w_p)
    return _solve(args, warm_start, linalg, keep_batch=False)[0]


class MarketLayer(ABC):
    """A layer called with the eight market inputs of :func:`equilibrium_flows`.

    Subclasses say how the flows are found (:meth:`flows`); the arguments, their broadcasting
    and units are those of :func:`equilibrium_flows`.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Flows ``(B, n, m)`` of the eight inputs of :func:`equilibrium_flows`.

        They are passed positionally or by name (``w_p`` defaults to 1), bound by
        :class:`~prillm.torch_equilibrium.fused.MarketInputs`.
        """
        return self.flows(MarketInputs(*args, **kwargs))

    @abstractmethod
    def flows(self, args: tuple[Any, ...]) -> torch.Tensor:
        """Flows ``(B, n, m)`` of the eight inputs ``args`` (in the order of the call)."""


class EquilibriumLayer(MarketLayer):
    """:func:`equilibrium_flows` with warm starts: remembers the last supports it found.

    Calibration solves the same batch of markets again and again with slowly changing
    preferences; starting the exact solver from the previous supports saves most of its
    iterations.

    Examples
    --------
    >>> layer = EquilibriumLayer()
    >>> f = layer([1.0, 1.2], [1e6, 1e6], 0.0, [1e6], w_q=1.0, w_d=0.0, b=0.0)
    >>> layer.supports.shape
    (1, 1, 2)
    """

    def __init__(self) -> None:
        self.supports: np.ndarray | None = None

    def flows(self, args: tuple[Any, ...]) -> torch.Tensor:
        """Flows ``(B, n, m)``, the exact solver started from the remembered supports."""
        # a stale shape of the remembered supports is ignored
        flows, self.supports = _solve(args, self.supports, "auto", keep_batch=True)
        return flows
