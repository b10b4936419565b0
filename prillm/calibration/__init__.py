"""Calibrating the users' hidden preferences to observed flows (Section 4 of the paper).

- :mod:`~prillm.calibration.panel` — the data: T observed days of one market;
- :mod:`~prillm.calibration.lp_init` — Algorithm 1, the LP initialisation of ``b`` (Eq. 21-25);
- :mod:`~prillm.calibration.gradient` — learning by exact gradients through the equilibrium
  (Eq. 6, Theorem 2);
- :mod:`~prillm.calibration.fd` — the same optimiser with finite-difference gradients (FD);
- :mod:`~prillm.calibration.a2c` — an actor-critic agent choosing the parameters (A2C);
- :mod:`prillm.baselines` — market simulators without hidden preferences (NPM, noQ, XGBoost).
"""

from prillm.calibration.compare import ALL_METHODS, compare_methods, predictions, results_table
from prillm.calibration.gradient import calibrate
from prillm.calibration.lp_init import LPInitResult, initial_preferences, observable_marginal_costs
from prillm.calibration.metrics import FitMetrics, fit_metrics, preference_errors
from prillm.calibration.panel import PANEL_FORMAT, Panel, load_panel_file, synthetic_panel
from prillm.calibration.result import (
    CalibrationError,
    CalibrationResult,
    evaluate,
    predict_flows,
)

__all__ = [
    "ALL_METHODS",
    "PANEL_FORMAT",
    "CalibrationError",
    "CalibrationResult",
    "FitMetrics",
    "LPInitResult",
    "Panel",
    "calibrate",
    "compare_methods",
    "evaluate",
    "fit_metrics",
    "initial_preferences",
    "load_panel_file",
    "observable_marginal_costs",
    "predict_flows",
    "predictions",
    "preference_errors",
    "results_table",
    "synthetic_panel",
]
