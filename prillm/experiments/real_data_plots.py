"""Figures of the real-data calibrations (chapter 6).

matplotlib is imported inside each function; every function returns a ``Figure`` (never shows
it), at most 7 inches wide, at 160 dpi, with text of at least 10 pt, so that it stays legible at
the book's page width. Panels that are compared share their axes.

- :func:`daily_forecast_figure` — the daily loads of the largest models and held-out forecasts;
- :func:`w_q_profile_figure` — the calibrated game's training loss with ``w_q`` held fixed;
- :func:`nowcast_w_q_figure` — how the nowcast chooses ``w_q``, and how often a bootstrap
  resample chooses each value;
- :func:`elasticity_figure` — own-price elasticities with their intervals (log scale);
- :func:`snapshot_heatmaps_figure` — app x model flows observed and predicted (log colours);
- :func:`snapshot_scatter_figure` — predicted against observed listed cells (log-log);
- :func:`net_value_figure` — the snapshot's net values ``b_j - p_j - w_d d_j``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "daily_forecast_figure",
    "elasticity_figure",
    "net_value_figure",
    "nowcast_w_q_figure",
    "short_name",
    "snapshot_heatmaps_figure",
    "snapshot_scatter_figure",
    "w_q_profile_figure",
]

_STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.dpi": 160,
    "savefig.dpi": 160,
}
_WIDTH = 7.0


def short_name(model_id: str) -> str:
    """A model id without its vendor.

    Examples
    --------
    >>> short_name("openai/gpt-4o-mini"), short_name("no-vendor")
    ('gpt-4o-mini', 'no-vendor')
    """
    return model_id.split("/", 1)[-1]


def _subplots(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    with plt.rc_context(_STYLE):
        return plt.subplots(*args, layout="constrained", dpi=160, **kwargs)


def daily_forecast_figure(
    panel: Any,
    observed_days: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    n_train: int,
    top: int = 6,
) -> Any:
    """Daily loads of the ``top`` largest models (all days) and forecasts of the held-out days.

    Parameters
    ----------
    panel
        The daily panel (its ``provider_ids`` title the panels).
    observed_days
        ``(T, m)`` observed loads, tokens per day.
    forecasts
        Label -> ``(T - n_train, m)`` held-out loads.
    n_train
        Training days (a grey line marks the first held-out day).
    top
        Models shown (the first ``top`` columns; the panel orders models by volume).
    """
    import matplotlib.pyplot as plt

    rows = -(-top // 2)
    with plt.rc_context(_STYLE):
        fig, axes = _subplots(rows, 2, figsize=(_WIDTH, 2.0 * rows + 0.8), sharex=True)
        days = np.arange(observed_days.shape[0])
        held = np.arange(n_train, observed_days.shape[0])
        markers = ("o", "s", "^", "D")
        for j, ax in enumerate(np.ravel(axes)):
            if j >= top:
                ax.set_visible(False)
                continue
            ax.plot(days, observed_days[:, j] / 1e9, color="black", lw=1.2, label="data")
            for k, (label, pred) in enumerate(forecasts.items()):
                style = {"marker": markers[k % 4], "ms": 3.5, "lw": 1.0}
                ax.plot(held, pred[:, j] / 1e9, label=label, **style)
            ax.axvline(n_train - 0.5, color="grey", lw=0.8)
            ax.set_title(short_name(panel.provider_ids[j]))
        for ax in np.ravel(axes)[::2]:
            ax.set_ylabel("B tokens / day")
        for ax in np.ravel(axes)[-2:]:
            ax.set_xlabel("day of the window")
        handles, labels = np.ravel(axes)[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncols=2)
    return fig


def w_q_profile_figure(profile: Sequence[Mapping[str, float]]) -> Any:
    """Training loss (scaled Eq. 6) of the fit with ``w_q`` held at each value, ``b`` refitted."""
    import matplotlib.pyplot as plt

    w_q = np.array([r["w_q"] for r in profile])
    loss = np.array([r["train_loss"] for r in profile])
    with plt.rc_context(_STYLE):
        fig, ax = _subplots(figsize=(_WIDTH, 3.0))
        ax.semilogx(w_q, loss, marker="o")
        ax.set_xlabel("$w_q$ (held fixed, $b$ refitted)")
        ax.set_ylabel("training loss (scaled)")
    return fig


def nowcast_w_q_figure(grid: np.ndarray, train_sse: np.ndarray, boot_w_q: np.ndarray) -> Any:
    """(a) the nowcast's training one-step error over the ``w_q`` grid; (b) bootstrap choices.

    Both panels share the (log) ``w_q`` axis. (a) shows the squared error relative to its
    minimum, ``SSE / min SSE - 1``; (b) the share of bootstrap resamples choosing each value.
    """
    import matplotlib.pyplot as plt

    grid = np.asarray(grid, float)
    sse = np.asarray(train_sse, float)
    counts = np.array([np.sum(np.isclose(boot_w_q, g, rtol=1e-9)) for g in grid])
    with plt.rc_context(_STYLE):
        fig, (ax1, ax2) = _subplots(1, 2, figsize=(_WIDTH, 3.2), sharex=True)
        excess = sse / sse.min() - 1.0
        ax1.semilogx(grid, excess, marker=".", ms=4)
        ax1.set_ylabel("SSE / min SSE - 1")
        ax1.set_title("(a) training one-step error", loc="left")
        used = counts > 0
        ax2.vlines(grid[used], 0, counts[used] / counts.sum(), lw=3)
        ax2.set_ylim(0, 1)
        ax2.set_ylabel("share of resamples")
        ax2.set_title("(b) $w_q$ chosen by the bootstrap", loc="left")
        for ax in (ax1, ax2):
            ax.set_xlabel("$w_q$")
    return fig


def elasticity_figure(
    rows: Sequence[Mapping[str, Any]], series: Mapping[str, str] | None = None
) -> Any:
    """Magnitude of each model's own-price elasticity and its interval, log scale.

    ``rows`` as from :func:`~prillm.experiments.real_data_records.elasticity_rows`; ``series``
    maps a key prefix (``"nowcast"``, ``"game"``) to its legend label.
    """
    import matplotlib.pyplot as plt

    series = dict(series or {"nowcast": "game nowcast", "game": "calibrated game"})
    names = [short_name(r["model"]) for r in rows]
    y = np.arange(len(rows))[::-1]
    with plt.rc_context(_STYLE):
        fig, ax = _subplots(figsize=(_WIDTH, 0.3 * len(rows) + 1.4))
        offsets = np.linspace(-0.18, 0.18, len(series)) if len(series) > 1 else [0.0]
        for (key, label), dy, marker in zip(series.items(), offsets, "os^D", strict=False):
            value = np.abs([r[key] for r in rows])
            lo = np.abs([r[f"{key}_high"] for r in rows])  # the smaller magnitude
            hi = np.abs([r[f"{key}_low"] for r in rows])
            err = np.vstack([value - np.minimum(lo, value), np.maximum(hi, value) - value])
            ax.errorbar(value, y + dy, xerr=err, fmt=marker, ms=4, capsize=2, label=label)
        ax.set_xscale("log")
        ax.set_yticks(y, names)
        ax.set_xlabel("magnitude of the own-price elasticity $|e_j|$ (log scale)")
        fig.legend(loc="outside upper center", ncols=len(series))
    return fig


def _log_norm(arrays: Sequence[np.ndarray]) -> Any:
    from matplotlib.colors import LogNorm

    positive = np.concatenate([a[a > 0] for a in arrays])
    return LogNorm(vmin=float(arrays[0][arrays[0] > 0].min()), vmax=float(positive.max()))


def snapshot_heatmaps_figure(
    panels: Mapping[str, np.ndarray], apps: Sequence[str], models: Sequence[str]
) -> Any:
    """App x model flows, one panel per array (rows: apps, columns: models), log colours.

    All panels share both axes and one colour scale: a ``LogNorm`` from the smallest positive
    value of the first array (the observed flows) to the largest value of any; smaller positive
    values are drawn grey (``under``), zeros white.
    """
    import matplotlib.pyplot as plt

    arrays = [np.asarray(a, float) for a in panels.values()]
    norm = _log_norm(arrays)
    cmap = plt.get_cmap("viridis").with_extremes(under="0.75", bad="white")
    with plt.rc_context(_STYLE):
        n = len(arrays)
        fig, axes = _subplots(
            n, 1, figsize=(_WIDTH, 1.9 * n + 2.4), sharex=True, sharey=True, squeeze=False
        )
        for ax, (title, data) in zip(axes[:, 0], panels.items(), strict=True):
            shown = np.ma.masked_less_equal(np.asarray(data, float), 0.0)
            image = ax.imshow(shown, norm=norm, cmap=cmap, aspect="auto", interpolation="none")
            ax.set_title(title, loc="left")
            ax.set_yticks(range(len(apps)), list(apps))
            ax.grid(False)
        bottom = axes[-1, 0]
        bottom.set_xticks(range(len(models)), [short_name(m) for m in models], rotation=90)
        fig.colorbar(
            image, ax=axes[:, 0].tolist(), extend="min", label="tokens (log scale)", shrink=0.9
        )
    return fig


def snapshot_scatter_figure(
    observed: np.ndarray, predictions: Mapping[str, np.ndarray], listed: np.ndarray
) -> Any:
    """Predicted against observed flows of the listed cells, one panel per prediction, log-log.

    The panels share both axes. Predictions below the smallest observed listed flow divided by
    100 (the axes' floor) are drawn on the floor, as triangles.
    """
    import matplotlib.pyplot as plt

    obs = np.asarray(observed, float)[listed]
    floor = obs.min() / 100.0
    top = max(obs.max(), *(np.asarray(p, float)[listed].max() for p in predictions.values()))
    with plt.rc_context(_STYLE):
        n = len(predictions)
        fig, axes = _subplots(1, n, figsize=(_WIDTH, 3.6), sharex=True, sharey=True, squeeze=False)
        for ax, (title, pred) in zip(axes[0], predictions.items(), strict=True):
            p = np.asarray(pred, float)[listed]
            low = p < floor
            ax.loglog(obs[~low], p[~low], "o", ms=4, alpha=0.8)
            if low.any():
                ax.plot(obs[low], np.full(low.sum(), floor), "v", ms=5, color="C3")
            ax.plot([floor, top * 2], [floor, top * 2], color="black", lw=0.8)
            ax.set_xlim(floor, top * 2)
            ax.set_ylim(floor / 1.5, top * 2)
            ax.set_title(title, loc="left")
            ax.set_xlabel("observed flow (tokens)")
        axes[0, 0].set_ylabel("predicted flow (tokens)")
    return fig


def net_value_figure(net_value: Mapping[str, float]) -> Any:
    """The net values ``b_j - p_j - w_d d_j`` relative to the largest, sorted (bars)."""
    import matplotlib.pyplot as plt

    items = sorted(net_value.items(), key=lambda kv: kv[1])
    with plt.rc_context(_STYLE):
        fig, ax = _subplots(figsize=(_WIDTH, 0.3 * len(items) + 1.2))
        ax.barh([short_name(k) for k, _ in items], [v for _, v in items])
        ax.set_xlabel("net value relative to the largest (USD / 1M tokens, at $w_q = 1$)")
    return fig
