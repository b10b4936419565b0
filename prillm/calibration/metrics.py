"""Fit metrics for calibrated flows: R^2, MAE and MSE over every (day, user, provider) entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FitMetrics", "fit_metrics", "preference_errors"]


@dataclass(frozen=True)
class FitMetrics:
    """How well predicted flows match observed ones (pooled over all entries).

    Attributes
    ----------
    r2
        Coefficient of determination ``1 - SSE / SST`` (SST about the mean observed flow).
    mae
        Mean absolute error, tokens per period.
    mse
        Mean squared error, tokens squared.
    """

    r2: float
    mae: float
    mse: float

    def to_dict(self) -> dict[str, float]:
        """Plain-JSON representation."""
        return {"r2": self.r2, "mae": self.mae, "mse": self.mse}


def fit_metrics(predicted: np.ndarray, observed: np.ndarray) -> FitMetrics:
    """R^2, MAE and MSE of ``predicted`` against ``observed`` (same shape).

    Raises
    ------
    ValueError
        If the shapes differ or there is nothing to compare.
    """
    pred = np.asarray(predicted, dtype=float)
    obs = np.asarray(observed, dtype=float)
    if pred.shape != obs.shape or obs.size == 0:
        raise ValueError(f"predicted, observed: shapes {pred.shape} and {obs.shape} do not match")
    err = pred - obs
    sse = float((err**2).sum())
    sst = float(((obs - obs.mean()) ** 2).sum())
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    return FitMetrics(r2=r2, mae=float(np.abs(err).mean()), mse=sse / obs.size)


def preference_errors(learned: Any, truth: Any) -> dict[str, float]:
    """Parameter-recovery errors of learned preferences against planted ones.

    ``b`` is identified only up to a common shift (adding a constant to every ``b_j`` leaves
    each user's choice, hence the equilibrium, unchanged), so it is compared after centring.

    Returns
    -------
    dict
        ``w_q`` and ``w_d``: relative errors; ``b``: the largest absolute error of the centred
        ``b`` (USD per 1M tokens); ``b_rel``: that divided by the spread of the true ``b``.
    """
    bl = np.broadcast_to(np.asarray(learned.b, float), np.shape(truth.b) or (1,))
    bt = np.broadcast_to(np.asarray(truth.b, float), bl.shape)
    if learned.provider_ids is not None and truth.provider_ids is not None:
        lookup = dict(zip(learned.provider_ids, np.asarray(learned.b, float), strict=True))
        bl = np.array([lookup[p] for p in truth.provider_ids])
    err_b = float(np.abs((bl - bl.mean()) - (bt - bt.mean())).max())
    spread = float(bt.max() - bt.min())
    return {
        "w_q": abs(learned.w_q - truth.w_q) / truth.w_q,
        "w_d": abs(learned.w_d - truth.w_d) / truth.w_d,
        "b": err_b,
        "b_rel": err_b / spread if spread > 0 else float("nan"),
    }
