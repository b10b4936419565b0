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

import importlib
from typing import Any

from prillm.calibration.registry import CalibrationMethod, register_method

__all__ = ["NOQ_W_Q", "XGBoostFlowModel", "calibrate_noq", "calibrate_npm", "fit_xgboost"]

_LAZY = {
    "NOQ_W_Q": "noq",
    "calibrate_noq": "noq",
    "calibrate_npm": "npm",
    "XGBoostFlowModel": "xgboost_model",
    "fit_xgboost": "xgboost_model",
}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"prillm.baselines.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prillm.baselines' has no attribute {name!r}")
