"""Figure 3 of the paper: predicted against observed flows, one panel per model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prillm._optional import require
from prillm.calibration.metrics import fit_metrics

__all__ = ["fit_figure", "plot_fit"]


def plot_fit(ax: Any, predicted: np.ndarray, observed: np.ndarray, title: str = "") -> None:
    """Scatter predicted vs observed flows (M tokens, log-log) with the diagonal and R^2/MAE.

    Entries where both are zero are left out (they are not visible on log axes).
    """
    pred = np.asarray(predicted, float).ravel() / 1e6
    obs = np.asarray(observed, float).ravel() / 1e6
    fm = fit_metrics(predicted, observed)
    keep = (pred > 0) & (obs > 0)
    ax.scatter(obs[keep], pred[keep], s=6, alpha=0.5, linewidths=0)
    if keep.any():
        lo = float(min(obs[keep].min(), pred[keep].min()))
        hi = float(max(obs[keep].max(), pred[keep].max()))
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("observed flow (M tokens)")
    ax.set_ylabel("predicted flow (M tokens)")
    ax.set_title(f"{title}\nR$^2$ {fm.r2:.4f}, MAE {fm.mae / 1e6:.3g} M tokens", fontsize=9)


def fit_figure(
    predictions: Mapping[str, np.ndarray],
    observed: np.ndarray,
    *,
    ncols: int = 3,
    size: Sequence[float] = (3.6, 3.4),
) -> Any:
    """One :func:`plot_fit` panel per model (name -> predicted flows), as a matplotlib Figure.

    Uses :class:`matplotlib.figure.Figure` directly (no pyplot state), so it works without a
    display; save it with ``fig.savefig(path)``.
    """
    Figure = require("matplotlib.figure", "plotting (prillm.calibration.plot)").Figure

    k = len(predictions)
    ncols = max(1, min(ncols, k))
    nrows = -(-k // ncols)
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, pred) in zip(axes, predictions.items(), strict=False):
        plot_fit(ax, pred, observed, name)
    for ax in axes[k:]:
        ax.set_axis_off()
    return fig
