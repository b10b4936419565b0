"""Figures of the game abstraction at the book's page width (chapter 7).

matplotlib is imported inside each function; every function returns a ``Figure`` (never shows
it), at most 7 inches wide, with text of at least 10 pt, so that it stays legible at the book's
page width (the resolution and the other rcParams come from the caller's style). Panels that
are compared share their axes.

- :func:`learning_curves_figure` — training and validation curve loss (paper Eq. 7) per epoch
  of one or more training runs, side by side on a shared loss axis;
- :func:`network_figure` — a block diagram of the deep aggregation network (paper Section 5.1)
  and of the aggregation that follows it;
- :func:`relative_curves_figure` — true against abstracted profit curves of several markets,
  each divided by the true game's maximum, on a shared vertical axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["learning_curves_figure", "network_figure", "relative_curves_figure"]

MAX_WIDTH = 7.0  # inches
FONT = 10.0  # points, the smallest text drawn here


def learning_curves_figure(runs: Sequence[tuple[str, Mapping[str, Any]]]) -> Any:
    """Curve loss (paper Eq. 7) per epoch, log scale, one panel per run, shared loss axis.

    Parameters
    ----------
    runs
        ``(title, history)`` pairs; each history is the ``history`` of a training record, with
        ``train`` (mean loss of each epoch's steps), ``validation`` (after each epoch) and
        ``validation_initial`` (before training), optionally ``validation_tail`` and
        ``validation_tail_initial`` (the mean of the worst validation losses, drawn dashed) and
        ``selected_epoch``. The chosen epoch, ``selected_epoch`` or else the one of least
        validation loss (0: the untrained network), is marked with a dotted line.
    """
    import matplotlib.pyplot as plt

    if not runs:
        raise ValueError("learning_curves_figure: no run to draw")
    fig, axes = plt.subplots(
        1, len(runs), figsize=(MAX_WIDTH, 3.8), sharey=True, squeeze=False, layout="constrained"
    )
    for ax, (title, history) in zip(axes[0], runs, strict=True):
        train = np.asarray(history["train"], dtype=float)
        val = np.concatenate([[history["validation_initial"]], history["validation"]])
        epochs = np.arange(1, train.size + 1)
        ax.plot(epochs, train, "o-", ms=3, label="training")
        ax.plot(np.arange(val.size), val, "s-", ms=3, label="validation")
        if "validation_tail" in history:
            tail = np.concatenate(
                [[history["validation_tail_initial"]], history["validation_tail"]]
            )
            ax.plot(np.arange(tail.size), tail, "^--", ms=3, label="validation, worst 5 %")
        best = int(history.get("selected_epoch", np.argmin(val)))
        ax.axvline(best, color="grey", ls=":", lw=1, label="chosen epoch")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(title, loc="left", fontsize=FONT)
    axes[0, 0].set_ylabel("curve loss (paper Eq. 7)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=FONT)
    return fig


def network_figure(blocks: int = 2) -> Any:
    """A block diagram of the deep aggregation network and of the aggregation that follows."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 3.0))
    ax.set_xlim(0, 14.0)
    ax.set_ylim(0.0, 6.0)
    ax.axis("off")

    def box(x: float, y: float, w: float, h: float, text: str, color: str) -> None:
        patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.08", fc=color, ec="black")
        ax.add_patch(patch)
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=FONT)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        style = {"arrowstyle": "-|>", "mutation_scale": 10, "lw": 0.8}
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), **style))

    box(0.1, 2.2, 1.7, 1.6, "rival\nfeatures", "#e8eef7")
    arrow(1.85, 3.0, 2.3, 3.0)
    box(2.3, 2.4, 1.3, 1.2, "linear\nembed", "#f3f3f3")
    arrow(3.65, 3.0, 4.1, 3.0)
    frame = FancyBboxPatch(
        (4.1, 0.3), 3.6, 4.9, boxstyle="round,pad=0.08", fc="none", ec="grey", ls="--"
    )
    ax.add_patch(frame)
    ax.text(5.9, 5.5, f"Set Attention Block x {blocks}", ha="center", fontsize=FONT)
    box(4.3, 2.9, 3.2, 2.0, "multi-head\nattention\n+ residual,\nlayer norm", "#fdf0d5")
    arrow(5.9, 2.85, 5.9, 2.6)
    box(4.3, 0.5, 3.2, 2.0, "row-wise\nfeed-forward\n+ residual,\nlayer norm", "#fdf0d5")
    arrow(7.8, 3.0, 8.2, 3.0)
    box(8.2, 2.4, 1.5, 1.2, "linear +\nsoftplus", "#f3f3f3")
    arrow(9.75, 3.4, 10.1, 4.1)
    arrow(9.75, 2.6, 10.1, 1.9)
    box(10.1, 3.8, 1.4, 1.0, "score\nsum", "#dcefdc")
    box(10.1, 1.2, 1.4, 1.0, "score\navg", "#dcefdc")
    arrow(11.55, 4.2, 11.95, 3.4)
    arrow(11.55, 1.8, 11.95, 2.6)
    box(11.95, 1.6, 1.95, 2.8, "keep top\nK-1 by\nscore avg;\nmerge\nthe rest", "#f7e1e1")
    return fig


def relative_curves_figure(panels: Sequence[Mapping[str, Any]], ncols: int = 2) -> Any:
    """True against abstracted profit curves, one panel per market, relative to the true maximum.

    Parameters
    ----------
    panels
        Each a mapping with ``title``, ``prices`` (USD per million tokens) and ``curves``
        (label -> profits, USD); the label ``"true"`` is drawn thick and grey, the others as
        lines. Every curve of a panel is divided by the largest value of its ``"true"`` curve,
        so that the panels share one vertical axis (cut at 1.6 times the true maximum).
    ncols
        Panels per row.
    """
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("relative_curves_figure: no panel to draw")
    rows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(
        rows,
        ncols,
        figsize=(MAX_WIDTH, 2.6 * rows + 0.9),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        x = np.asarray(panel["prices"], dtype=float)
        top = float(np.max(panel["curves"]["true"]))
        for label, y in panel["curves"].items():
            y = np.asarray(y, dtype=float) / top
            if label == "true":
                ax.plot(x, y, color="0.6", lw=4, label="true game")
            else:
                ax.plot(x, y, lw=1.4, label=label)
        ax.set_title(panel["title"], loc="left", fontsize=FONT)
        ax.set_ylim(-0.05, 1.6)
        ax.set_xlabel("target's price (USD / 1M tokens)")
    for ax in axes[:, 0]:
        ax.set_ylabel("profit / true maximum")
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=FONT)
    return fig
