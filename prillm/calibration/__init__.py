"""Calibrating the users' hidden preferences to observed flows (Section 4 of the paper).

- :mod:`~prillm.calibration.panel` — the data: T observed days of one market;
- :mod:`~prillm.calibration.lp_init` — Algorithm 1, the LP initialisation of ``b`` (Eq. 21-25);
- :mod:`~prillm.calibration.gradient` — learning by exact gradients through the equilibrium
  (Eq. 6, Theorem 2);
- :mod:`~prillm.calibration.fd` — the same optimiser with finite-difference gradients (FD);
- :mod:`~prillm.calibration.a2c` — an actor-critic agent choosing the parameters (A2C);
- :mod:`prillm.baselines` — market simulators without hidden preferences (NPM, noQ, XGBoost).
"""

from __future__ import annotations

from prillm._optional import lazy_exports

#: Public name -> the module that defines it (imported on first use, PEP 562).
_EXPORTS: dict[str, str] = {
    "ALL_METHODS": "prillm.calibration.compare",
    "compare_methods": "prillm.calibration.compare",
    "predictions": "prillm.calibration.compare",
    "results_table": "prillm.calibration.compare",
    "calibrate": "prillm.calibration.gradient",
    "LPInitResult": "prillm.calibration.lp_init",
    "initial_preferences": "prillm.calibration.lp_init",
    "observable_marginal_costs": "prillm.calibration.lp_init",
    "FitMetrics": "prillm.calibration.metrics",
    "fit_metrics": "prillm.calibration.metrics",
    "preference_errors": "prillm.calibration.metrics",
    "PANEL_FORMAT": "prillm.calibration.panel",
    "Panel": "prillm.calibration.panel",
    "load_panel_file": "prillm.calibration.panel",
    "synthetic_panel": "prillm.calibration.panel",
    "CalibrationError": "prillm.calibration.result",
    "CalibrationResult": "prillm.calibration.result",
    "evaluate": "prillm.calibration.result",
    "predict_flows": "prillm.calibration.result",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, feature="calibration")
