"""Experiments that run the library on data and return tidy results.

- :mod:`~prillm.experiments.real_data` — calibrating the game on the shipped public OpenRouter
  figures (daily model volumes of 2025, the 2026 app x model snapshot).
"""

from prillm.experiments.real_data import (
    BuiltPanel,
    DailyFit,
    SnapshotFit,
    app_snapshot_panel,
    daily_volume_panel,
    fit_app_snapshot,
    fit_daily_volumes,
    metrics_summary,
    naive_share_forecasts,
    rolling_forecast,
    w_q_profile,
)

__all__ = [
    "BuiltPanel",
    "DailyFit",
    "SnapshotFit",
    "app_snapshot_panel",
    "daily_volume_panel",
    "fit_app_snapshot",
    "fit_daily_volumes",
    "metrics_summary",
    "naive_share_forecasts",
    "rolling_forecast",
    "w_q_profile",
]
