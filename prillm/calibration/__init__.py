"""Calibrating the users' hidden preferences to observed flows (Section 4 of the paper).

The data are a :class:`prillm.data.Panel` (T observed days of one market). Modules:

- :mod:`~prillm.calibration.registry` — :data:`METHODS`, every calibration method by name,
  and :func:`run_method`; higher layers join it (``prillm.baselines``: NPM, noQ, XGBoost);
- :mod:`~prillm.calibration.lp_init` — Algorithm 1, the LP initialisation of ``b`` (Eq. 21-25);
- :mod:`~prillm.calibration.gradient` — learning by exact gradients through the equilibrium
  (Eq. 6, Theorem 2): :func:`calibrate`;
- :mod:`~prillm.calibration.fd` — the same optimiser with finite-difference gradients (FD);
- :mod:`~prillm.calibration.a2c` — an actor-critic agent choosing the parameters (A2C);
- :mod:`~prillm.calibration.fitting` — the optimiser and result assembly they share;
- :mod:`~prillm.calibration.identifiability` — what the data cannot tell: the scale ray,
  :class:`IdentifiabilityWarning`;
- :mod:`~prillm.calibration.objective`, :mod:`~prillm.calibration.params`,
  :mod:`~prillm.calibration.result`, :mod:`~prillm.calibration.metrics`,
  :mod:`~prillm.calibration.plot` — the loss, its parameter vector, the result type, fit
  metrics and the fit figure.

Names are imported lazily (this package imports torch only when a method is used), so reading
:data:`METHODS` is cheap.
"""

from __future__ import annotations

from prillm._optional import lazy_exports
from prillm.calibration.registry import (
    METHODS,
    CalibrationMethod,
    join,
    register_method,
    run_method,
)

#: Public name -> the module that defines it (imported on first use, PEP 562).
_EXPORTS: dict[str, str] = {
    "calibrate": "prillm.calibration.gradient",
    "central_gradient": "prillm.calibration.fd",
    "calibrate_a2c": "prillm.calibration.a2c",
    "LPInitResult": "prillm.calibration.lp_init",
    "initial_preferences": "prillm.calibration.lp_init",
    "observable_marginal_costs": "prillm.calibration.lp_init",
    "representative_days": "prillm.calibration.lp_init",
    "FitMetrics": "prillm.calibration.metrics",
    "fit_metrics": "prillm.calibration.metrics",
    "preference_errors": "prillm.calibration.metrics",
    "CalibrationError": "prillm.calibration.result",
    "CalibrationResult": "prillm.calibration.result",
    "evaluate": "prillm.calibration.result",
    "predict_flows": "prillm.calibration.result",
    "scaled_loss": "prillm.calibration.result",
    "IdentifiabilityWarning": "prillm.calibration.identifiability",
    "scale_profile": "prillm.calibration.identifiability",
    "scale_ray": "prillm.calibration.identifiability",
    "FREE_NAMES": "prillm.calibration.params",
    "Parametrisation": "prillm.calibration.params",
    "CalibrationObjective": "prillm.calibration.objective",
    "fit_figure": "prillm.calibration.plot",
}

__all__ = [
    "METHODS",
    "CalibrationMethod",
    "join",
    "register_method",
    "run_method",
    *sorted(_EXPORTS),
]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS, feature="calibration")
