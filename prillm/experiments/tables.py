"""Small helpers that turn library results into the tidy records the experiments return."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from prillm.calibration.identifiability import IdentifiabilityWarning
from prillm.calibration.metrics import FitMetrics

__all__ = ["metrics_summary", "recording_identifiability"]

T = TypeVar("T")


def metrics_summary(m: FitMetrics) -> dict[str, float]:
    """R^2 and MAE / RMSE in million tokens (the units the paper reports its MAE in)."""
    return {"r2": m.r2, "mae_M": m.mae / 1e6, "rmse_M": float(np.sqrt(m.mse)) / 1e6}


def recording_identifiability(fit: Callable[[], T]) -> T:
    """Run ``fit`` with its :class:`IdentifiabilityWarning` silenced.

    The experiments report what a fit could not identify in their records (from
    :attr:`CalibrationResult.identifiability`) instead of printing warnings; other warnings
    pass through.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IdentifiabilityWarning)
        return fit()
