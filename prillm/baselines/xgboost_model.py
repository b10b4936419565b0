"""XGBoost: flows predicted directly from market features, no game (Figure 3c of the paper).

Each (day, user, provider) is one row with the features: user index and provider index (as
numbers, so trees can split on identities), the provider's price, its price relative to the
cheapest and to the mean price of the day, the latency, the capacity, the user's demand and the
provider's capacity share. The target is the user's share ``f_ij / D_i``; predicted shares are
clipped at zero and renormalised per user, so the predicted flows respect each user's demand,
like the game's. Trained with ``xgboost.train`` (squared error), which needs no scikit-learn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm._optional import require
from prillm.calibration.fitting import check_number
from prillm.calibration.metrics import fit_metrics
from prillm.calibration.result import CalibrationResult
from prillm.data.panel import Panel

__all__ = ["XGBoostFlowModel", "features", "fit_xgboost"]

FEATURES = (
    "user",
    "provider",
    "price",
    "price_over_min",
    "price_over_mean",
    "latency",
    "capacity",
    "demand",
    "capacity_share",
)


def features(panel: Panel) -> np.ndarray:
    """Feature matrix ``(T * n * m, len(FEATURES))`` (rows in ``flows.ravel()`` order)."""
    t_, n, m = panel.shape
    shape = (t_, n, m)
    price = np.broadcast_to(panel.price[:, None, :], shape)
    cols = {
        "user": np.broadcast_to(np.arange(n)[None, :, None], shape),
        "provider": np.broadcast_to(np.arange(m)[None, None, :], shape),
        "price": price,
        "price_over_min": price / panel.price.min(axis=1)[:, None, None],
        "price_over_mean": price / panel.price.mean(axis=1)[:, None, None],
        "latency": panel.latency,
        "capacity": np.broadcast_to(panel.capacity[:, None, :], shape),
        "demand": np.broadcast_to(panel.demand[:, :, None], shape),
        "capacity_share": np.broadcast_to(
            (panel.capacity / panel.capacity.sum(axis=1, keepdims=True))[:, None, :], shape
        ),
    }
    return np.stack([np.asarray(cols[k], float).ravel() for k in FEATURES], axis=1)


@dataclass
class XGBoostFlowModel:
    """A fitted booster; :meth:`predict` returns flows for a panel of the same market."""

    booster: Any

    def predict(self, panel: Panel) -> np.ndarray:
        """Predicted flows ``(T, n, m)``: clipped shares renormalised to each user's demand."""
        xgb = require("xgboost", "the XGBoost baseline")

        share = np.asarray(self.booster.predict(xgb.DMatrix(features(panel))), dtype=float)
        share = share.reshape(panel.flows.shape)
        share = np.maximum(share, 0.0)
        rows = share.sum(axis=2, keepdims=True)
        m = panel.flows.shape[2]
        share = np.where(rows > 0, share / np.where(rows > 0, rows, 1.0), 1.0 / m)
        return share * panel.demand[:, :, None]


def fit_xgboost(
    panel: Panel,
    *,
    test: Panel | None = None,
    rounds: int = 300,
    max_depth: int = 4,
    eta: float = 0.05,
    seed: int = 0,
) -> CalibrationResult:
    """Fit the XGBoost baseline on the training days and measure it like the game.

    Returns
    -------
    CalibrationResult
        ``prefs=None``, the fitted :class:`XGBoostFlowModel` as ``model``, and the training
        curve (squared error of the shares, per boosting round) as ``loss_history``.
    """
    xgb = require("xgboost", "the XGBoost baseline")

    for name, value in (("rounds", rounds), ("max_depth", max_depth)):
        check_number(name, value, integer=True, minimum=1, strict=False)
    check_number("eta", eta)
    check_number("seed", seed, integer=True, minimum=0, strict=False)
    start = time.perf_counter()
    demand = np.where(panel.demand > 0, panel.demand, 1.0)
    target = (panel.flows / demand[:, :, None]).ravel()
    dtrain = xgb.DMatrix(features(panel), label=target)
    log: dict[str, Any] = {}
    params = {
        "objective": "reg:squarederror",
        "max_depth": max_depth,
        "eta": eta,
        "seed": seed,
        "nthread": 1,
    }
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        evals=[(dtrain, "train")],
        evals_result=log,
        verbose_eval=False,
    )
    wall = time.perf_counter() - start
    model = XGBoostFlowModel(booster)
    train = fit_metrics(model.predict(panel), panel.flows)
    held = None if test is None else fit_metrics(model.predict(test), test.flows)
    history = [float(v) ** 2 for v in log["train"]["rmse"]]
    return CalibrationResult(
        "xgboost",
        None,
        history,
        train,
        held,
        wall,
        {"rounds": rounds, "features": len(FEATURES)},
        model=model,
    )
