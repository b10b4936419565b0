"""Every calibration method on the same split, measured the same way (Figure 3, Table 2).

:func:`compare_calibration_methods` fits each method of :data:`prillm.calibration.METHODS` on
the training days and scores it on the held-out days; :func:`method_table` gives one tidy
record per method, :func:`method_predictions` the predicted flows for the figure. What a fit
could not identify is recorded in the table (``not_identified``) instead of warned about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from prillm.calibration import METHODS, run_method
from prillm.calibration.metrics import preference_errors
from prillm.calibration.result import CalibrationResult
from prillm.data import Panel
from prillm.experiments.tables import recording_identifiability
from prillm.market import MarketError

__all__ = ["compare_calibration_methods", "method_predictions", "method_table"]


def _defaults(steps: int, a2c_evaluations: int, seed: int) -> dict[str, dict[str, Any]]:
    return {
        "gradient": {"optimizer": "lbfgs", "steps": steps},
        "fd": {"optimizer": "lbfgs", "steps": steps},
        "a2c": {"max_evaluations": a2c_evaluations, "rng": seed},
        "npm": {"steps": steps},
        "noq": {"steps": 2 * steps},
        "xgboost": {"seed": seed},
    }


def compare_calibration_methods(
    train: Panel,
    test: Panel,
    methods: Sequence[str] | None = None,
    *,
    steps: int = 100,
    a2c_evaluations: int = 1000,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, CalibrationResult]:
    """Fit each method on ``train`` and score it on ``test``.

    Parameters
    ----------
    train, test
        The split.
    methods
        Names from :data:`prillm.calibration.METHODS`; default every registered method, in
        registration order (the learning methods of Table 2, then the market simulators of
        Figure 3: ``gradient``, ``fd``, ``a2c``, ``npm``, ``noq``, ``xgboost``).
    steps
        L-BFGS-B iterations for ``gradient``, ``fd``, ``npm`` (Adam steps ``2 * steps`` for
        ``noq``).
    a2c_evaluations
        Loss-evaluation budget of the A2C agent.
    seed
        Seed of the stochastic methods (A2C, XGBoost).
    options
        Method name -> options that replace the defaults above (checked by
        :func:`prillm.calibration.run_method`).
    progress
        Called with each method's name before it runs.

    Returns
    -------
    dict
        Method name -> :class:`~prillm.calibration.CalibrationResult` (XGBoost's carries its
        model).

    Raises
    ------
    prillm.MarketError
        For an unknown method or option (naming the valid ones).
    """
    if isinstance(methods, str):
        raise MarketError(f"methods: expected a list of method names, got the string {methods!r}")
    methods = tuple(METHODS) if methods is None else tuple(methods)
    opts = dict(options or {})
    for name in [*methods, *opts]:
        if name not in METHODS:
            raise MarketError(
                f"methods: unknown calibration method {name!r}; valid: {', '.join(METHODS)}"
            )
    defaults = _defaults(steps, a2c_evaluations, seed)
    out: dict[str, CalibrationResult] = {}
    for name in methods:
        if progress is not None:
            progress(name)
        kwargs = {**defaults.get(name, {}), **dict(opts.get(name, {}))}
        out[name] = recording_identifiability(
            lambda name=name, kwargs=kwargs: run_method(name, train, test=test, **kwargs)
        )
    return out


def method_predictions(results: Mapping[str, CalibrationResult], panel: Panel) -> dict:
    """Predicted flows of every fitted method on ``panel`` (name -> ``(T, n, m)``)."""
    return {name: res.predict(panel) for name, res in results.items()}


def method_table(
    results: Mapping[str, CalibrationResult], truth: Any = None
) -> list[dict[str, Any]]:
    """One record per method: held-out R^2/MAE, training MSE and its drop, time, recovery errors.

    MSE and MAE are in million tokens (squared for the MSE), the units in which the paper
    reports its MAE; ``mse_reduction_M2`` is the drop of the training MSE from the method's start
    (Algorithm 1 for the learning methods) to the returned point. ``err_*`` compare the learned
    preferences with ``truth`` (when given); ``not_identified`` lists what the data left open.
    """
    rows = []
    for name, res in results.items():
        info = res.info
        row: dict[str, Any] = {
            "method": name,
            "test_r2": None if res.test is None else res.test.r2,
            "test_mae_M": None if res.test is None else res.test.mae / 1e6,
            "train_mse_M2": res.train.mse / 1e12,
            "wall_time_s": res.wall_time,
            "evaluations": info.get("evaluations"),
            "not_identified": ", ".join(res.not_identified) or None,
        }
        if "initial_loss" in info and res.prefs is not None:
            # the scaled loss is SSE / sum(F^2): convert the start back to an MSE
            ratio = info["initial_loss"] / max(info["final_loss"], np.finfo(float).tiny)
            row["mse_reduction_M2"] = row["train_mse_M2"] * (ratio - 1.0)
        if truth is not None and res.prefs is not None:
            err = preference_errors(res.prefs, truth)
            row.update({f"err_{k}": v for k, v in err.items()})
        rows.append(row)
    return rows
