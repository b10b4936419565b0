"""The chapter-7 figures: page width, legible text, shared axes, relative profit curves."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from prillm.experiments.abstraction_figures import (  # noqa: E402
    FONT,
    MAX_WIDTH,
    learning_curves_figure,
    network_figure,
    relative_curves_figure,
)

HISTORY = {"train": [0.5, 0.2, 0.1], "validation": [0.4, 0.1, 0.15], "validation_initial": 1.0}


def _texts(fig):
    fig.canvas.draw()
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]


def _check_page_width_and_fonts(fig):
    assert fig.get_size_inches()[0] <= MAX_WIDTH + 1e-9
    sizes = [t.get_fontsize() for t in _texts(fig)]
    assert sizes and min(sizes) >= FONT - 1e-9, min(sizes)


def test_learning_curves_share_the_loss_axis_and_mark_the_chosen_epoch():
    fig = learning_curves_figure([("a", HISTORY), ("b", HISTORY)])
    _check_page_width_and_fonts(fig)
    left, right = fig.axes
    assert left.get_shared_y_axes().joined(left, right)
    # validation: 1.0 (untrained), 0.4, 0.1, 0.15 -> chosen epoch 2
    chosen = [ln for ln in left.get_lines() if ln.get_linestyle() == ":"]
    assert chosen and chosen[0].get_xdata()[0] == 2
    plt.close(fig)


def test_learning_curves_mark_the_selected_epoch_and_draw_the_tail():
    tailed = {
        **HISTORY,
        "validation_tail": [3.0, 2.0, 1.0],
        "validation_tail_initial": 5.0,
        "selected_epoch": 3,
    }
    fig = learning_curves_figure([("a", tailed)])
    (ax,) = fig.axes
    chosen = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert chosen and chosen[0].get_xdata()[0] == 3  # the recorded choice, not argmin(mean)
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert dashed and list(dashed[0].get_ydata()) == [5.0, 3.0, 2.0, 1.0]
    plt.close(fig)


def test_network_figure_is_legible_at_page_width():
    fig = network_figure(blocks=3)
    _check_page_width_and_fonts(fig)
    assert any("x 3" in t.get_text() for t in _texts(fig))
    plt.close(fig)


def test_relative_curves_are_divided_by_the_true_maximum_on_a_shared_axis():
    prices = np.linspace(0.0, 2.0, 11)
    panels = [
        {"title": f"m{k}", "prices": prices, "curves": {"true": s * prices, "DA": s * prices**2}}
        for k, s in enumerate((1.0, 1000.0, 5.0))
    ]
    fig = relative_curves_figure(panels, ncols=2)
    _check_page_width_and_fonts(fig)
    axes = fig.axes[:4]
    assert all(axes[0].get_shared_y_axes().joined(axes[0], ax) for ax in axes[1:])
    for ax in axes[:3]:
        true_line = ax.get_lines()[0]
        assert true_line.get_ydata().max() == pytest.approx(1.0)
        assert ax.get_lines()[1].get_ydata().max() == pytest.approx(2.0)
    assert not axes[3].axison  # the unused fourth panel is blank
    plt.close(fig)


@pytest.mark.parametrize("draw", [learning_curves_figure, relative_curves_figure])
def test_nothing_to_draw_is_an_error(draw):
    with pytest.raises(ValueError, match="no"):
        draw([])
