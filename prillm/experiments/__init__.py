"""Experiments that run the library on data and return tidy records (lists of dicts).

One module per experiment; the book's chapters display what they return.

- :mod:`~prillm.experiments.pricing_methods` — the pricing methods of Problem 1 on random
  markets (chapter 4): :func:`compare_pricing_methods`, :func:`summarise_pricing`;
- :mod:`~prillm.experiments.calibration_methods` — every calibration method on one split
  (chapter 5, Figure 3 and Table 2): :func:`compare_calibration_methods`, :func:`method_table`,
  :func:`method_predictions`;
- :mod:`~prillm.experiments.daily_volumes` — the game calibrated on the 2025 daily model volumes
  (chapter 6): :func:`daily_volume_panel`, :func:`fit_daily_volumes`, :func:`w_q_profile`, ...;
- :mod:`~prillm.experiments.app_snapshot` — the game calibrated on the 2026 app x model snapshot
  (chapter 6): :func:`app_snapshot_panel`, :func:`fit_app_snapshot`.
"""

from prillm.experiments.app_snapshot import (
    PRICE_WINDOW_DAYS,
    SNAPSHOT_PRICE_DATE,
    SnapshotFit,
    app_snapshot_panel,
    fit_app_snapshot,
)
from prillm.experiments.calibration_methods import (
    ALL_METHODS,
    compare_calibration_methods,
    method_predictions,
    method_table,
)
from prillm.experiments.daily_volumes import (
    DailyFit,
    daily_volume_panel,
    fit_daily_volumes,
    naive_share_forecasts,
    rolling_forecast,
    w_q_profile,
)
from prillm.experiments.pricing_methods import compare_pricing_methods, summarise_pricing
from prillm.experiments.tables import metrics_summary

__all__ = [
    "ALL_METHODS",
    "PRICE_WINDOW_DAYS",
    "SNAPSHOT_PRICE_DATE",
    "DailyFit",
    "SnapshotFit",
    "app_snapshot_panel",
    "compare_calibration_methods",
    "compare_pricing_methods",
    "daily_volume_panel",
    "fit_app_snapshot",
    "fit_daily_volumes",
    "method_predictions",
    "method_table",
    "metrics_summary",
    "naive_share_forecasts",
    "rolling_forecast",
    "summarise_pricing",
    "w_q_profile",
]
