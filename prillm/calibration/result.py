"""The result type shared by every calibration method, and flow prediction for a panel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm.calibration.metrics import FitMetrics, fit_metrics
from prillm.data.panel import Panel, aligned_b
from prillm.equilibrium import solve_active_set
from prillm.market import MarketError, Preferences

__all__ = ["CalibrationError", "CalibrationResult", "evaluate", "predict_flows", "scaled_loss"]


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
        The training loss (scaled Eq. 6, see :mod:`prillm.calibration.objective`) *at each
        step's point*, as measured there — first entry at the start. Not a best-so-far curve:
        it may rise (Adam, A2C); the preferences returned are those of the lowest loss
        evaluated, ``info["final_loss"]``.
    train, test
        Fit metrics on the training days and on the held-out days (``test`` is ``None`` when
        there were none).
    wall_time
        Seconds spent learning (excluding the evaluation).
    info
        Method-specific details: ``initial_loss``, ``final_loss`` (at the returned point),
        ``last_loss`` (at the last step), ``evaluations``, ``status``, ``weights_at_bound``
        (learned weights that ended on the box of :mod:`~prillm.calibration.params`), ...
    identifiability
        What the data could not tell: one record per finding, ``{"parameters": [...],
        "reason": "..."}`` (see :mod:`prillm.calibration.identifiability`); empty when nothing
        was found.
    model
        The fitted model of a method without a game (XGBoost), else ``None``.
    """

    method: str
    prefs: Preferences | None
    loss_history: list[float]
    train: FitMetrics
    test: FitMetrics | None
    wall_time: float
    info: dict[str, Any] = field(default_factory=dict)
    identifiability: tuple[dict[str, Any], ...] = ()
    model: Any = None

    @property
    def not_identified(self) -> tuple[str, ...]:
        """The parameters some finding names, in the order ``w_q, w_d, b...``."""
        names = {p for f in self.identifiability for p in f["parameters"]}
        order = {"w_q": 0, "w_d": 1}
        return tuple(sorted(names, key=lambda p: (order.get(p, 2), p)))

    def predict(self, panel: Panel) -> np.ndarray:
        """Predicted flows ``(T, n, m)`` of the fitted simulator on ``panel``."""
        if self.model is not None:
            return np.asarray(self.model.predict(panel))
        if self.prefs is None:
            raise MarketError(f"{self.method}: the result has neither preferences nor a model")
        return predict_flows(panel, self.prefs)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary (the model itself is left out)."""
        return {
            "method": self.method,
            "preferences": None if self.prefs is None else self.prefs.to_dict(),
            "loss_history": [float(v) for v in self.loss_history],
            "train": self.train.to_dict(),
            "test": None if self.test is None else self.test.to_dict(),
            "wall_time_s": self.wall_time,
            "identifiability": [dict(f) for f in self.identifiability],
            "info": {
                k: (list(v) if isinstance(v, tuple) else v)
                for k, v in self.info.items()
                if isinstance(v, (int, float, str, bool, tuple))
            },
        }


def predict_flows(panel: Panel, prefs: Preferences) -> np.ndarray:
    """Equilibrium flows ``(T, n, m)`` of every day of ``panel`` under ``prefs`` (exact)."""
    b = aligned_b(prefs, panel.provider_ids)
    out = np.zeros(panel.flows.shape)
    for t in range(panel.n_days):
        cost = prefs.w_p * panel.price[t][None, :] + prefs.w_d * panel.latency[t] - b[None, :]
        out[t] = solve_active_set(cost, prefs.w_q / panel.capacity[t], panel.demand[t]).flows
    return out


def scaled_loss(panel: Panel, prefs: Preferences) -> float:
    """The scaled loss of Eq. (6): ``sum_t ||F*(theta) - F_t||^2 / sum_t ||F_t||^2``."""
    err = predict_flows(panel, prefs) - panel.flows
    return float((err**2).sum() / (panel.flows**2).sum())


def evaluate(panel: Panel, prefs: Preferences) -> FitMetrics:
    """Fit metrics of ``prefs`` on ``panel`` (predicted equilibrium vs observed flows)."""
    return fit_metrics(predict_flows(panel, prefs), panel.flows)
