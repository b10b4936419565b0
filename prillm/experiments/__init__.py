"""Experiments that run the library on data and return tidy records (lists of dicts).

One module per experiment; the book's chapters display what they return.

- :mod:`~prillm.experiments.pricing_methods` — the pricing methods of Problem 1 on random
  markets (chapter 4): :func:`compare_pricing_methods`, :func:`summarise_pricing`,
  :func:`price_with_methods` (one market); its figure :func:`ratio_figure`
  (:mod:`~prillm.experiments.pricing_plots`);
- :mod:`~prillm.experiments.calibration_methods` — every calibration method on one split
  (chapter 5, Figure 3 and Table 2): :func:`compare_calibration_methods`, :func:`method_table`,
  :func:`method_predictions`; its figures in :mod:`~prillm.experiments.calibration_plots`:
  :func:`flow_series_figure`, :func:`fit_grid_figure`;
- :mod:`~prillm.experiments.daily_volumes` — the game calibrated on the 2025 daily model volumes
  (chapter 6): :func:`daily_volume_panel`, :func:`fit_daily_volumes`, :func:`w_q_profile`, ...;
- :mod:`~prillm.experiments.nowcast` — the game as a nowcaster of those volumes (values from the
  latest day, ``w_q`` from the window; chapter 6): :func:`nowcast`, :func:`game_elasticities`;
- :mod:`~prillm.experiments.executor` — :func:`run_sweep`: an experiment's seeded tasks run
  serially, on local processes, on any ``concurrent.futures`` executor or a Dask cluster, with
  the same results in the same order and failures kept as :class:`TaskFailure` records;
- :mod:`~prillm.experiments.table1` — Table 1 of the paper: every pricing method on held-out
  scenarios of the four segments: :func:`table1_records`, :func:`summarise_table1`,
  :func:`improvement_over` (one scenario and method: :mod:`~prillm.experiments.scenario_runs`);
- :mod:`~prillm.experiments.table3` — Table 3 of the paper (DA vs MIN vs AVG on the 6- and
  8-LLM Economy markets, BF's time on the full game) and its ``K`` sweep:
  :func:`table3_records`, :func:`summarise_table3`, :func:`k_sweep`, :func:`summarise_k_sweep`;
- :mod:`~prillm.experiments.app_snapshot` — the game calibrated on the 2026 app x model snapshot
  (chapter 6): :func:`app_snapshot_panel`, :func:`fit_app_snapshot`;
- :mod:`~prillm.experiments.real_data_records` and :mod:`~prillm.experiments.real_data_plots` —
  the rows of chapter 6's tables and its figures.
"""

from __future__ import annotations

from prillm._optional import lazy_exports

#: Public name -> the module that defines it (imported on first use, PEP 562).
_EXPORTS: dict[str, str] = {
    "PRICE_WINDOW_DAYS": "prillm.experiments.app_snapshot",
    "SNAPSHOT_PRICE_DATE": "prillm.experiments.app_snapshot",
    "SnapshotFit": "prillm.experiments.app_snapshot",
    "app_snapshot_panel": "prillm.experiments.app_snapshot",
    "fit_app_snapshot": "prillm.experiments.app_snapshot",
    "compare_calibration_methods": "prillm.experiments.calibration_methods",
    "method_predictions": "prillm.experiments.calibration_methods",
    "method_table": "prillm.experiments.calibration_methods",
    "fit_grid_figure": "prillm.experiments.calibration_plots",
    "flow_series_figure": "prillm.experiments.calibration_plots",
    "DailyFit": "prillm.experiments.daily_volumes",
    "EXECUTORS": "prillm.experiments.executor",
    "TaskFailure": "prillm.experiments.executor",
    "run_sweep": "prillm.experiments.executor",
    "daily_volume_panel": "prillm.experiments.daily_volumes",
    "fit_daily_volumes": "prillm.experiments.daily_volumes",
    "naive_share_forecasts": "prillm.experiments.daily_volumes",
    "rolling_forecast": "prillm.experiments.daily_volumes",
    "w_q_profile": "prillm.experiments.daily_volumes",
    "Nowcast": "prillm.experiments.nowcast",
    "game_elasticities": "prillm.experiments.nowcast",
    "nowcast": "prillm.experiments.nowcast",
    "compare_pricing_methods": "prillm.experiments.pricing_methods",
    "price_with_methods": "prillm.experiments.pricing_methods",
    "ratio_figure": "prillm.experiments.pricing_plots",
    "summarise_pricing": "prillm.experiments.pricing_methods",
    "metrics_summary": "prillm.experiments.tables",
    "PAPER_IMPROVEMENT": "prillm.experiments.table1",
    "PAPER_TABLE1": "prillm.experiments.table1",
    "SEGMENTS": "prillm.experiments.table1",
    "TABLE1_METHODS": "prillm.experiments.table1",
    "TABLE1_OPTIONS": "prillm.experiments.table1",
    "TABLE1_QUICK": "prillm.experiments.table1",
    "improvement_over": "prillm.experiments.table1",
    "summarise_table1": "prillm.experiments.table1",
    "table1_records": "prillm.experiments.table1",
    "table1_tasks": "prillm.experiments.table1",
    "ABSTRACTIONS": "prillm.experiments.table3",
    "PAPER_K_GAP": "prillm.experiments.table3",
    "PAPER_TABLE3": "prillm.experiments.table3",
    "TABLE3_MARKETS": "prillm.experiments.table3",
    "TABLE3_QUICK": "prillm.experiments.table3",
    "K_SWEEP_QUICK": "prillm.experiments.table3",
    "k_sweep": "prillm.experiments.table3",
    "summarise_k_sweep": "prillm.experiments.table3",
    "summarise_table3": "prillm.experiments.table3",
    "table3_records": "prillm.experiments.table3",
    "held_out_scenario": "prillm.experiments.scenario_runs",
    "run_method_task": "prillm.experiments.scenario_runs",
    "FORECAST_LABELS": "prillm.experiments.real_data_records",
    "daily_model_rows": "prillm.experiments.real_data_records",
    "elasticity_rows": "prillm.experiments.real_data_records",
    "forecast_rows": "prillm.experiments.real_data_records",
    "snapshot_metric_rows": "prillm.experiments.real_data_records",
    "snapshot_price_rows": "prillm.experiments.real_data_records",
    "snapshot_sources": "prillm.experiments.real_data_records",
    "daily_forecast_figure": "prillm.experiments.real_data_plots",
    "elasticity_figure": "prillm.experiments.real_data_plots",
    "net_value_figure": "prillm.experiments.real_data_plots",
    "nowcast_w_q_figure": "prillm.experiments.real_data_plots",
    "snapshot_heatmaps_figure": "prillm.experiments.real_data_plots",
    "snapshot_scatter_figure": "prillm.experiments.real_data_plots",
    "w_q_profile_figure": "prillm.experiments.real_data_plots",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
