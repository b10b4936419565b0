"""Figures of the abstraction: the learning curve, the network's diagram, profit curves.

matplotlib is imported inside each function; every function returns a ``Figure`` (never shows
it), drawn at 150 dpi with fonts of at least 9 pt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["learning_curve_figure", "network_diagram", "profit_curves_figure"]

_STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 9}


def learning_curve_figure(history: Mapping[str, Any], title: str | None = None) -> Any:
    """Training and validation loss (paper Eq. 7) per epoch, log scale, best epoch marked.

    ``history``: the ``history`` of a training record (``train``, ``validation``,
    ``validation_initial``).
    """
    import matplotlib.pyplot as plt

    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 3.2), dpi=150)
        train = np.asarray(history["train"], dtype=float)
        val = np.asarray(history["validation"], dtype=float)
        epochs = np.arange(1, train.size + 1)
        ax.plot(epochs, train, "o-", ms=3, label="training (mean over the epoch's steps)")
        ax.plot(
            np.concatenate([[0], epochs]),
            np.concatenate([[history["validation_initial"]], val]),
            "s-",
            ms=3,
            label="validation (after the epoch)",
        )
        best = int(np.argmin(np.concatenate([[history["validation_initial"]], val])))
        ax.axvline(best, color="grey", ls=":", lw=1, label=f"chosen epoch ({best})")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("curve loss (Eq. 7)")
        if title:
            ax.set_title(title)
        ax.legend(loc="best")
        fig.tight_layout()
    return fig


def network_diagram(blocks: int = 2) -> Any:
    """A block diagram of the deep aggregation network and of the aggregation that follows."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.2, 2.5), dpi=150)
        ax.set_xlim(0, 14.8)
        ax.set_ylim(0.6, 5.5)
        ax.axis("off")

        def box(x: float, y: float, w: float, h: float, text: str, color: str) -> None:
            ax.add_patch(
                FancyBboxPatch(
                    (x, y), w, h, boxstyle="round,pad=0.08", fc=color, ec="black", lw=0.8
                )
            )
            ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)

        def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
            ax.add_patch(
                FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=10, lw=0.8)
            )

        box(0.1, 2.1, 1.8, 1.6, "rival\nfeatures\n(R x 20)", "#e8eef7")
        arrow(1.95, 2.9, 2.4, 2.9)
        box(2.4, 2.3, 1.3, 1.2, "linear\nembed", "#f3f3f3")
        arrow(3.75, 2.9, 4.2, 2.9)
        ax.add_patch(
            FancyBboxPatch(
                (4.2, 1.0), 3.4, 3.8, boxstyle="round,pad=0.08", fc="none", ec="grey", ls="--"
            )
        )
        ax.text(5.9, 5.1, f"Set Attention Block x {blocks}", ha="center", fontsize=9)
        box(4.4, 3.3, 3.0, 1.1, "multi-head attention\n+ residual, layer norm", "#fdf0d5")
        arrow(5.9, 3.25, 5.9, 2.75)
        box(4.4, 1.4, 3.0, 1.3, "row-wise feed-forward\n+ residual, layer norm", "#fdf0d5")
        arrow(7.7, 2.9, 8.15, 2.9)
        box(8.15, 2.3, 1.5, 1.2, "linear +\nsoftplus", "#f3f3f3")
        arrow(9.7, 3.3, 10.25, 4.0)
        arrow(9.7, 2.5, 10.25, 1.8)
        box(10.25, 3.5, 1.6, 1.0, "score_sum", "#dcefdc")
        box(10.25, 1.3, 1.6, 1.0, "score_avg", "#dcefdc")
        arrow(11.9, 4.0, 12.45, 3.2)
        arrow(11.9, 1.8, 12.45, 2.6)
        box(
            12.45,
            1.7,
            1.85,
            2.4,
            "keep top K-1\nby score_avg;\nmerge the rest\n(Sec. 5.1)",
            "#f7e1e1",
        )
        fig.tight_layout()
    return fig


def profit_curves_figure(
    panels: Sequence[Mapping[str, Any]], ncols: int = 2, sharey: bool = False
) -> Any:
    """True against abstracted profit curves, one panel per market.

    ``panels``: each a mapping with ``title``, ``prices`` and ``curves`` (label -> profits,
    USD); the label ``"true"`` is drawn thick and grey, the others as lines; optional
    ``marks`` (label -> (price, profit)) are drawn as points and ``ylim`` sets the vertical
    range (curves may leave it).
    """
    import matplotlib.pyplot as plt

    rows = int(np.ceil(len(panels) / ncols))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(
            rows, ncols, figsize=(7.2, 2.6 * rows), dpi=150, squeeze=False, sharey=sharey
        )
        for ax, panel in zip(axes.ravel(), panels, strict=False):
            x = np.asarray(panel["prices"])
            for label, y in panel["curves"].items():
                if label == "true":
                    ax.plot(x, y, color="0.6", lw=4, label="true game")
                else:
                    ax.plot(x, y, lw=1.3, label=label)
            for label, (px, py) in panel.get("marks", {}).items():
                ax.plot(px, py, "*", ms=9, label=label)
            ax.set_title(panel["title"])
            if "ylim" in panel:
                ax.set_ylim(*panel["ylim"])
            ax.set_xlabel("target's price (USD / 1M tokens)")
            ax.set_ylabel("profit (USD / day)")
        for ax in axes.ravel()[len(panels) :]:
            ax.axis("off")
        handles, labels = axes.ravel()[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), frameon=False)
        fig.tight_layout(rect=(0, 0.08 if rows > 1 else 0.14, 1, 1))
    return fig
