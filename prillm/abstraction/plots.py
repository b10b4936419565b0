"""The learning curve that ``prillm train-abstraction`` writes beside its weights.

matplotlib is imported inside the function, which returns a ``Figure`` (never shows it), drawn
at 150 dpi with fonts of at least 9 pt. The book's figures of the abstraction (network diagram,
profit curves) are in :mod:`prillm.experiments.abstraction_figures`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["learning_curve_figure"]

_STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 9}


def learning_curve_figure(history: Mapping[str, Any], title: str | None = None) -> Any:
    """Training and validation loss (paper Eq. 7) per epoch, log scale, best epoch marked.

    ``history``: the ``history`` of a training record (``train``, ``validation``,
    ``validation_initial``; optionally ``validation_tail`` with ``validation_tail_initial``,
    drawn dashed, and ``selected_epoch``, marked; otherwise the least validation loss is).
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
        if "validation_tail" in history:
            ax.plot(
                np.concatenate([[0], epochs]),
                np.concatenate([[history["validation_tail_initial"]], history["validation_tail"]]),
                "^--",
                ms=3,
                label="validation, worst 5 % (selects the epoch)",
            )
        best = history.get("selected_epoch")
        if best is None:
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
