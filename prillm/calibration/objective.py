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

from prillm.calibration.params import Parametrisation
from prillm.data.panel import Panel
from prillm.equilibrium import solve_active_set
from prillm.torch_equilibrium import EquilibriumLayer

__all__ = ["CalibrationObjective", "sse_of"]


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
        # a Panel has some positive flow (it is validated on construction): the scale is > 0
        self.scale = float((panel.flows**2).sum())
        f64 = torch.float64
        self._t = {
            "price": torch.tensor(panel.price, dtype=f64),
            "capacity": torch.tensor(panel.capacity, dtype=f64),
            "latency": torch.tensor(panel.latency, dtype=f64),
            "demand": torch.tensor(panel.demand, dtype=f64),
            "flows": torch.tensor(panel.flows, dtype=f64),
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
        self.evaluations += 1
        return sse_of(self.panel, p["w_q"], p["w_d"], np.asarray(p["b"], dtype=float)) / self.scale


def sse_of(panel: Panel, w_q: float, w_d: float, b: np.ndarray, w_p: float = 1.0) -> float:
    """Eq. (6) unscaled: the squared distance of the exact equilibria (numpy) to the flows."""
    sse = 0.0
    for k in range(panel.n_days):
        cost = w_p * panel.price[k][None, :] + w_d * panel.latency[k] - b[None, :]
        flows = solve_active_set(cost, w_q / panel.capacity[k], panel.demand[k]).flows
        sse += float(((flows - panel.flows[k]) ** 2).sum())
    return sse
