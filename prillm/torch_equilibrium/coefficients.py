"""The differentiable equilibrium from the game coefficients ``c, k, D`` of Eq. (4-5).

:func:`equilibrium_from_coefficients` finds each market's support with the exact numpy engine
(:func:`prillm.equilibrium.solve_active_set`, one market at a time) and differentiates on it:

* ``linalg="numpy"`` (the CPU default): the engine's flows forward, and one adjoint solve per
  market backward with the engine's own factor of the final support
  (:class:`~prillm.torch_equilibrium.numpy_engine.Markets`). For markets of a few hundred
  routes the per-operation overhead of torch would cost more than the arithmetic.
* ``linalg="torch"``: the engine's flows forward too (moved to the inputs' device and dtype),
  and the adjoint solved by the torch kernel
  (:class:`~prillm.torch_equilibrium.kernel.SupportSystem`, factorised in the forward pass on
  the inputs' device): the GPU path. The flows are not recomputed from that factor: where a
  capacity dwarfs the demand, ``f = K (lambda - c) - F`` cancels in plain floating point (off by
  several percent of the demand at capacities of ``1e10`` times it), and only the engine's
  accurate refinement (:mod:`prillm.equilibrium.refine`) settles such flows.

For many small markets, :func:`~prillm.torch_equilibrium.batched.batched_equilibrium` also finds
the supports in torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from prillm.equilibrium import EquilibriumError
from prillm.torch_equilibrium.kernel import (
    SupportSystem,
    adjoint,
    batch_last,
    check_coefficients,
    scaled,
)
from prillm.torch_equilibrium.numpy_engine import Markets

__all__ = ["equilibrium_from_coefficients"]


class _NumpyAdjointEquilibrium(torch.autograd.Function):
    """CPU path: the exact solver's flows forward; backward by :meth:`Markets.gradients`."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor, solved: Markets
    ) -> torch.Tensor:
        ctx.solved = solved
        return torch.from_numpy(solved.flows.copy())

    @staticmethod
    def backward(ctx: Any, grad_flows: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        grads = ctx.solved.gradients(grad_flows.detach().numpy())
        return (*(torch.from_numpy(g) for g in grads), None)


class _FixedSupportEquilibrium(torch.autograd.Function):
    """The engine's flows forward; backward by the torch kernel's adjoint on their supports."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor, solved: Markets
    ) -> torch.Tensor:
        _, capa, _, d_scale, c_scale = scaled(*batch_last(cost, slope, demand))
        like = {"dtype": cost.dtype, "device": cost.device}
        a_last = torch.as_tensor(solved.supports, **like).permute(1, 2, 0).contiguous()
        sysm = SupportSystem(a_last, capa)
        if not bool(sysm.ok.all()):
            bad = torch.nonzero(~sysm.ok).flatten().tolist()
            raise EquilibriumError(
                f"markets {bad}: the fixed-support KKT matrix is not numerically positive "
                f"definite in {cost.dtype} (try float64, or linalg='numpy')"
            )
        flows = torch.as_tensor(solved.flows, **like)
        ctx.sysm = sysm
        ctx.save_for_backward(flows.permute(1, 2, 0), a_last, d_scale, c_scale)
        return flows

    @staticmethod
    def backward(ctx: Any, grad_flows: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        return (*adjoint(ctx.sysm, grad_flows, *ctx.saved_tensors), None)


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
        ``"torch"`` (the engine's flows forward, and one batched factorisation in torch for the
        adjoint, on the inputs' device: the GPU path), or ``"auto"`` (numpy for float64 CPU
        tensors, torch otherwise).

    Returns
    -------
    torch.Tensor
        Flows ``(B, n, m)`` on the device and in the dtype of ``cost``, differentiable with
        respect to all three inputs (Eq. 19-20).

    Raises
    ------
    ValueError
        On wrong shapes, ``slope <= 0``, negative demand, non-finite values or a bad option.
    prillm.equilibrium.EquilibriumError
        With ``linalg="torch"``, when the torch factorisation of a market's fixed-support
        system fails in the inputs' dtype (named with the markets).

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
    fused = linalg == "numpy" or (linalg == "auto" and cpu64)
    grads = torch.is_grad_enabled() and any(t.requires_grad for t in (cost, slope, demand))
    solved = Markets(c_np, k_np, d_np, warm_start, adjoint=fused and grads)
    supports = solved.supports
    if fused:
        flows = _NumpyAdjointEquilibrium.apply(cost, slope, demand, solved)
    else:
        flows = _FixedSupportEquilibrium.apply(cost, slope, demand, solved)
    if return_support:
        return flows, supports
    return flows
