"""Tidy records of the real-data calibrations (chapter 6): the rows its tables show.

Each function turns a panel or a fit of :mod:`prillm.experiments.daily_volumes`,
:mod:`~prillm.experiments.nowcast` or :mod:`~prillm.experiments.app_snapshot` into a list of
dicts (one per table row) or a dict of counts, so that the chapter only displays them.

- :func:`daily_model_rows` — the 2025 models: mean volume, first and last price, changes;
- :func:`forecast_rows` — held-out R^2 and MAE of the calibrated game and of the other
  forecasts (``"game nowcast"``, ``"yesterday's shares"``, ...), in a stated order;
- :func:`elasticity_rows` — the nowcast's and the calibrated game's own-price elasticities with
  their bootstrap intervals;
- :func:`snapshot_price_rows`, :func:`snapshot_sources` — the 2026 block's prices and where
  each one comes from;
- :func:`snapshot_metric_rows` — the snapshot fits on all cells and on listed cells.

References
----------
Eq. (6) (the fit's loss); Eq. (13)-(17) (the equilibrium behind every forecast).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prillm.data import Panel
from prillm.experiments.app_snapshot import PRICE_WINDOW_DAYS, SnapshotFit
from prillm.experiments.daily_volumes import DailyFit
from prillm.market import MarketError

__all__ = [
    "FORECAST_LABELS",
    "daily_model_rows",
    "elasticity_rows",
    "forecast_rows",
    "snapshot_metric_rows",
    "snapshot_price_rows",
    "snapshot_sources",
]

#: Display names of the keys of :attr:`DailyFit.metrics` that are not already plain words.
FORECAST_LABELS = {"init": "game (Algorithm 1 start)", "fit": "game (calibrated)"}
_PARTS = (("", "value"), ("_low", "low"), ("_high", "high"))


def daily_model_rows(panel: Panel) -> list[dict[str, Any]]:
    """One row per model of :func:`~prillm.experiments.daily_volume_panel`.

    Returns
    -------
    list of dict
        ``model``, ``mean_B`` (mean tokens per day, billions, over all days), ``price_first``
        and ``price_last`` (list input price, USD per 1M tokens) and ``changes`` (list-price
        changes in the window).

    Examples
    --------
    >>> from prillm.experiments import daily_volume_panel
    >>> row = daily_model_rows(daily_volume_panel(3))[0]
    >>> row["model"], row["price_first"], row["changes"]
    ('anthropic/claude-3.7-sonnet', 3.0, 0)
    """
    changes = panel.info["price_changes"]
    return [
        {
            "model": mid,
            "mean_B": float(panel.flows[:, :, j].sum(axis=1).mean()) / 1e9,
            "price_first": float(panel.price[0, j]),
            "price_last": float(panel.price[-1, j]),
            "changes": int(changes[mid]),
        }
        for j, mid in enumerate(panel.provider_ids)
    ]


def forecast_rows(fit: DailyFit, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Training and held-out scores of each forecast in ``fit.metrics``, in ``names`` order.

    Parameters
    ----------
    fit
        From :func:`~prillm.experiments.fit_daily_volumes`.
    names
        Keys of ``fit.metrics`` to report (default: all, in their order).

    Returns
    -------
    list of dict
        ``forecast`` (display name, :data:`FORECAST_LABELS`), ``train_r2`` (``nan`` where the
        forecast has no training score), ``test_r2``, ``test_mae_M`` (million tokens a day).

    Raises
    ------
    MarketError
        If a name is not among the fit's forecasts.
    """
    names = list(fit.metrics) if names is None else list(names)
    unknown = [n for n in names if n not in fit.metrics]
    if unknown:
        raise MarketError(
            f"names: no forecast {unknown[0]!r}; the fit has {', '.join(map(repr, fit.metrics))}"
        )
    rows = []
    for name in names:
        by_split = fit.metrics[name]
        rows.append(
            {
                "forecast": FORECAST_LABELS.get(name, name),
                "train_r2": float(by_split.get("train", {}).get("r2", np.nan)),
                "test_r2": float(by_split["test"]["r2"]),
                "test_mae_M": float(by_split["test"]["mae_M"]),
            }
        )
    return rows


def elasticity_rows(
    nowcast_elasticity: Mapping[str, Mapping[str, float]],
    game_elasticity: Mapping[str, Mapping[str, float]],
) -> list[dict[str, Any]]:
    """The two elasticity estimates of each model side by side.

    Parameters
    ----------
    nowcast_elasticity
        :attr:`Nowcast.elasticity` (interval: bootstrap over the choice of ``w_q``).
    game_elasticity
        :func:`~prillm.experiments.game_elasticities` of the calibrated game (interval:
        bootstrap over the days).

    Returns
    -------
    list of dict
        ``model``, ``nowcast``, ``nowcast_low``, ``nowcast_high``, ``game``, ``game_low``,
        ``game_high``.
    """
    if set(nowcast_elasticity) != set(game_elasticity):
        raise MarketError("elasticities: the two estimates are not of the same models")
    rows = []
    for mid, now in nowcast_elasticity.items():
        game = game_elasticity[mid]
        rows.append(
            {
                "model": mid,
                **{f"nowcast{s}": float(now[k]) for s, k in _PARTS},
                **{f"game{s}": float(game[k]) for s, k in _PARTS},
            }
        )
    return rows


def snapshot_price_rows(panel: Panel) -> list[dict[str, Any]]:
    """One row per model of :func:`~prillm.experiments.app_snapshot_panel`: its price and source.

    Returns
    -------
    list of dict
        ``model``, ``price`` (USD per 1M input tokens on the price date), ``source``,
        ``changes`` (list-price changes in the :data:`PRICE_WINDOW_DAYS` days before), ``low``
        and ``high`` (the range of the price in those days; ``nan`` when not in the ledger).
    """
    info = panel.info
    rows = []
    for j, mid in enumerate(panel.provider_ids):
        low, high = info["price_range"][j]
        rows.append(
            {
                "model": mid,
                "price": float(panel.price[0, j]),
                "source": info["price_source"][j],
                "changes": int(info["price_changes"][j]),
                "low": np.nan if low is None else float(low),
                "high": np.nan if high is None else float(high),
            }
        )
    return rows


def snapshot_sources(panel: Panel) -> dict[str, Any]:
    """Counts of where the snapshot's prices and latencies come from, and its price spread.

    Returns
    -------
    dict
        ``ledger`` (models priced by the ledger), ``ledger_free`` (of which ``:free`` ids),
        ``ledger_paid``, ``performance``, ``free_variant``, ``unknown`` (counts of each price
        source), ``unknown_models`` (their ids), ``latency_performance`` (models with a measured
        latency), ``paid_low`` / ``paid_high`` (range of the paid ledger prices), ``moved``
        (priced models whose list price changed in the window), ``most_moved`` (the model that
        changed most often, or ``None``), ``window_days``.
    """
    info = panel.info
    src = list(info["price_source"])
    ids = list(panel.provider_ids)
    free = [j for j, s in enumerate(src) if s == "ledger" and ids[j].endswith(":free")]
    paid = [j for j, s in enumerate(src) if s == "ledger" and j not in free]
    changes = list(info["price_changes"])
    moved = [j for j, c in enumerate(changes) if c > 0]
    most = max(moved, key=lambda j: changes[j]) if moved else None
    prices = panel.price[0]
    return {
        "ledger": sum(s == "ledger" for s in src),
        "ledger_free": len(free),
        "ledger_paid": len(paid),
        "performance": sum(s == "performance" for s in src),
        "free_variant": sum(s == "free variant" for s in src),
        "unknown": sum(s == "unknown" for s in src),
        "unknown_models": [ids[j] for j, s in enumerate(src) if s == "unknown"],
        "latency_performance": sum(s == "performance" for s in info["latency_source"]),
        "paid_low": float(prices[paid].min()) if paid else float("nan"),
        "paid_high": float(prices[paid].max()) if paid else float("nan"),
        "moved": len(moved),
        "most_moved": None if most is None else ids[most],
        "most_moved_changes": 0 if most is None else int(changes[most]),
        "most_moved_range": (None, None) if most is None else tuple(info["price_range"][most]),
        "window_days": PRICE_WINDOW_DAYS,
    }


def snapshot_metric_rows(fit: SnapshotFit) -> list[dict[str, Any]]:
    """One row per prediction of :func:`~prillm.experiments.fit_app_snapshot`.

    Returns
    -------
    list of dict
        ``prediction``, ``r2_all``, ``mae_all_M`` (all cells of the block, million tokens),
        ``r2_listed``, ``mae_listed_M`` (listed cells only).
    """
    return [
        {
            "prediction": name,
            "r2_all": float(cells["all cells"]["r2"]),
            "mae_all_M": float(cells["all cells"]["mae_M"]),
            "r2_listed": float(cells["listed cells"]["r2"]),
            "mae_listed_M": float(cells["listed cells"]["mae_M"]),
        }
        for name, cells in fit.metrics.items()
    ]
