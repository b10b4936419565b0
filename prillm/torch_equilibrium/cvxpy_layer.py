"""The same equilibrium through a generic differentiable convex layer (cvxpylayers): a reference.

It shares nothing with the exact solver but the potential of Eq. (4-5), so tests and benchmarks
use it as the independent check of the flows and of their gradients.
"""

from __future__ import annotations

from typing import Any

import torch

from prillm.torch_equilibrium.flows import MarketLayer, market_coefficients
from prillm.torch_equilibrium.kernel import batch_last, scales

__all__ = ["CvxpyLayerEquilibrium"]


class CvxpyLayerEquilibrium(MarketLayer):
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
        from prillm._optional import optional_dependency

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
        d_scale, c_scale = scales(*batch_last(cost, slope, demand))
        s = torch.sqrt(slope * (d_scale / c_scale)[:, None] / 2.0)
        (x,) = self.layer(
            cost / c_scale[:, None, None],
            s,
            s[:, None, :].expand(-1, self.shape[0], -1),
            demand / d_scale[:, None],
            solver_args=self.solver_args,
        )
        return x * d_scale[:, None, None]

    def flows(self, args: tuple[Any, ...]) -> torch.Tensor:
        """Flows ``(B, n, m)`` of the eight inputs of :func:`equilibrium_flows`."""
        return self.from_coefficients(*market_coefficients(*args))
