"""Market simulators the calibrated game is compared with (Figure 3 of the paper).

- :func:`~prillm.baselines.npm.calibrate_npm` — NPM: objective factors only (``b = 0``), fits
  ``w_q`` and ``w_d``;
- :func:`~prillm.baselines.noq.calibrate_noq` — PriLLM without the congestion term (a
  well-posed variant with a tiny fixed ``w_q``);
- :func:`~prillm.baselines.xgboost_model.fit_xgboost` — XGBoost regression of the flows from
  market features, no game.

Each returns a :class:`prillm.calibration.CalibrationResult` measured like the game's.
"""

from __future__ import annotations

from prillm._optional import lazy_exports

#: Public name -> the module that defines it (imported on first use, PEP 562).
_EXPORTS: dict[str, str] = {
    "NOQ_W_Q": "prillm.baselines.noq",
    "calibrate_noq": "prillm.baselines.noq",
    "calibrate_npm": "prillm.baselines.npm",
    "XGBoostFlowModel": "prillm.baselines.xgboost_model",
    "fit_xgboost": "prillm.baselines.xgboost_model",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
