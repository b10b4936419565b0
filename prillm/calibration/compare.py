"""Every calibration method on the same split, measured the same way (Figure 3, Table 2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from prillm.calibration.metrics import preference_errors
from prillm.calibration.panel import Panel
from prillm.calibration.result import CalibrationResult, predict_flows

__all__ = ["ALL_METHODS", "compare_methods", "predictions", "results_table"]

#: Learning methods (Table 2) and market simulators (Figure 3).
ALL_METHODS = ("gradient", "fd", "a2c", "npm", "noq", "xgboost")


def compare_methods(
    train: Panel,
    test: Panel,
    methods: Sequence[str] = ALL_METHODS,
    *,
    steps: int = 100,
    a2c_evaluations: int = 1000,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, tuple[CalibrationResult, Any]]:
    """Fit each method on ``train`` and score it on ``test``.

    Parameters
    ----------
    train, test
        The split.
    methods
        Names from :data:`ALL_METHODS`.
    steps
        L-BFGS-B iterations for ``gradient``, ``fd``, ``npm`` (Adam steps for ``noq``).
    a2c_evaluations
        Loss-evaluation budget of the A2C agent.
    seed
        Seed of the stochastic methods (A2C, XGBoost).
    progress
        Called with each method's name before it runs.

    Returns
    -------
    dict
        Method name -> ``(result, model)``; ``model`` is the fitted XGBoost model for
        ``xgboost`` and ``None`` otherwise.
    """
    from prillm.baselines import calibrate_noq, calibrate_npm, fit_xgboost
    from prillm.calibration.a2c import calibrate_a2c
    from prillm.calibration.fd import calibrate_fd
    from prillm.calibration.gradient import calibrate

    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        raise ValueError(f"methods: unknown method {unknown[0]!r}; expected one of {ALL_METHODS}")
    out: dict[str, tuple[CalibrationResult, Any]] = {}
    for name in methods:
        if progress is not None:
            progress(name)
        if name == "gradient":
            out[name] = (calibrate(train, test=test, optimizer="lbfgs", steps=steps), None)
        elif name == "fd":
            out[name] = (calibrate_fd(train, test=test, optimizer="lbfgs", steps=steps), None)
        elif name == "a2c":
            res = calibrate_a2c(train, test=test, max_evaluations=a2c_evaluations, rng=seed)
            out[name] = (res, None)
        elif name == "npm":
            out[name] = (calibrate_npm(train, test=test, steps=steps), None)
        elif name == "noq":
            out[name] = (calibrate_noq(train, test=test, steps=2 * steps), None)
        else:
            model, res = fit_xgboost(train, test=test, seed=seed)
            out[name] = (res, model)
    return out


def predictions(results: dict[str, tuple[CalibrationResult, Any]], panel: Panel) -> dict:
    """Predicted flows of every fitted method on ``panel`` (name -> ``(T, n, m)``)."""
    pred = {}
    for name, (res, model) in results.items():
        pred[name] = model.predict(panel) if model is not None else predict_flows(panel, res.prefs)
    return pred


def results_table(
    results: dict[str, tuple[CalibrationResult, Any]], truth: Any = None
) -> list[dict[str, Any]]:
    """One row per method: held-out R^2/MAE, training MSE before/after, time, recovery errors.

    MSE and MAE are in million tokens (squared for the MSE), the units in which the paper
    reports its MAE; ``mse_reduction`` is the drop of the training MSE from the start (the
    initial point of the method: Algorithm 1 for the learning methods) to the end.
    """
    rows = []
    for name, (res, _) in results.items():
        info = res.info
        row: dict[str, Any] = {
            "method": name,
            "test_r2": None if res.test is None else res.test.r2,
            "test_mae_M": None if res.test is None else res.test.mae / 1e6,
            "train_mse_M2": res.train.mse / 1e12,
            "wall_time_s": res.wall_time,
            "evaluations": info.get("evaluations"),
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
