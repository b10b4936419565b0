"""Small helpers that turn library results into the tidy records the experiments return."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

from prillm.calibration.identifiability import IdentifiabilityWarning
from prillm.calibration.metrics import FitMetrics

__all__ = ["group_records", "metrics_summary", "recording_identifiability"]

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


def group_records(
    records: Iterable[Mapping[str, Any]], *keys: str
) -> dict[tuple[Any, ...], list[Mapping[str, Any]]]:
    """The records grouped by their values of ``keys``: groups, and records in each, in the
    order met (what every ``summarise_*`` reduces to one row per group).

    Examples
    --------
    >>> rows = [{"m": "a", "x": 1}, {"m": "b", "x": 2}, {"m": "a", "x": 3}]
    >>> {k: [r["x"] for r in rs] for k, rs in group_records(rows, "m").items()}
    {('a',): [1, 3], ('b',): [2]}
    """
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups
