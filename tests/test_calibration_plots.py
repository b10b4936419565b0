"""The calibration figures (paper Figure 3): what they draw, on shared axes."""

from __future__ import annotations

import numpy as np
import pytest

from prillm.experiments import fit_grid_figure, flow_series_figure


def _flows(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    flows = rng.uniform(1e6, 1e9, size=(6, 3, 4))
    flows[0, 0, 0] = 0.0
    return flows


def test_fit_grid_shares_axes_and_reports_each_fit() -> None:
    obs = _flows()
    preds = {"(b) exact": obs.copy(), "(c) half": 0.5 * obs, "(d) noisy": obs * 1.1}
    fig = fit_grid_figure(preds, obs, ncols=2)
    axes = fig.axes
    assert len(axes) == 4 and not axes[3].get_visible()
    shown = axes[:3]
    assert len({ax.get_xlim() for ax in shown}) == 1
    assert len({ax.get_ylim() for ax in shown}) == 1
    assert all(ax.get_shared_x_axes().joined(shown[0], ax) for ax in shown)
    assert all(ax.get_shared_y_axes().joined(shown[0], ax) for ax in shown)
    texts = [ax.texts[0].get_text() for ax in shown]
    assert texts[0].startswith("$R^2$ 1.0000")
    assert not texts[1].startswith("$R^2$ 1.0000")
    assert [ax.get_title(loc="left") for ax in shown] == list(preds)
    # the zero entry is not drawn: 6 * 3 * 4 - 1 points in each panel
    assert len(shown[0].lines[0].get_xdata()) == obs.size - 1


def test_flow_series_draws_the_largest_models_and_shades_the_held_out_days() -> None:
    obs = _flows()
    obs[:, :, 2] *= 10  # the largest model
    pred = 0.9 * obs
    ids = ["v/a", "v/b", "v/c", "v/d"]
    fig = flow_series_figure(obs, pred, ids, n_train=4, top=2)
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.lines]
    assert labels[:2] == ["c, data", "c, game"] and len(labels) == 4
    np.testing.assert_allclose(ax.lines[0].get_ydata(), obs.sum(axis=1)[:, 2] / 1e9)
    np.testing.assert_allclose(ax.lines[1].get_ydata(), pred.sum(axis=1)[:, 2] / 1e9)
    (span,) = ax.patches
    assert span.get_x() == pytest.approx(3.5)
    with pytest.raises(ValueError, match="shapes"):
        flow_series_figure(obs, pred[:, :, :3], ids, n_train=4)
