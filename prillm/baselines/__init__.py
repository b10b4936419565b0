"""Market simulators the calibrated game is compared with (Figure 3 of the paper).

- :func:`~prillm.baselines.npm.calibrate_npm` — NPM: objective factors only (``b = 0``), fits
  ``w_q`` and ``w_d``;
- :func:`~prillm.baselines.noq.calibrate_noq` — PriLLM without the congestion term (a
  well-posed variant with a tiny fixed ``w_q``);
- :func:`~prillm.baselines.xgboost_model.fit_xgboost` — XGBoost regression of the flows from
  market features, no game.

Each returns a :class:`prillm.calibration.CalibrationResult` measured like the game's. Importing
this package registers the three in :data:`prillm.calibration.METHODS` (the facade
``prillm/__init__.py`` declares the join, so the registry imports this package when it is first
read); the modules themselves are imported when a name is used.
"""

from __future__ import annotations

from prillm._optional import lazy_exports
from prillm.calibration.registry import CalibrationMethod, register_method

#: Public name -> the module that defines it (imported on first use, PEP 562).
_EXPORTS: dict[str, str] = {
    "NOQ_W_Q": "prillm.baselines.noq",
    "calibrate_noq": "prillm.baselines.noq",
    "calibrate_npm": "prillm.baselines.npm",
    "XGBoostFlowModel": "prillm.baselines.xgboost_model",
    "fit_xgboost": "prillm.baselines.xgboost_model",
}

__all__ = sorted(_EXPORTS)

for _method in (
    CalibrationMethod(
        "npm",
        "prillm.baselines.npm:calibrate_npm",
        "NPM: objective factors only (b = 0), w_q and w_d learned",
        learns=("w_q", "w_d"),
    ),
    CalibrationMethod(
        "noq",
        "prillm.baselines.noq:calibrate_noq",
        "PriLLM-noQ: no congestion term (w_q fixed tiny), w_d and b learned",
        learns=("w_d", "b"),
    ),
    CalibrationMethod(
        "xgboost",
        "prillm.baselines.xgboost_model:fit_xgboost",
        "XGBoost: flows regressed on market features, no game",
        learns=(),
    ),
):
    register_method(_method, replace=True)

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
