"""The market simulators PriLLM is compared with (NPM, noQ, XGBoost), measured the same way."""

from __future__ import annotations

import numpy as np
import pytest

from prillm import Preferences
from prillm.baselines import NOQ_W_Q, calibrate_noq, calibrate_npm, fit_xgboost
from prillm.baselines.xgboost_model import FEATURES, features
from prillm.calibration import calibrate, evaluate
from prillm.data import Panel, RandomDesign, generate_planted_panel

TRUTH = Preferences(w_q=2.5, w_d=0.6, b=[3.0, 1.0, 0.0, 2.0, 4.0])


@pytest.fixture(scope="module")
def split() -> tuple[Panel, Panel]:
    design = RandomDesign(7, 5, TRUTH)
    return generate_planted_panel(seed=0, n_days=20, design=design, noise_sigma=0.05).split(0.25)


@pytest.fixture(scope="module")
def prillm_fit(split):
    train, test = split
    return calibrate(train, test=test, optimizer="lbfgs", steps=100)


def test_npm_fits_weights_only_and_is_worse_than_prillm(split, prillm_fit) -> None:
    train, test = split
    res = calibrate_npm(train, test=test)
    assert res.method == "npm"
    assert np.all(np.asarray(res.prefs.b) == 0.0)
    assert res.prefs.w_q != 1.0 and res.prefs.w_d != 1.0  # both learned
    assert res.loss_history[-1] < res.loss_history[0]  # raw: the last step below the start
    assert res.test.r2 < prillm_fit.test.r2 - 0.01
    # NPM is the PriLLM model restricted to b = 0: its optimum cannot beat PriLLM's
    assert res.info["final_loss"] > prillm_fit.info["final_loss"]


def test_noq_keeps_the_tiny_congestion_weight_and_is_worse(split, prillm_fit) -> None:
    train, test = split
    res = calibrate_noq(train, test=test, steps=60)
    assert res.method == "noq"
    assert res.prefs.w_q == NOQ_W_Q
    assert res.test.r2 < prillm_fit.test.r2 - 0.05
    # Adam steps through its whole budget on the nearly piecewise-constant loss of noQ
    assert len(res.loss_history) == 61 and res.info["evaluations"] == 61


def test_xgboost_respects_demand_and_is_measured_like_the_game(split, prillm_fit) -> None:
    train, test = split
    res = fit_xgboost(train, test=test, rounds=150)
    assert res.prefs is None and res.method == "xgboost"
    pred = res.predict(test)
    assert pred.shape == test.flows.shape and (pred >= 0).all()
    np.testing.assert_allclose(pred.sum(axis=2), test.demand, rtol=1e-9)
    assert res.test.r2 == pytest.approx(evaluate_flows(pred, test), abs=1e-12)
    assert res.train.r2 > res.test.r2  # it fits its training days better than new ones
    assert res.test.r2 < prillm_fit.test.r2
    assert len(res.loss_history) == 150


def evaluate_flows(pred: np.ndarray, panel: Panel) -> float:
    obs = panel.flows
    return 1.0 - ((pred - obs) ** 2).sum() / ((obs - obs.mean()) ** 2).sum()


def test_feature_matrix_layout(split) -> None:
    train, _ = split
    x = features(train)
    t, n, m = train.shape
    assert x.shape == (t * n * m, len(FEATURES))
    row = (2 * n + 3) * m + 4  # day 2, user 3, provider 4
    assert x[row, FEATURES.index("user")] == 3
    assert x[row, FEATURES.index("provider")] == 4
    assert x[row, FEATURES.index("price")] == train.price[2, 4]
    assert x[row, FEATURES.index("latency")] == train.latency[2, 3, 4]


def test_the_ceiling_is_what_the_planted_game_reaches(split, prillm_fit) -> None:
    _, test = split
    ceiling = evaluate(test, TRUTH).r2
    assert prillm_fit.test.r2 == pytest.approx(ceiling, abs=0.002)


def test_compare_methods_table(split) -> None:
    from prillm.calibration import initial_preferences
    from prillm.calibration.lp_init import representative_days
    from prillm.experiments import compare_calibration_methods, method_predictions, method_table

    train, test = split
    results = compare_calibration_methods(
        train, test, methods=("gradient", "npm", "xgboost"), steps=50
    )
    rows = {r["method"]: r for r in method_table(results, TRUTH)}
    assert set(rows) == {"gradient", "npm", "xgboost"}
    # the MSE reduction is measured from the method's own start (Algorithm 1 for the gradient)
    start = initial_preferences(representative_days(train), backend="scipy").prefs
    mse_start = evaluate(train, start).mse / 1e12
    grad = rows["gradient"]
    assert grad["mse_reduction_M2"] == pytest.approx(mse_start - grad["train_mse_M2"], rel=1e-9)
    assert grad["err_w_q"] < 0.05 and "err_w_q" not in rows["xgboost"]
    pred = method_predictions(results, test)
    assert set(pred) == set(rows) and all(p.shape == test.flows.shape for p in pred.values())
    with pytest.raises(ValueError, match="unknown calibration method 'sgd'"):
        compare_calibration_methods(train, test, methods=("sgd",))
    with pytest.raises(ValueError, match="unknown option"):
        compare_calibration_methods(train, test, methods=("npm",), options={"npm": {"stepz": 1}})
