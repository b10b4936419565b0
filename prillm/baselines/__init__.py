"""Market simulators the calibrated game is compared with (Figure 3 of the paper).

- :func:`~prillm.baselines.npm.calibrate_npm` — NPM: objective factors only (``b = 0``), fits
  ``w_q`` and ``w_d``;
- :func:`~prillm.baselines.noq.calibrate_noq` — PriLLM without the congestion term (a
  well-posed variant with a tiny fixed ``w_q``);
- :func:`~prillm.baselines.xgboost_model.fit_xgboost` — XGBoost regression of the flows from
  market features, no game.

Each returns a :class:`prillm.calibration.CalibrationResult` measured like the game's.
"""

from prillm.baselines.noq import NOQ_W_Q, calibrate_noq
from prillm.baselines.npm import calibrate_npm
from prillm.baselines.xgboost_model import XGBoostFlowModel, fit_xgboost

__all__ = ["NOQ_W_Q", "XGBoostFlowModel", "calibrate_noq", "calibrate_npm", "fit_xgboost"]
