"""Figures of the calibration experiments (chapter 5, the analogue of paper Figure 3).

matplotlib is imported inside each function; each returns a ``Figure`` (never shows it), 7
inches wide at 160 dpi with text of at least 10 pt, so that it stays legible at the book's page
width. Panels that are compared share both axes.

- :func:`flow_series_figure` — observed and predicted daily loads of the most used models over
  the training and the held-out days (paper Figure 3(a): calibration of the routing flows);
- :func:`fit_grid_figure` — predicted against observed flows on the held-out days, one panel
  per simulator, log-log, with R^2 and MAE (paper Figure 3(b)-(e)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prillm.calibration.metrics import fit_metrics
from prillm.experiments.real_data_plots import _STYLE, _WIDTH, _subplots, short_name

__all__ = ["fit_grid_figure", "flow_series_figure"]


def flow_series_figure(
    observed: np.ndarray,
    predicted: np.ndarray,
    provider_ids: Sequence[str],
    n_train: int,
    top: int = 3,
) -> Any:
    """Daily loads of the ``top`` most used models, observed (dots) and predicted (lines).

    Parameters
    ----------
    observed, predicted
        ``(T, n, m)`` flows in tokens per day over all days (training days first).
    provider_ids
        The models' ids (the legend names them without their vendor).
    n_train
        Training days: the held-out days after them are shaded.
    top
        How many models are drawn (the largest total observed loads).

    Returns
    -------
    matplotlib.figure.Figure
        One axes; y in billion tokens per day.
    """
    import matplotlib.pyplot as plt

    obs = np.asarray(observed, float).sum(axis=1)
    pred = np.asarray(predicted, float).sum(axis=1)
    if obs.shape != pred.shape or obs.shape[1] != len(provider_ids):
        raise ValueError(f"flow_series_figure: shapes {obs.shape}, {pred.shape} do not match")
    order = np.argsort(-obs.sum(axis=0))[:top]
    days = np.arange(obs.shape[0])
    with plt.rc_context(_STYLE):
        fig, ax = _subplots(figsize=(_WIDTH, 3.4))
        ax.axvspan(n_train - 0.5, obs.shape[0] - 0.5, color="grey", alpha=0.15, lw=0)
        for k, j in enumerate(order):
            name = short_name(provider_ids[j])
            ax.plot(days, obs[:, j] / 1e9, "o", ms=3.5, color=f"C{k}", label=f"{name}, data")
            ax.plot(days, pred[:, j] / 1e9, "-", lw=1.3, color=f"C{k}", label=f"{name}, game")
        ax.set_xlabel("day (shaded: held out)")
        ax.set_ylabel("load (B tokens / day)")
        fig.legend(loc="outside upper center", ncols=min(top, 3))
    return fig


def fit_grid_figure(
    predictions: Mapping[str, np.ndarray], observed: np.ndarray, ncols: int = 2
) -> Any:
    """Predicted against observed flows (M tokens, log-log), one panel per simulator.

    Entries where either flow is zero are left out (they have no place on log axes). Every
    panel has the same limits and the diagonal; its title is the name given, its corner text
    the R^2 and MAE of all entries (zeros included), as in :func:`prillm.calibration.fit_metrics`.

    Returns
    -------
    matplotlib.figure.Figure
        ``ceil(len(predictions) / ncols)`` rows of ``ncols`` axes sharing both axes.
    """
    import matplotlib.pyplot as plt

    obs = np.asarray(observed, float)
    flat = {k: np.asarray(v, float).ravel() / 1e6 for k, v in predictions.items()}
    o = obs.ravel() / 1e6
    positive = [v[v > 0] for v in flat.values()] + [o[o > 0]]
    lo = min(float(v.min()) for v in positive if v.size)
    hi = max(float(v.max()) for v in positive if v.size)
    lo, hi = lo / 1.5, hi * 1.5
    nrows = -(-len(flat) // ncols)
    with plt.rc_context(_STYLE):
        fig, axes = _subplots(
            nrows,
            ncols,
            figsize=(_WIDTH, 3.1 * nrows + 0.3),
            sharex=True,
            sharey=True,
            squeeze=False,
        )
        for ax, (title, p) in zip(axes.ravel(), flat.items(), strict=False):
            keep = (p > 0) & (o > 0)
            fm = fit_metrics(predictions[title], obs)
            ax.loglog(o[keep], p[keep], "o", ms=3, alpha=0.5, mew=0)
            ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_title(title, loc="left")
            text = f"$R^2$ {fm.r2:.4f}\nMAE {fm.mae / 1e6:.3g} M"
            ax.text(0.04, 0.96, text, transform=ax.transAxes, va="top", fontsize=10)
        for ax in axes.ravel()[len(flat) :]:
            ax.set_visible(False)
        for ax in axes[-1]:
            ax.set_xlabel("observed (M tokens)")
        for ax in axes[:, 0]:
            ax.set_ylabel("predicted (M tokens)")
    return fig
