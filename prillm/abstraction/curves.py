"""Profit curves: the original one from the exact price path, the abstracted one differentiably.

The target's profit ``Psi(p) = (p - c_s) F_s(p) / 1e6`` in the original game is piecewise
quadratic: :func:`prillm.pricing.exact.price_path` returns its pieces (``F_s`` affine on each),
so sampling it at any prices costs nothing more (:func:`curve_from_pieces`, with
:func:`pieces_array`: both defined in :mod:`prillm.pricing.explain`, which evaluates the same
curve for :func:`prillm.pricing.explain.explain_price`, and re-exported here). In the abstracted
game the profit at ``L`` sampled prices comes from the differentiable equilibrium
(:func:`abstract_profits`), so that the curve loss of paper Eq. (7) (:func:`curve_loss`) can be
differentiated into the scores and the network.

:func:`batched_flows` is the single place where this package calls the differentiable
equilibrium. By default it makes one call of
:func:`prillm.torch_equilibrium.batched_equilibrium` for all ``B L`` abstracted games (every
scenario at every sampled price): supports, flows and the adjoint solve are batched torch
operations, with no loop over games. ``engine="exact"`` is the reference path
(:func:`prillm.torch_equilibrium.equilibrium_from_coefficients`: the numpy engine one game at a
time); both return the same flows and gradients to round-off (``tests/test_abstraction.py``);
on a training step (tens of scenarios x 16 prices) the batched one is an order of magnitude
faster (``benchmarks/bench_abstraction.py --curves`` measures both).

References
----------
Paper Eq. (2) (the profit), Eq. (7) (the curve loss), Eq. (19-20) (the equilibrium's gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from prillm.abstraction.aggregate import RivalTensors
from prillm.market import TOKENS_PER_PRICE_UNIT
from prillm.pricing.explain import curve_from_pieces, pieces_array
from prillm.torch_equilibrium import batched_equilibrium, equilibrium_from_coefficients

#: Engines of :func:`batched_flows`.
ENGINES = ("batched", "exact")

__all__ = [
    "ENGINES",
    "TargetTensors",
    "abstract_profits",
    "batched_flows",
    "curve_from_pieces",
    "curve_loss",
    "pieces_array",
]


def batched_flows(
    cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor, engine: str = "batched"
) -> torch.Tensor:
    """Differentiable equilibrium flows ``(B, n, m)`` of a batch of games (Eq. 13, 19-20).

    ``cost (B, n, m)``, ``slope (B, m)``, ``demand (B, n)``: the coefficients of Eq. (4-5).
    ``engine``: ``"batched"`` (one call of
    :func:`~prillm.torch_equilibrium.batched_equilibrium` for the whole batch) or ``"exact"``
    (the numpy engine, one game at a time; the reference). The only call of the torch
    equilibrium in this package.
    """
    if engine == "batched":
        flows = batched_equilibrium(cost, slope, demand)
    elif engine == "exact":
        flows = equilibrium_from_coefficients(cost, slope, demand)
    else:
        raise ValueError(f"engine: expected one of {ENGINES}, got {engine!r}")
    assert isinstance(flows, torch.Tensor)
    return flows


@dataclass(frozen=True)
class TargetTensors:
    """The target and the users of a batch of ``B`` games (``n`` users).

    Attributes
    ----------
    capacity, value
        ``(B,)`` the target's capacity and perceived value ``b_s``.
    latency
        ``(B, n)`` the target's latency to each user.
    demand
        ``(B, n)`` the users' demand.
    w_p, w_q, w_d
        ``(B,)`` the preference weights.
    """

    capacity: torch.Tensor
    value: torch.Tensor
    latency: torch.Tensor
    demand: torch.Tensor
    w_p: torch.Tensor
    w_q: torch.Tensor
    w_d: torch.Tensor


def abstract_profits(
    target: TargetTensors,
    rivals: RivalTensors,
    prices: torch.Tensor,
    marginal_cost: float = 0.0,
    engine: str = "batched",
) -> torch.Tensor:
    """The target's profit (USD) at ``prices (B, L)`` in the games target + ``rivals``.

    Builds the ``B L`` games (target in column 0, ``n`` users, ``1 + K`` providers), solves
    their equilibria with one call of :func:`batched_flows` (``engine`` passed on) and returns
    ``(p - c_s) F_s / 1e6``, shape ``(B, L)``, differentiable in the rivals' attributes (and
    through them in the scores).
    """
    batch, n_prices = prices.shape
    n = target.demand.shape[1]
    k = rivals.n_rivals
    w_p, w_q, w_d = target.w_p[:, None], target.w_q[:, None], target.w_d[:, None]
    rival_cost = (
        w_p[:, :, None] * rivals.price[:, None, :]
        + w_d[:, :, None] * rivals.latency
        - rivals.value[:, None, :]
    )  # (B, n, K)
    base_s = w_d * target.latency - target.value[:, None]  # (B, n)
    cost_s = base_s[:, None, :] + (w_p * prices)[:, :, None]  # (B, L, n)
    cost = torch.cat([cost_s[..., None], rival_cost[:, None].expand(batch, n_prices, n, k)], dim=3)
    capacity = torch.cat([target.capacity[:, None], rivals.capacity], dim=1)  # (B, 1 + K)
    slope = (w_q / capacity)[:, None, :].expand(batch, n_prices, k + 1)
    demand = target.demand[:, None, :].expand(batch, n_prices, n)
    flows = batched_flows(
        cost.reshape(batch * n_prices, n, k + 1),
        slope.reshape(batch * n_prices, k + 1),
        demand.reshape(batch * n_prices, n),
        engine=engine,
    )
    load = flows[:, :, 0].sum(dim=1).reshape(batch, n_prices)
    return (prices - marginal_cost) * load / TOKENS_PER_PRICE_UNIT


def curve_loss(y: torch.Tensor, y_hat: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The curve loss of paper Eq. (7), for a batch of curves.

    .. math::

        \\mathcal L_{curve} = \\frac1L \\sum_{k=1}^L
            \\Big(\\frac{Y_k}{\\|Y\\|_\\infty} - \\frac{\\hat Y_k}{\\|Y\\|_\\infty}\\Big)^2

    Parameters
    ----------
    y, y_hat
        ``(B, L)`` (or ``(L,)``) original and abstracted profits at the same prices.
    reduction
        ``"mean"`` over the batch, or ``"none"`` for one loss per curve.

    Raises
    ------
    ValueError
        If the shapes differ or a curve of ``y`` is zero everywhere (``||Y||_inf = 0``).

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    >>> y_hat = torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64)
    >>> float(curve_loss(y, y_hat))  # ((0)^2 + (1/4)^2 + (2/4)^2) / 3
    0.10416666666666667
    """
    if y.shape != y_hat.shape:
        raise ValueError(f"y, y_hat: shapes differ, {tuple(y.shape)} and {tuple(y_hat.shape)}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction: expected 'mean' or 'none', got {reduction!r}")
    y2, h2 = (y[None], y_hat[None]) if y.dim() == 1 else (y, y_hat)
    scale = y2.abs().amax(dim=1, keepdim=True)
    if bool((scale <= 0).any()):
        raise ValueError("y: a profit curve is zero at every sampled price (||Y||_inf = 0)")
    per_curve = ((y2 - h2) / scale).pow(2).mean(dim=1)
    if reduction == "none":
        return per_curve if y.dim() == 2 else per_curve[0]
    return per_curve.mean()
