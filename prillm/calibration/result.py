"""The result type shared by every calibration method, and flow prediction for a panel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm.calibration.metrics import FitMetrics, fit_metrics
from prillm.calibration.panel import Panel
from prillm.calibration.params import _b_in_order
from prillm.equilibrium import solve_active_set
from prillm.market import MarketError, Preferences

__all__ = ["CalibrationError", "CalibrationResult", "evaluate", "predict_flows"]


class CalibrationError(MarketError):
    """The data cannot be calibrated as asked (e.g. the exact LP of Algorithm 1 is infeasible)."""


@dataclass(frozen=True)
class CalibrationResult:
    """What a calibration method returns.

    Attributes
    ----------
    method
        Name of the method (``"gradient"``, ``"fd"``, ``"a2c"``, ``"npm"``, ``"noq"``,
        ``"xgboost"``...).
    prefs
        Learned preferences (``None`` for a model without a game, e.g. XGBoost).
    loss_history
        Training loss after each step (the scaled loss of Eq. 6, see
        :func:`prillm.calibration.gradient.calibrate`), first entry at the initial point.
    train, test
        Fit metrics on the training days and on the held-out days (``test`` is ``None`` when
        there were none).
    wall_time
        Seconds spent learning (excluding the evaluation).
    info
        Method-specific details (iterations, evaluations, initial loss, ...).
    """

    method: str
    prefs: Preferences | None
    loss_history: list[float]
    train: FitMetrics
    test: FitMetrics | None
    wall_time: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary."""
        return {
            "method": self.method,
            "preferences": None if self.prefs is None else self.prefs.to_dict(),
            "loss_history": [float(v) for v in self.loss_history],
            "train": self.train.to_dict(),
            "test": None if self.test is None else self.test.to_dict(),
            "wall_time_s": self.wall_time,
            "info": {k: v for k, v in self.info.items() if isinstance(v, (int, float, str, bool))},
        }


def predict_flows(panel: Panel, prefs: Preferences) -> np.ndarray:
    """Equilibrium flows ``(T, n, m)`` of every day of ``panel`` under ``prefs`` (exact)."""
    b = _b_in_order(prefs, panel.provider_ids)
    out = np.zeros(panel.flows.shape)
    for t in range(panel.n_days):
        cost = prefs.w_p * panel.price[t][None, :] + prefs.w_d * panel.latency[t] - b[None, :]
        out[t] = solve_active_set(cost, prefs.w_q / panel.capacity[t], panel.demand[t]).flows
    return out


def evaluate(panel: Panel, prefs: Preferences) -> FitMetrics:
    """Fit metrics of ``prefs`` on ``panel`` (predicted equilibrium vs observed flows)."""
    return fit_metrics(predict_flows(panel, prefs), panel.flows)
