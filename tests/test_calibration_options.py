"""An unknown keyword of a calibration function is a MarketError listing the valid ones."""

from __future__ import annotations

import inspect

import pytest

from prillm import MarketError, Preferences
from prillm.calibration import METHODS, calibrate, calibrate_a2c, run_method
from prillm.data import RandomDesign, generate_planted_panel


@pytest.fixture(scope="module")
def panel():
    design = RandomDesign(3, 2, Preferences(w_q=1.0, w_d=0.5, b=[0.0, 1.0]))
    return generate_planted_panel(seed=0, n_days=4, design=design)


@pytest.mark.parametrize(
    ("fn", "name", "some_valid"),
    [
        (calibrate, "calibrate", ("test", "init", "steps", "optimizer", "check_identifiability")),
        (calibrate_a2c, "calibrate_a2c", ("test", "max_evaluations", "rng")),
    ],
)
def test_an_unknown_keyword_names_the_valid_ones(panel, fn, name, some_valid) -> None:
    with pytest.raises(MarketError, match=rf"^bogus: unknown option of {name}\(\); valid: ") as e:
        fn(panel, bogus=1)
    valid = str(e.value).split("valid: ", 1)[1].split(", ")
    assert set(some_valid) <= set(valid) and "panel" not in valid
    assert isinstance(e.value, TypeError) is False  # a MarketError (a ValueError), not TypeError


def test_the_signatures_and_registry_options_are_unchanged() -> None:
    params = inspect.signature(calibrate).parameters
    assert list(params)[:3] == ["panel", "test", "init"] and "steps" in params
    assert "bogus" not in METHODS["gradient"].options()
    assert set(METHODS["gradient"].options()) == set(params) - {"panel", "test"}
    assert "max_evaluations" in METHODS["a2c"].options()


def test_existing_calls_still_work(panel) -> None:
    res = calibrate(panel, steps=1, optimizer="lbfgs", check_identifiability=False)
    assert res.method == "gradient"
    via_registry = run_method("gradient", panel, steps=1, optimizer="lbfgs")
    assert via_registry.method == "gradient"
    with pytest.raises(MarketError, match="bogus: unknown option of calibration method"):
        run_method("gradient", panel, bogus=1)


def test_compare_calibration_methods_runs_the_registry_by_default(panel, monkeypatch) -> None:
    """The default list of methods is the registry's, read when called (no copy to go stale)."""
    import prillm.experiments.calibration_methods as cm

    calls = []

    def fake_run(name, train, *, test=None, **kwargs):
        calls.append(name)
        return name

    monkeypatch.setattr(cm, "METHODS", {"alpha": None, "beta": None})
    monkeypatch.setattr(cm, "run_method", fake_run)
    assert cm.compare_calibration_methods(panel, panel) == {"alpha": "alpha", "beta": "beta"}
    assert calls == ["alpha", "beta"]
    with pytest.raises(MarketError, match="methods: expected a list of method names"):
        cm.compare_calibration_methods(panel, panel, "alpha")
    assert not hasattr(cm, "ALL_METHODS")


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_run_that_never_improves_on_its_start_says_so(optimizer):
    """The result is the best point seen; when that is the start, the status says it (an
    optimiser that only went uphill, e.g. Adam at a too large step on a badly scaled loss,
    left a plain "80 steps" before)."""
    import numpy as np

    from prillm.calibration.fitting import run_optimiser

    def uphill(u):  # a gradient of the wrong sign: every step raises the loss
        return float(u @ u), -2.0 * u

    run = run_optimiser(uphill, np.array([1.0, -0.5]), optimizer=optimizer, steps=5, lr=0.1)
    assert run.loss == 1.25 and run.u.tolist() == [1.0, -0.5]
    assert "no step lowered the loss below the start's" in run.status
    honest = run_optimiser(
        lambda u: (float(u @ u), 2.0 * u), np.array([1.0, -0.5]), optimizer=optimizer, steps=5
    )
    assert honest.loss < 1.25 and "no step lowered" not in honest.status
