"""The calibration loss of Eq. (6), scaled, with its exact gradient through the equilibrium.

.. math::

    \\mathcal L(\\theta) = \\sum_{t=1}^T \\big\\|F^*(\\theta; D_t, O_t) - F^{real}_t\\big\\|_2^2

Token volumes are 1e6-1e10, so the loss is reported and optimised as the *normalised* squared
error ``L(theta) / sum_t ||F^real_t||^2`` (a number between 0 and about 1, independent of units;
minimising it minimises Eq. 6). :meth:`CalibrationObjective.value_and_grad` differentiates it
with :func:`prillm.torch_equilibrium.equilibrium_flows` (Theorem 2, Eq. 19-20);
:meth:`CalibrationObjective.value` evaluates it with the exact numpy solver, the black box the
finite-difference and actor-critic baselines use.
"""

from __future__ import annotations

import numpy as np
import torch

from prillm.calibration.panel import Panel
from prillm.calibration.params import Parametrisation
from prillm.equilibrium import solve_active_set
from prillm.torch_equilibrium import EquilibriumLayer

__all__ = ["CalibrationObjective"]


class CalibrationObjective:
    """Scaled Eq. (6) on a panel, as a function of the free vector ``u``.

    Parameters
    ----------
    panel
        The training days.
    param
        The :class:`~prillm.calibration.params.Parametrisation` of ``u``.
    """

    def __init__(self, panel: Panel, param: Parametrisation) -> None:
        self.panel = panel
        self.param = param
        self.scale = float((panel.flows**2).sum())
        if self.scale <= 0:
            raise ValueError("flows: the panel has no observed flow to fit")
        f64 = torch.float64
        self._t = {
            "price": torch.as_tensor(panel.price, dtype=f64),
            "capacity": torch.as_tensor(panel.capacity, dtype=f64),
            "latency": torch.as_tensor(panel.latency, dtype=f64),
            "demand": torch.as_tensor(panel.demand, dtype=f64),
            "flows": torch.as_tensor(panel.flows, dtype=f64),
        }
        self.layer = EquilibriumLayer()
        self.evaluations = 0
        self.gradient_evaluations = 0

    def value_and_grad(self, u: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss and its exact gradient (implicit differentiation, one adjoint solve per day)."""
        ut = torch.tensor(np.asarray(u, dtype=float), dtype=torch.float64, requires_grad=True)
        loss = self.torch_loss(ut)
        loss.backward()
        self.gradient_evaluations += 1
        assert ut.grad is not None
        return float(loss.detach()), ut.grad.numpy().copy()

    def torch_loss(self, u: torch.Tensor) -> torch.Tensor:
        """The scaled loss as a differentiable torch scalar."""
        p = self.param.split(u)
        t = self._t
        pred = self.layer(
            t["price"], t["capacity"], t["latency"], t["demand"], p["w_q"], p["w_d"], p["b"]
        )
        return ((pred - t["flows"]) ** 2).sum() / self.scale

    def value(self, u: np.ndarray) -> float:
        """Loss by the exact numpy solver (no gradient): the black box of FD and A2C."""
        p = self.param.split(np.asarray(u, dtype=float))
        pnl = self.panel
        b = np.asarray(p["b"], dtype=float)
        sse = 0.0
        for k in range(pnl.n_days):
            cost = pnl.price[k][None, :] + p["w_d"] * pnl.latency[k] - b[None, :]
            flows = solve_active_set(cost, p["w_q"] / pnl.capacity[k], pnl.demand[k]).flows
            sse += float(((flows - pnl.flows[k]) ** 2).sum())
        self.evaluations += 1
        return sse / self.scale
