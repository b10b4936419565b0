"""Calibration on planted panels: Algorithm 1, Eq. (6) by exact gradients, FD and A2C."""

from __future__ import annotations

import json

import numpy as np
import pytest

from prillm import Market, MarketError, Preferences
from prillm.calibration import (
    METHODS,
    CalibrationError,
    calibrate,
    evaluate,
    initial_preferences,
    observable_marginal_costs,
    preference_errors,
    run_method,
    scaled_loss,
)
from prillm.calibration.a2c import calibrate_a2c
from prillm.calibration.fd import central_gradient
from prillm.calibration.objective import CalibrationObjective
from prillm.calibration.params import LOG_WEIGHT_BOUND, Parametrisation
from prillm.data import Panel, RandomDesign, generate_planted_panel, load_panel

TRUTH = Preferences(w_q=2.5, w_d=0.6, b=[3.0, 1.0, 0.0, 2.0, 4.0])
NOISE = 0.05


def planted(n: int, m: int, days: int, truth: Preferences, noise: float, seed: int) -> Panel:
    design = RandomDesign(n, m, truth)
    return generate_planted_panel(seed=seed, n_days=days, design=design, noise_sigma=noise)


@pytest.fixture(scope="module")
def noisy() -> tuple[Panel, Panel]:
    return planted(7, 5, 20, TRUTH, NOISE, 0).split(0.25)


@pytest.fixture(scope="module")
def gradient_result(noisy: tuple[Panel, Panel]):
    train, test = noisy
    return calibrate(train, test=test, optimizer="lbfgs", steps=100)


# ----------------------------------------------------------------------- Algorithm 1
def test_marginal_costs_of_eq_21_by_hand() -> None:
    market = Market(
        demand=[3.0, 1.0],
        price=[2.0, 1.0],
        capacity=[4.0, 2.0],
        latency=[[0.5, 1.0], [0.2, 0.3]],
        observed_flows=[[2.0, 1.0], [0.0, 1.0]],
    )
    panel = Panel.from_markets([market])
    mp = observable_marginal_costs(panel, w_q=1.0, w_d=1.0)
    # user 0 on provider 0: p + d + (F + f)/alpha = 2 + 0.5 + (2 + 2)/4
    assert mp[0, 0, 0] == pytest.approx(3.5)
    # user 1 on provider 1: 1 + 0.3 + (2 + 1)/2
    assert mp[0, 1, 1] == pytest.approx(2.8)


def test_exact_lp_recovers_planted_b_when_weights_are_one() -> None:
    truth = Preferences(w_q=1.0, w_d=1.0, b=[3.0, 1.0, 0.5, 2.0, 4.0])
    panel = planted(7, 5, 6, truth, 0.0, 1)
    used = panel.flows.sum(axis=(0, 1)) > 0
    for backend in ("pyomo", "scipy"):
        res = initial_preferences(panel, slack=False, backend=backend)
        b = np.asarray(res.prefs.b)
        assert res.violation == 0.0
        shift = np.asarray(truth.b)[used].min()  # the smallest b of a used provider becomes 0
        np.testing.assert_allclose(b[used], np.asarray(truth.b)[used] - shift, atol=1e-7)
        assert b.min() == pytest.approx(0.0, abs=1e-12)
        assert (res.prefs.w_q, res.prefs.w_d, res.prefs.w_p) == (1.0, 1.0, 1.0)


def test_exact_lp_is_infeasible_on_noisy_data_and_says_so(noisy) -> None:
    train, _ = noisy
    for backend in ("pyomo", "scipy"):
        with pytest.raises(CalibrationError, match=r"infeasible.*slack=True"):
            initial_preferences(train, slack=False, backend=backend)


def test_relaxed_lp_pyomo_matches_scipy(noisy) -> None:
    train, _ = noisy
    a = initial_preferences(train, backend="pyomo")
    b = initial_preferences(train, backend="scipy")
    assert a.violation > 0
    assert a.violation == pytest.approx(b.violation, rel=1e-7)
    np.testing.assert_allclose(np.asarray(a.prefs.b), np.asarray(b.prefs.b), atol=1e-6)
    assert np.asarray(a.prefs.b).min() == pytest.approx(0.0, abs=1e-9)
    assert a.n_constraints == train.n_days * 7 * 5
    # Eq. (25) b >= 0: what the LP itself returned, before the round-off is cut off at 0
    assert a.info["b_min_raw"] >= -1e-9 and b.info["b_min_raw"] >= -1e-9


def test_lp_rejects_unknown_backend(noisy) -> None:
    with pytest.raises(MarketError, match="backend"):
        initial_preferences(noisy[0], backend="glpk")


# ----------------------------------------------------------------------- Eq. (6)
def test_objective_gradient_matches_finite_differences(noisy) -> None:
    train, _ = noisy
    param = Parametrisation(train.provider_ids)
    objective = CalibrationObjective(train, param)
    u = param.encode(Preferences(w_q=1.7, w_d=0.9, b=[2.0, 1.5, 0.2, 1.0, 3.0]))
    loss, grad = objective.value_and_grad(u)
    loss_fd, grad_fd = central_gradient(objective.value, u, h=1e-6)
    assert loss == pytest.approx(loss_fd, rel=1e-12)
    assert np.abs(grad - grad_fd).max() <= 1e-6 * np.abs(grad_fd).max()
    # b is identified only up to a shift: the gradient has no component along it
    assert abs(grad[2:].sum()) <= 1e-10 * np.abs(grad).max()


def test_gradient_calibration_recovers_planted_preferences(noisy, gradient_result) -> None:
    _, test = noisy
    res = gradient_result
    err = preference_errors(res.prefs, TRUTH)
    assert err["w_q"] < 0.05 and err["w_d"] < 0.05
    assert err["b"] < 0.1  # USD per 1M tokens, on a spread of 4
    ceiling = evaluate(test, TRUTH)  # the planted game itself, on the noisy held-out days
    assert res.test is not None
    assert res.test.r2 > ceiling.r2 - 0.002
    assert res.test.mae < 1.05 * ceiling.mae
    # raw losses, measured at the start and at the last step's point: not a best-so-far curve
    assert res.loss_history[-1] < 0.05 * res.loss_history[0]
    assert res.loss_history[0] == res.info["initial_loss"]
    assert res.info["last_loss"] == res.loss_history[-1]
    # the returned point's loss is re-measured independently of the optimiser
    assert scaled_loss(train_of(noisy), res.prefs) == pytest.approx(res.info["final_loss"], 1e-9)
    assert res.prefs.w_p == 1.0 and res.identifiability == ()


def test_gradient_calibration_is_exact_without_noise() -> None:
    panel = planted(6, 4, 10, Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0, 0.5]), 0.0, 2)
    res = calibrate(panel, optimizer="lbfgs", steps=200)
    err = preference_errors(res.prefs, panel.truth)
    assert max(err["w_q"], err["w_d"], err["b"]) < 1e-4
    assert res.train.r2 > 1 - 1e-8


def test_adam_reaches_the_same_fit(noisy, gradient_result) -> None:
    train, test = noisy
    res = calibrate(train, test=test, optimizer="adam", steps=150, lr=0.05)
    assert res.info["final_loss"] < 1.05 * gradient_result.info["final_loss"]
    # Adam's raw curve is not monotone; its last point is still close to the fit
    assert len(res.loss_history) == 151
    assert res.loss_history[-1] < 1.1 * gradient_result.info["final_loss"]
    assert res.loss_history[-1] < 0.05 * res.loss_history[0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"optimizer": "sgd"}, "optimizer"),
        ({"steps": -1}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": 0.0}, "lr"),
        ({"refine": "nelder-mead"}, "refine"),
        ({"fixed": {"wq": 5.0}, "fit": ("w_d", "b")}, "wq"),
        ({"fixed": {"w_q": 5.0}}, "also learned"),
        ({"fit": ("w_q", "w_p")}, "w_p"),
        ({"fit": "b"}, "fit"),
        ({"init_days": 0}, "init_days"),
        ({"init": {"w_q": 1.0}}, "init"),
    ],
)
def test_bad_options_are_refused_naming_them(noisy, kwargs, field) -> None:
    with pytest.raises(MarketError, match=field):
        calibrate(noisy[0], **{"steps": 1, **kwargs})


# ----------------------------------------------------------------------- FD and A2C
def test_fd_baseline_reaches_the_fit_at_a_higher_cost(noisy, gradient_result) -> None:
    train, test = noisy
    res = run_method("fd", train, test=test, optimizer="lbfgs", steps=100)
    assert res.method == "fd"
    assert res.info["final_loss"] < 1.01 * gradient_result.info["final_loss"]
    p = 2 + 5
    # each FD gradient costs 2p + 1 loss evaluations, each one equilibrium per day
    assert res.info["equilibrium_solves"] == res.info["evaluations"] * (2 * p + 1) * train.n_days


def test_a2c_baseline_is_measured_honestly(noisy, gradient_result) -> None:
    train, test = noisy
    res = calibrate_a2c(train, test=test, max_evaluations=300, rng=0)
    assert res.method == "a2c"
    assert res.info["evaluations"] <= 300
    # the history is the raw mean loss of each update's evaluations: not monotone by design
    assert len(res.loss_history) == res.info["updates"] + 1
    assert any(b > a for a, b in zip(res.loss_history[1:], res.loss_history[2:], strict=False))
    # with 10x the gradient method's evaluations it stays far from the fitted loss
    assert res.info["final_loss"] > 2 * gradient_result.info["final_loss"]
    assert scaled_loss(train, res.prefs) == pytest.approx(res.info["final_loss"], rel=1e-9)
    again = calibrate_a2c(train, test=test, max_evaluations=300, rng=0)
    assert again.info["final_loss"] == res.info["final_loss"]


# ----------------------------------------------------------------------- data handling
def test_panel_file_round_trip(tmp_path, noisy) -> None:
    train, _ = noisy
    path = tmp_path / "panel.json"
    train.to_json(path)
    back = load_panel(path)
    assert back == train
    # a list of market files is read as a panel (no truth)
    names = []
    for t, mk in enumerate(train.markets):
        mk.to_json(tmp_path / f"day{t}.json")
        names.append(f"day{t}.json")
    (tmp_path / "list.json").write_text(json.dumps(names))
    listed = load_panel(tmp_path / "list.json", demand="market")
    np.testing.assert_array_equal(listed.flows, train.flows)
    np.testing.assert_array_equal(listed.demand, train.demand)
    assert listed.truth is None


def test_panel_from_markets_errors_name_the_field() -> None:
    market = Market(demand=[2.0], price=[1.0, 2.0], capacity=[1.0, 1.0])
    with pytest.raises(MarketError, match=r"days\[0\]\.observed_flows"):
        Panel.from_markets([market])
    bad = market.replace(observed_flows=[[1.0, 0.5]])
    with pytest.raises(MarketError, match=r"flows\[0, 0\].*noisy"):
        Panel.from_markets([bad])
    assert Panel.from_markets([bad], demand="flows").demand[0, 0] == 1.5
    noisy_totals = Panel.from_markets([bad], demand="market")
    assert noisy_totals.demand[0, 0] == 2.0 and noisy_totals.flow_totals == "noisy"
    with pytest.raises(MarketError, match="demand"):
        Panel.from_markets([bad], demand="guess")
    other = bad.replace(provider_ids=["x", "y"])
    with pytest.raises(MarketError, match=r"days\[1\]\.providers"):
        Panel.from_markets([bad, other], demand="flows")
    with pytest.raises(MarketError, match="no days"):
        Panel.from_markets([])
    with pytest.raises(MarketError, match="test_fraction"):
        planted(2, 2, 4, TRUTH.replace(b=0.0), 0.0, 0).split(1.5)


def test_preference_errors_ignore_the_common_shift_of_b() -> None:
    shifted = TRUTH.replace(b=np.asarray(TRUTH.b) + 7.0)
    err = preference_errors(shifted, TRUTH)
    assert err == {"w_q": 0.0, "w_d": 0.0, "b": 0.0, "b_rel": 0.0}


def test_parametrisation_round_trip_and_checks() -> None:
    ids = ("a", "b", "c")
    param = Parametrisation(ids)
    prefs = Preferences(w_q=2.0, w_d=0.3, b=[1.0, 2.0, 3.0], provider_ids=ids)
    assert param.decode(param.encode(prefs)) == prefs
    assert param.size == 5
    with pytest.raises(MarketError, match="w_q"):
        Parametrisation(ids, fit=("w_d", "b"), fixed={"w_q": 0.0})
    with pytest.raises(MarketError, match=r"fit: unknown parameter 'w_p'; valid: w_q, w_d, b"):
        Parametrisation(ids, fit=("w_p",))
    with pytest.raises(MarketError, match=r"fixed: unknown parameter 'wq'; valid: w_q, w_d, b"):
        Parametrisation(ids, fit=("w_d", "b"), fixed={"wq": 5})
    with pytest.raises(MarketError, match=r"fixed\.w_q"):
        Parametrisation(ids, fit=("b",), fixed={"w_q": True})
    with pytest.raises(MarketError, match="start in"):
        param.encode(prefs.replace(w_q=1e5))
    # the box: a point is projected into it, and a point on it is reported
    u = param.project(np.array([20.0, -20.0, 0.0, 0.0, 0.0]))
    assert u[0] == LOG_WEIGHT_BOUND and u[1] == -LOG_WEIGHT_BOUND
    assert param.at_bound(u) == ("w_q", "w_d")
    assert param.at_bound(param.encode(prefs)) == ()


def test_lbfgs_iterates_stay_in_the_box_before_any_decoding() -> None:
    # a start next to the bound of w_q: every point L-BFGS-B evaluates, raw (before decoding),
    # lies inside the box, so decoding never has to clip one
    panel = planted(5, 3, 8, Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0]), 0.0, 4)
    seen: list[np.ndarray] = []
    objective_cls = CalibrationObjective
    original = objective_cls.value_and_grad

    def spy(self, u):
        seen.append(np.array(u))
        return original(self, u)

    objective_cls.value_and_grad = spy
    try:
        res = calibrate(
            panel,
            init=Preferences(w_q=9e3, w_d=0.5, b=0.0),
            optimizer="lbfgs",
            steps=30,
            check_identifiability=False,
        )
    finally:
        objective_cls.value_and_grad = original
    logs = np.array([u[:2] for u in seen])
    assert len(seen) >= 5 and (np.abs(logs) <= LOG_WEIGHT_BOUND).all()
    assert res.info["final_loss"] < 0.1 * res.loss_history[0]


def test_registry_lists_the_methods_and_checks_options(noisy) -> None:
    assert list(METHODS) == ["gradient", "fd", "a2c", "npm", "noq", "xgboost"]
    assert METHODS["xgboost"].learns == () and METHODS["npm"].learns == ("w_q", "w_d")
    with pytest.raises(MarketError, match="unknown calibration method 'sgd'; choose from"):
        METHODS["sgd"]
    with pytest.raises(MarketError, match=r"stepz: unknown option .* valid: init"):
        run_method("gradient", noisy[0], stepz=3)
    res = run_method("npm", noisy[0], test=noisy[1], steps=5)
    assert res.method == "npm" and res.test is not None


def test_shipped_planted_panel_is_read_with_its_truth() -> None:
    panel = load_panel()
    t, n, m = panel.flows.shape
    assert panel.demand.shape == (t, n) and panel.price.shape == (t, m)
    assert panel.truth is not None and panel.truth.provider_ids == panel.provider_ids
    # noisy flows, noise-free demand: the game is played with the reported demand
    assert not np.allclose(panel.flows.sum(axis=2), panel.demand)
    assert panel.flow_totals == "noisy"
    assert evaluate(panel.subset(range(3)), panel.truth).r2 > 0.9


def train_of(split: tuple[Panel, Panel]) -> Panel:
    return split[0]
