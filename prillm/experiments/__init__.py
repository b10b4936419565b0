"""Experiments that run the library on data and return tidy results.

- :mod:`~prillm.experiments.real_data` — calibrating the game on the shipped public OpenRouter
  figures (daily model volumes of 2025, the 2026 app x model snapshot).
"""

from __future__ import annotations

from prillm._optional import lazy_exports

#: Public name -> the module that defines it (imported on first use, PEP 562).
_EXPORTS: dict[str, str] = {
    "BuiltPanel": "prillm.experiments.real_data",
    "DailyFit": "prillm.experiments.real_data",
    "SnapshotFit": "prillm.experiments.real_data",
    "app_snapshot_panel": "prillm.experiments.real_data",
    "daily_volume_panel": "prillm.experiments.real_data",
    "fit_app_snapshot": "prillm.experiments.real_data",
    "fit_daily_volumes": "prillm.experiments.real_data",
    "metrics_summary": "prillm.experiments.real_data",
    "naive_share_forecasts": "prillm.experiments.real_data",
    "rolling_forecast": "prillm.experiments.real_data",
    "w_q_profile": "prillm.experiments.real_data",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
