"""Calibration says what the data cannot tell: warnings, recorded findings, the scale ray."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prillm import Market, Preferences, solve_equilibrium
from prillm.calibration import (
    IdentifiabilityWarning,
    calibrate,
    predict_flows,
    scale_profile,
    scale_ray,
    scaled_loss,
)
from prillm.calibration.identifiability import congestion_finding
from prillm.calibration.params import Parametrisation
from prillm.data import Panel, RandomDesign, generate_planted_panel, load_panel

TRUTH = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0])


def planted(days: int, seed: int = 0, noise: float = 0.02, n: int = 4, m: int = 3) -> Panel:
    truth = TRUTH if m == 3 else Preferences(w_q=2.0, w_d=0.5, b=np.linspace(0.0, 2.0, m))
    design = RandomDesign(n, m, truth)
    return generate_planted_panel(seed=seed, n_days=days, design=design, noise_sigma=noise)


def _fit(panel: Panel, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = calibrate(panel, optimizer="lbfgs", steps=kwargs.pop("steps", 30), **kwargs)
    ours = [w for w in caught if issubclass(w.category, IdentifiabilityWarning)]
    return res, ours


def test_one_day_leaves_the_scale_unidentified() -> None:
    res, caught = _fit(planted(1))
    assert res.not_identified == ("w_q", "w_d")
    assert len(caught) == 1 and "w_q, w_d not identified (one day:" in str(caught[0].message)
    assert res.identifiability[0]["parameters"] == ["w_q", "w_d"]


def test_constant_prices_leave_the_scale_unidentified() -> None:
    panel = planted(6)
    flat = panel.replace(price=panel.price[0])
    res, caught = _fit(flat)
    assert res.not_identified == ("w_q", "w_d")
    assert "no provider's price changes over the days" in str(caught[0].message)
    # the same days with their moving prices: nothing to report
    res, caught = _fit(panel)
    assert res.identifiability == () and caught == []


def test_a_latency_the_same_for_everyone_leaves_w_d_unidentified() -> None:
    panel = planted(6)
    same = panel.replace(latency=panel.latency.mean(axis=(0, 1)))
    res, _ = _fit(same)
    assert "w_d" in res.not_identified
    assert any("w_d d_j is absorbed in b_j" in f["reason"] for f in res.identifiability)


def test_a_provider_nobody_uses_has_only_a_bound_on_b() -> None:
    panel = planted(6)
    flows = np.array(panel.flows)
    moved = flows[:, :, 2].copy()
    flows[:, :, 2] = 0.0
    flows[:, :, 0] += moved
    res, _ = _fit(panel.replace(flows=flows, exact_flows=None))
    assert "b[llm2]" in res.not_identified


def test_a_flat_loss_along_the_scale_ray_is_reported() -> None:
    # chapter 5: with the list prices (nearly constant) the coding market cannot tell the planted
    # weights from a multiple of them; the data check passes (some prices do move), the profile
    # of the fitted loss along the ray is flat
    listed = generate_planted_panel(seed=0, n_days=32, price_sigma=0.0).segment("Coding")
    res, caught = _fit(listed, steps=40)
    reasons = " ".join(f["reason"] for f in res.identifiability)
    assert set(res.not_identified) >= {"w_q", "w_d"}
    assert "flat along the scale ray" in reasons
    assert caught
    # the effective prices of the shipped panel identify the scale: no finding
    coding = load_panel().segment("Coding").subset(range(32))
    res, caught = _fit(coding, steps=40)
    assert res.identifiability == () and caught == []


def test_the_check_can_be_switched_off() -> None:
    res, caught = _fit(planted(1), check_identifiability=False)
    assert res.identifiability == () and caught == []


@given(st.floats(0.2, 5.0), st.integers(0, 1000))
@settings(max_examples=20)
def test_constant_prices_make_the_equilibrium_invariant_along_the_ray(s: float, seed: int) -> None:
    panel = planted(3, seed=seed)
    flat = panel.replace(price=panel.price[0])
    ray = scale_ray(flat, flat.truth, s)
    a, b = predict_flows(flat, flat.truth), predict_flows(flat, ray)
    assert np.abs(a - b).max() <= 1e-7 * flat.demand.max()
    assert ray.w_q == pytest.approx(s * flat.truth.w_q) and ray.w_d == pytest.approx(s * 0.5)


def test_scale_profile_matches_the_loss_on_the_ray() -> None:
    panel = planted(5)
    rows = scale_profile(panel, panel.truth, [0.5, 2.0])
    base = scaled_loss(panel, panel.truth)
    for row in rows:
        expected = scaled_loss(panel, scale_ray(panel, panel.truth, row["scale"]))
        assert row["loss"] == expected and row["relative"] == pytest.approx(expected / base)
        assert row["relative"] > 1.0  # moving prices identify the scale here


def test_training_lowers_the_held_out_loss_on_a_tiny_planted_panel() -> None:
    train, test = planted(10, seed=3, noise=0.01).split(0.3)
    start = Preferences(w_q=1.0, w_d=1.0, b=0.0, provider_ids=train.provider_ids)
    res = calibrate(train, test=test, init=start, optimizer="adam", steps=60, lr=0.1)
    before, after = scaled_loss(test, start), scaled_loss(test, res.prefs)
    assert after < 0.5 * before  # measured on days the fit never saw
    assert res.loss_history[-1] < 0.5 * res.loss_history[0]  # raw, last step against the start


def test_a_loss_that_falls_along_the_ray_is_not_flat() -> None:
    # far out on the ray (scale 3) the loss falls towards the truth: the scale matters there,
    # even though no step along the ray raises the loss
    from prillm.calibration import Parametrisation
    from prillm.calibration.identifiability import profile_finding

    panel = planted(8, noise=0.05)
    far = scale_ray(panel, panel.truth, 3.0)
    rows = scale_profile(panel, far, [1 / 2, 2.0])
    assert rows[0]["relative"] < 1.0
    assert profile_finding(panel, far, Parametrisation(panel.provider_ids)) is None


#: The planted preferences of :func:`_congestion_panel`.
CONGESTION_TRUTH = Preferences(w_q=1.5, w_d=0.5, b=[0.9, 1.4, 2.2, 0.3])


def _congestion_panel(capacity_scale: float) -> Panel:
    """12 days of 5 users x 4 providers under :data:`CONGESTION_TRUTH`, observed with 20 %
    noise; capacities ``capacity_scale`` times a fair share of the demand."""
    rng = np.random.default_rng(0)
    price, latency = rng.uniform(0.5, 5, (12, 4)), rng.uniform(0.2, 2, (5, 4))
    demand = rng.uniform(1e6, 5e6, (12, 5))
    capacity = capacity_scale * rng.uniform(0.5, 2, 4) * demand.sum(axis=1).mean() / 4
    exact = np.stack(
        [
            solve_equilibrium(
                Market(demand=demand[t], price=price[t], capacity=capacity, latency=latency),
                CONGESTION_TRUTH,
            ).flows
            for t in range(12)
        ]
    )
    observed = exact * np.exp(0.2 * rng.standard_normal(exact.shape) - 0.02)
    return Panel(
        price=price, capacity=capacity, latency=latency, demand=demand, flows=observed,
        flow_totals="noisy",
    )  # fmt: skip


def test_a_negligible_congestion_leaves_w_q_unidentified():
    """Capacities 1e6 x a fair share: every user takes one route, whatever w_q, so the loss
    does not move with it (N * relative change 0 either way); at a fair share it moves a lot.
    A fit that ends at such a point reports w_q as not identified."""
    fair, huge = _congestion_panel(1.0), _congestion_panel(1e6)
    param = Parametrisation(fair.provider_ids)
    assert congestion_finding(fair, CONGESTION_TRUTH, param) is None
    finding = congestion_finding(huge, CONGESTION_TRUTH, param)
    assert finding is not None and finding["parameters"] == ["w_q"]
    assert "changes it by 0 % at most" in finding["reason"]
    with pytest.warns(IdentifiabilityWarning, match="w_q not identified"):
        fit = calibrate(huge, init=CONGESTION_TRUTH, steps=0)
    assert "w_q" in fit.not_identified
    assert any("flat in w_q" in f["reason"] for f in fit.identifiability)
