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

import importlib
from typing import Any

from prillm.calibration.registry import (
    METHODS,
    CalibrationMethod,
    join,
    register_method,
    run_method,
)

_LAZY = {
    "calibrate": "gradient",
    "calibrate_fd": "fd",
    "central_gradient": "fd",
    "calibrate_a2c": "a2c",
    "LPInitResult": "lp_init",
    "initial_preferences": "lp_init",
    "observable_marginal_costs": "lp_init",
    "representative_days": "lp_init",
    "FitMetrics": "metrics",
    "fit_metrics": "metrics",
    "preference_errors": "metrics",
    "CalibrationError": "result",
    "CalibrationResult": "result",
    "evaluate": "result",
    "predict_flows": "result",
    "scaled_loss": "result",
    "IdentifiabilityWarning": "identifiability",
    "scale_profile": "identifiability",
    "scale_ray": "identifiability",
    "FREE_NAMES": "params",
    "Parametrisation": "params",
    "CalibrationObjective": "objective",
    "fit_figure": "plot",
}

__all__ = [
    "METHODS",
    "CalibrationMethod",
    "join",
    "register_method",
    "run_method",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"prillm.calibration.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prillm.calibration' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
