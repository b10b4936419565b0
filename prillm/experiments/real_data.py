"""Calibrating the game on the shipped public OpenRouter figures (facts, not the planted panel).

Two real-data calibrations of Section 4 of the paper (Algorithm 1, then Eq. 6 by gradient):

1. **Daily model volumes, April-May 2025** (:func:`daily_volume_panel`,
   :func:`fit_daily_volumes`). ``load_models_daily`` gives each model's total tokens per day and
   its list price, but no app split. The users are modelled as **one aggregate user per day**
   whose demand is the day's total over the chosen models: any split into user groups would be
   invented, and with the public data every group would see the same prices and latencies
   anyway. Capacity ``alpha_j = T_j / u`` with ``T_j`` the model's mean daily tokens over the
   *training* days and a utilisation ``u = 0.8`` — an assumption: the paper's
   ``alpha_j = T_j / v_j`` needs the throughput ``v_j``, which no public 2025 figure gives.
   ``u`` only rescales every capacity, which the learned ``w_q`` absorbs. Latency is unknown for
   2025 and set to one constant (1 s) for every model; a constant latency adds the same amount
   to every route's cost, so it changes no equilibrium, and ``w_d`` is held at 1 (not
   identified). Learned: ``w_q`` and ``b``. The price is the list *input* price in effect that
   day (as in the planted panel of :mod:`prillm.data`).
2. **The 2026 app x model snapshot** (:func:`app_snapshot_panel`, :func:`fit_app_snapshot`).
   One snapshot of the top public apps per model: the block of the ``n_models`` models with most
   app tokens and the apps listed on at least ``min_models`` of them. An app's demand is its
   total over the block; an unlisted cell (the app is not among the model's top apps, or is
   private) is read as zero flow. With one snapshot each model's price is one constant, so
   ``p_j - b_j`` is one number per model and scaling every cost and ``w_q`` together leaves the
   equilibrium unchanged: the weights' scale is not identified. ``w_q = w_d = 1`` are fixed and
   only ``b`` is learned; what the data identify is the net value
   ``b_j - p_j - w_d d_j`` (up to a common shift), reported as ``net_value``. Each model's price
   is its list input price in effect on :data:`SNAPSHOT_PRICE_DATE` in the shipped ledger (which
   holds every model id of the snapshot it lists); a model the ledger does not list has an
   unknown price, set to 0 and flagged in ``info["price_source"]``. On one snapshot a price
   only shifts the learned ``b_j``, not the fit.
   After the gradient fit, a derivative-free Powell search refines ``b`` (the loss has kinks
   where routes enter or leave the support, at which L-BFGS-B stops on these data).

Every function is deterministic (linear programs, L-BFGS-B and Powell's method, no random
draws), so no seed is needed: rerunning gives identical numbers.

References
----------
Algorithm 1 and Eq. (21-25) (initialisation), Eq. (6) and Theorem 2 (the fit), Appendix 9.1
(the paper's capacity rule ``alpha_j = T_j / v_j``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from prillm.calibration.gradient import calibrate
from prillm.calibration.lp_init import initial_preferences
from prillm.calibration.metrics import FitMetrics, fit_metrics
from prillm.calibration.panel import Panel
from prillm.calibration.params import _b_in_order
from prillm.calibration.result import predict_flows
from prillm.data import (
    load_app_flows,
    load_models_daily,
    load_performance,
    load_price_history,
    price_on,
)
from prillm.data.table import Table
from prillm.market import Market, MarketError, Preferences

__all__ = [
    "DAILY_LATENCY_S",
    "PRICE_WINDOW_DAYS",
    "SNAPSHOT_PRICE_DATE",
    "UTILISATION",
    "BuiltPanel",
    "DailyFit",
    "SnapshotFit",
    "app_snapshot_panel",
    "daily_volume_panel",
    "fit_app_snapshot",
    "fit_daily_volumes",
    "metrics_summary",
    "naive_share_forecasts",
    "rolling_forecast",
    "w_q_profile",
]

#: Assumed utilisation ``u`` in ``alpha_j = T_j / u`` (a model at its mean volume runs at 80 %).
UTILISATION = 0.8
#: The constant latency (seconds) given to every 2025 model (unknown; changes no equilibrium).
DAILY_LATENCY_S = 1.0
#: The date at which the 2026 snapshot is priced: the last day of the shipped price ledger, i.e.
#: the last ledger date on or before the snapshot. The snapshot itself is from about 2026-09 (it
#: lists models released up to 2026-08-31; its exact pull date and window are not in the source),
#: so no ledger day is closer to it.
SNAPSHOT_PRICE_DATE = "2026-08-22"
#: Days before the price date over which the spread of each list price is reported.
PRICE_WINDOW_DAYS = 30


@dataclass(frozen=True)
class BuiltPanel:
    """A panel built from the shipped tables, with what was assumed to build it.

    Attributes
    ----------
    panel
        The :class:`~prillm.calibration.Panel` (days x users x providers), tokens per day (or per
        snapshot window), prices USD per 1M tokens, latency seconds.
    dates
        One ISO date (or label) per day of the panel.
    n_train
        Number of leading days used for fitting (``panel.n_days`` for a single snapshot).
    info
        Column-level provenance: per-provider sources of price, latency and capacity, the
        listed-cell mask of the snapshot, the rules used.
    """

    panel: Panel
    dates: tuple[str, ...]
    n_train: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def train(self) -> Panel:
        """The fitting days (the first :attr:`n_train`)."""
        return self.panel.subset(range(self.n_train))

    @property
    def test(self) -> Panel | None:
        """The held-out days (``None`` if there are none)."""
        if self.n_train >= self.panel.n_days:
            return None
        return self.panel.subset(range(self.n_train, self.panel.n_days))


def metrics_summary(m: FitMetrics) -> dict[str, float]:
    """R^2 and MAE / RMSE in million tokens (the units the paper reports its MAE in)."""
    return {"r2": m.r2, "mae_M": m.mae / 1e6, "rmse_M": float(np.sqrt(m.mse)) / 1e6}


# --------------------------------------------------------------------------------------------
# 1. daily model volumes, 2025
# --------------------------------------------------------------------------------------------
def daily_volume_panel(
    n_models: int = 15,
    *,
    train_fraction: float = 0.75,
    utilisation: float = UTILISATION,
    latency: float = DAILY_LATENCY_S,
    table: Table | None = None,
) -> BuiltPanel:
    """The April-May 2025 daily volumes as a one-user-per-day calibration panel.

    Days are the *complete* days of the table (``day_complete == 1``). Models are the
    ``n_models`` standard (paid) variants with most tokens among those listed on every such day
    with a positive list input price on every day. Day ``t`` is a market with one user whose
    demand is the total of the chosen models that day and whose observed flow to model ``j`` is
    that model's tokens.

    Parameters
    ----------
    n_models
        Number of models kept (at most the number of eligible ones).
    train_fraction
        Share of the leading days used to fit (the rest are held out).
    utilisation
        ``u`` in ``alpha_j = T_j / u``, ``T_j`` the mean daily tokens over the training days only
        (no look-ahead). An assumption (see the module docstring).
    latency
        The constant latency of every model, seconds.
    table
        A table in the format of :func:`prillm.data.load_models_daily` (default: the shipped one).

    Returns
    -------
    BuiltPanel
        ``info`` holds ``models``, ``list_price`` ``(T, m)``, ``mean_tokens`` (``T_j``),
        ``price_changes`` (model -> number of list-price changes in the window) and the rules.

    Raises
    ------
    MarketError
        If the parameters are out of range or fewer than two models are eligible.

    Examples
    --------
    >>> built = daily_volume_panel(5)
    >>> built.panel.flows.shape, built.n_train, built.dates[0]
    ((36, 1, 5), 27, '2025-04-02')
    >>> built.info["models"][0]
    'anthropic/claude-3.7-sonnet'
    """
    if not 0.0 < train_fraction < 1.0:
        raise MarketError(f"train_fraction: expected a value in (0, 1), got {train_fraction!r}")
    if not utilisation > 0:
        raise MarketError(f"utilisation: expected a positive number, got {utilisation!r}")
    if not latency >= 0:
        raise MarketError(f"latency: expected a non-negative number, got {latency!r}")
    if n_models < 2:
        raise MarketError(f"n_models: expected at least 2, got {n_models!r}")
    tab = load_models_daily() if table is None else table
    complete = np.asarray(tab["day_complete"]) == 1
    dates = tuple(sorted({d for d, c in zip(tab["date"], complete, strict=True) if c}))
    day_index = {d: k for k, d in enumerate(dates)}
    tokens: dict[str, np.ndarray] = {}
    price: dict[str, np.ndarray] = {}
    for r in tab.rows():
        if r["variant"] != "standard" or r["date"] not in day_index:
            continue
        mid = r["model_id"]
        if mid not in tokens:
            tokens[mid] = np.full(len(dates), np.nan)
            price[mid] = np.full(len(dates), np.nan)
        k = day_index[r["date"]]
        tokens[mid][k] = r["tokens"]
        price[mid][k] = r["input_price_usd_per_mtok"]
    eligible = [
        mid
        for mid in tokens
        if np.isfinite(tokens[mid]).all() and np.isfinite(price[mid]).all() and price[mid].min() > 0
    ]
    if len(eligible) < 2:
        raise MarketError(
            f"models_daily: only {len(eligible)} model(s) are listed with a price on every day"
        )
    eligible.sort(key=lambda mid: (-float(tokens[mid].sum()), mid))
    models = tuple(eligible[:n_models])
    t_days = len(dates)
    n_train = round(t_days * train_fraction)
    if not 1 <= n_train < t_days:
        raise MarketError(f"train_fraction: {train_fraction!r} leaves no training or test day")
    flows = np.stack([tokens[mid] for mid in models], axis=1)  # (T, m)
    list_price = np.stack([price[mid] for mid in models], axis=1)
    mean_tokens = flows[:n_train].mean(axis=0)
    capacity = mean_tokens / utilisation
    markets = [
        Market(
            demand=[flows[t].sum()],
            price=list_price[t],
            capacity=capacity,
            latency=latency,
            provider_ids=models,
            user_ids=("all users",),
            observed_flows=flows[t][None, :],
        )
        for t in range(t_days)
    ]
    panel = Panel.from_markets(markets)
    changes = {mid: int((np.diff(list_price[:, j]) != 0).sum()) for j, mid in enumerate(models)}
    info = {
        "models": models,
        "list_price": list_price,
        "mean_tokens": mean_tokens,
        "price_changes": changes,
        "utilisation": utilisation,
        "latency_s": latency,
        "users": "one aggregate user per day (demand = the day's total over the chosen models)",
        "capacity_rule": f"alpha_j = T_j / {utilisation:g}, T_j = mean daily tokens (train days)",
        "attribution": tab.meta.get("attribution", ""),
    }
    return BuiltPanel(panel, dates, n_train, info)


def naive_share_forecasts(built: BuiltPanel, window: int = 7) -> dict[str, np.ndarray]:
    """Forecasts of the held-out flows without a game, given each day's demand.

    - ``"mean shares"``: each user splits its demand as it did on average over the training days
      (tokens-weighted);
    - ``"mean shares of the last <window> days"``: as on average over the ``window`` days before
      the day forecast;
    - ``"yesterday's shares"``: as it did the day before (the last training day for the first
      held-out day).

    Returns
    -------
    dict
        Name -> predicted flows ``(T_test, n, m)``.

    Raises
    ------
    MarketError
        If the panel has no held-out days or ``window`` is not positive.
    """
    if built.test is None:
        raise MarketError("n_train: the panel has no held-out days to forecast")
    if window < 1:
        raise MarketError(f"window: expected at least one day, got {window!r}")
    flows, demand, n0 = built.panel.flows, built.panel.demand, built.n_train

    def shares(total: np.ndarray) -> np.ndarray:
        return total / np.maximum(total.sum(axis=-1, keepdims=True), 1e-300)

    days = range(n0, built.panel.n_days)
    dem = demand[n0:][:, :, None]
    return {
        "mean shares": dem * shares(flows[:n0].sum(axis=0))[None],
        f"mean shares of the last {window} days": dem
        * np.stack([shares(flows[max(0, t - window) : t].sum(axis=0)) for t in days]),
        "yesterday's shares": dem * shares(flows[n0 - 1 : -1]),
    }


@dataclass(frozen=True)
class DailyFit:
    """The 2025 daily-volume calibration and its comparison with naive forecasts.

    Attributes
    ----------
    prefs
        Learned preferences (``w_q``, ``b``; ``w_d`` held at 1).
    init
        Algorithm 1's start (``w_q = w_d = 1``, minimal ``b``).
    metrics
        ``{"init" | "fit" | <forecast name>: {"train" | "test": {"r2", "mae_M", "rmse_M"}}}``;
        the other forecasts (test only) are those of :func:`naive_share_forecasts` and, when
        asked, ``"game refitted on the last <window> days"`` (:func:`rolling_forecast`).
    predicted, observed
        Held-out loads ``(T_test, m)``, tokens per day, of the fit and of the data.
    baselines
        The other forecasts' held-out loads ``(T_test, m)``, by name.
    loss_history
        Scaled Eq. (6) loss per L-BFGS-B iteration.
    wall_time
        Seconds of the fit (LP start + gradient steps).
    """

    prefs: Preferences
    init: Preferences
    metrics: dict[str, dict[str, dict[str, float]]]
    predicted: np.ndarray
    observed: np.ndarray
    baselines: dict[str, np.ndarray]
    loss_history: list[float]
    wall_time: float

    def parameters(self) -> dict[str, Any]:
        """The learned parameters as plain numbers (``b`` keyed by model id)."""
        ids = self.prefs.provider_ids or ()
        return {
            "w_q": float(self.prefs.w_q),
            "w_d": float(self.prefs.w_d),
            "b": dict(zip(ids, np.asarray(self.prefs.b, float).tolist(), strict=True)),
        }


def _fit_days(days: Panel, test: Panel | None, steps: int) -> tuple[Preferences, Any]:
    """Algorithm 1 (``w_q = w_d = 1``) then L-BFGS-B on ``(w_q, b)`` with ``w_d = 1`` held."""
    init = initial_preferences(days, backend="scipy", w_q=1.0, w_d=1.0).prefs
    res = calibrate(
        days,
        test=test,
        init=init,
        fit=("w_q", "b"),
        fixed={"w_d": 1.0},
        optimizer="lbfgs",
        steps=steps,
    )
    return init, res


def rolling_forecast(built: BuiltPanel, window: int = 7, *, steps: int = 100) -> np.ndarray:
    """Held-out flows of the game refitted each day on the ``window`` days before it.

    For held-out day ``t`` the preferences are calibrated (Algorithm 1, then Eq. 6) on days
    ``t - window .. t - 1`` only (held-out days before ``t`` included: they are in the past on
    day ``t``), and day ``t``'s equilibrium is predicted from its prices and demand.

    Returns
    -------
    numpy.ndarray
        ``(T_test, n, m)`` predicted flows.
    """
    if window < 1:
        raise MarketError(f"window: expected at least one day, got {window!r}")
    panel = built.panel
    u = float(built.info.get("utilisation", UTILISATION))
    out = np.zeros((panel.n_days - built.n_train, *panel.shape))
    for k, t in enumerate(range(built.n_train, panel.n_days)):
        lo = max(0, t - window)
        cap = panel.flows[lo:t].sum(axis=1).mean(axis=0) / u  # the capacity rule, on the window
        moved = replace(panel, capacity=np.broadcast_to(cap, panel.capacity.shape).copy())
        _, res = _fit_days(moved.subset(range(lo, t)), None, steps)
        out[k] = predict_flows(moved.subset([t]), res.prefs)[0]
    return out


def w_q_profile(
    built: BuiltPanel, values: Sequence[float], *, steps: int = 100
) -> list[dict[str, float]]:
    """The fit with ``w_q`` held at each of ``values`` (``b`` refitted, ``w_d = 1``).

    Shows how the training loss (scaled Eq. 6) and the held-out fit depend on the congestion
    weight, i.e. how strongly the price changes of the window pin it down.

    Returns
    -------
    list of dict
        ``w_q``, ``train_loss``, ``train_r2``, ``test_r2``, ``test_mae_M`` per value.
    """
    train, test = built.train, built.test
    rows = []
    for w_q in values:
        init = initial_preferences(train, backend="scipy", w_q=float(w_q), w_d=1.0).prefs
        fixed = {"w_q": float(w_q), "w_d": 1.0}
        res = calibrate(
            train, test=test, init=init, fit=("b",), fixed=fixed, optimizer="lbfgs", steps=steps
        )
        row = {"w_q": float(w_q), "train_loss": min(res.loss_history), "train_r2": res.train.r2}
        if res.test is not None:
            row.update(test_r2=res.test.r2, test_mae_M=res.test.mae / 1e6)
        rows.append(row)
    return rows


def fit_daily_volumes(built: BuiltPanel, *, steps: int = 100, window: int | None = 7) -> DailyFit:
    """Calibrate ``(w_q, b)`` on the training days (Eq. 6) and score the held-out loads.

    Parameters
    ----------
    built
        From :func:`daily_volume_panel`.
    steps
        L-BFGS-B iterations.
    window
        Also score :func:`rolling_forecast` with this window (``None``: skip it).

    Returns
    -------
    DailyFit
        Metrics of Algorithm 1's start, of the fit, of the rolling refit (``"rolling"``) and of
        :func:`naive_share_forecasts`.
    """
    train, test = built.train, built.test
    if test is None:
        raise MarketError("n_train: the panel has no held-out days")
    init, res = _fit_days(train, test, steps)
    metrics: dict[str, dict[str, dict[str, float]]] = {
        "init": {
            "train": metrics_summary(fit_metrics(predict_flows(train, init), train.flows)),
            "test": metrics_summary(fit_metrics(predict_flows(test, init), test.flows)),
        },
        "fit": {"train": metrics_summary(res.train)},
    }
    assert res.test is not None
    metrics["fit"]["test"] = metrics_summary(res.test)
    naive = naive_share_forecasts(built, window or 7)
    if window is not None:
        naive = {
            f"game refitted on the last {window} days": rolling_forecast(
                built, window, steps=steps
            ),
            **naive,
        }
    for name, pred in naive.items():
        metrics[name] = {"test": metrics_summary(fit_metrics(pred, test.flows))}
    predicted = predict_flows(test, res.prefs).sum(axis=1)
    return DailyFit(
        prefs=res.prefs,
        init=init,
        metrics=metrics,
        predicted=predicted,
        observed=test.flows.sum(axis=1),
        baselines={k: v.sum(axis=1) for k, v in naive.items()},
        loss_history=list(res.loss_history),
        wall_time=res.wall_time,
    )


# --------------------------------------------------------------------------------------------
# 2. the 2026 app x model snapshot
# --------------------------------------------------------------------------------------------
_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})$")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _performance_rows(perf: Table) -> dict[str, dict[str, Any]]:
    """Performance rows keyed by model id, also under the id without a date suffix."""
    out: dict[str, dict[str, Any]] = {}
    for r in perf.rows():
        out.setdefault(_DATE_SUFFIX.sub("", r["model_id"]), r)
    for r in perf.rows():
        out[r["model_id"]] = r
    return out


def _price_window(history: Table, model_id: str, start: str, end: str) -> tuple[int, float, float]:
    """Changes of a model's list input price in ``(start, end]`` and its range over ``start..end``.

    The range covers the price in effect on ``start`` and every later price up to ``end``
    (several changes on one day included); ``(0, nan, nan)`` when the ledger does not list it.
    """
    first, _ = price_on(history, model_id, start)
    later = [
        r["input_price_usd_per_mtok"]
        for r in history.where("model_id", model_id).rows()
        if start < r["change_date"] <= end
    ]
    values = ([first] if np.isfinite(first) else []) + later
    if not values:
        return 0, float("nan"), float("nan")
    return len(later), float(min(values)), float(max(values))


def app_snapshot_panel(
    n_models: int = 15,
    *,
    min_models: int = 3,
    utilisation: float = UTILISATION,
    price_date: str = SNAPSHOT_PRICE_DATE,
    flows_table: Table | None = None,
    price_table: Table | None = None,
    performance_table: Table | None = None,
) -> BuiltPanel:
    """The 2026 app x model snapshot as a one-day calibration panel.

    Parameters
    ----------
    n_models
        The models (with their variant suffix, e.g. ``:free``) with most listed app tokens.
    min_models
        Keep the apps listed on at least this many of those models.
    utilisation
        ``u`` in ``alpha_j = T_j / u``, ``T_j`` the model's total listed app tokens in the
        snapshot (all its listed apps, inside the block or not).
    price_date
        The date of the list price looked up in the ledger (:func:`prillm.data.price_on`): the
        input price in effect on that day (the last change on or before it). Default: the
        ledger's last day, :data:`SNAPSHOT_PRICE_DATE`.
    flows_table, price_table, performance_table
        Tables in the formats of :func:`prillm.data.load_app_flows`,
        :func:`~prillm.data.load_price_history` and :func:`~prillm.data.load_performance`
        (default: the shipped ones).

    Returns
    -------
    BuiltPanel
        One day. ``info`` holds ``listed`` (``(n, m)`` bool: the cell is in the table),
        ``price_source`` and ``latency_source`` per model (``"ledger"``, ``"performance"``,
        ``"free variant"`` or ``"unknown"``), ``price_changes`` and ``price_range`` per model
        (list-price changes in the :data:`PRICE_WINDOW_DAYS` days up to ``price_date``, and the
        lowest and highest input price in effect in them; ``nan`` when not in the ledger),
        ``model_tokens`` (``T_j``) and the rules. A price from the ledger is used whenever the
        ledger lists the model on ``price_date`` (a ``:free`` id listed at 0 included); else a
        ``:free`` variant costs 0 and another model takes the performance table's endpoint
        price, or 0 when it has none (``"unknown"``): with one snapshot a price only shifts
        ``b_j`` (see the module docstring), and :class:`SnapshotFit` reports the shift-free net
        value.

    Raises
    ------
    MarketError
        If the parameters are out of range or the block is empty.

    Examples
    --------
    >>> snap = app_snapshot_panel(15, min_models=3)
    >>> snap.panel.flows.shape, int(snap.info["listed"].sum())
    ((1, 9, 15), 58)
    """
    if n_models < 2:
        raise MarketError(f"n_models: expected at least 2, got {n_models!r}")
    if min_models < 1:
        raise MarketError(f"min_models: expected at least 1, got {min_models!r}")
    if not utilisation > 0:
        raise MarketError(f"utilisation: expected a positive number, got {utilisation!r}")
    try:
        window_end = np.datetime64(price_date, "D")
    except (TypeError, ValueError):
        window_end = None
    if window_end is None or not (isinstance(price_date, str) and _ISO_DATE.fullmatch(price_date)):
        raise MarketError(f"price_date: expected an ISO date YYYY-MM-DD, got {price_date!r}")
    flows_tab = load_app_flows() if flows_table is None else flows_table
    prices = load_price_history() if price_table is None else price_table
    perf = _performance_rows(load_performance() if performance_table is None else performance_table)
    totals: dict[str, float] = {}
    for r in flows_tab.rows():
        totals[r["model_id"]] = totals.get(r["model_id"], 0.0) + float(r["tokens"])
    models = tuple(sorted(totals, key=lambda mid: (-totals[mid], mid))[:n_models])
    count: dict[str, int] = {}
    for r in flows_tab.rows():
        if r["model_id"] in models:
            count[r["app"]] = count.get(r["app"], 0) + 1
    apps = tuple(sorted((a for a, c in count.items() if c >= min_models), key=lambda a: a))
    if not apps:
        raise MarketError(f"min_models: no app is listed on {min_models} of the {n_models} models")
    flows = np.zeros((len(apps), len(models)))
    for r in flows_tab.rows():
        if r["model_id"] in models and r["app"] in apps:
            flows[apps.index(r["app"]), models.index(r["model_id"])] += r["tokens"]
    apps_by_size = tuple(sorted(apps, key=lambda a: -flows[apps.index(a)].sum()))
    order = [apps.index(a) for a in apps_by_size]
    flows, apps = flows[order], apps_by_size
    lat_values = np.asarray([r["latency_s_median"] for r in perf.values()], dtype=float)
    lat_default = float(np.median(lat_values))
    price = np.zeros(len(models))
    latency = np.full(len(models), lat_default)
    price_source, latency_source = [], []
    window_start = str(window_end - np.timedelta64(PRICE_WINDOW_DAYS, "D"))
    windows = [_price_window(prices, mid, window_start, price_date) for mid in models]
    for j, mid in enumerate(models):
        p_in, _ = price_on(prices, mid, price_date)
        row = perf.get(mid.split(":")[0])
        if np.isfinite(p_in):
            price[j], src = p_in, "ledger"
        elif mid.endswith(":free"):
            price[j], src = 0.0, "free variant"
        elif row is not None:
            price[j], src = float(row["price_usd_per_mtok_median"]), "performance"
        else:
            src = "unknown"
        price_source.append(src)
        if row is not None:
            latency[j] = float(row["latency_s_median"])
        latency_source.append("performance" if row is not None else "median of the table")
    model_tokens = np.array([totals[mid] for mid in models])
    capacity = model_tokens / utilisation
    market = Market(
        demand=flows.sum(axis=1),
        price=price,
        capacity=capacity,
        latency=latency,
        provider_ids=models,
        user_ids=apps,
        observed_flows=flows,
    )
    info = {
        "models": models,
        "apps": apps,
        "listed": flows > 0,
        "price_source": tuple(price_source),
        "price_changes": tuple(w[0] for w in windows),
        "price_range": tuple((w[1], w[2]) for w in windows),
        "latency_source": tuple(latency_source),
        "latency_default_s": lat_default,
        "model_tokens": model_tokens,
        "utilisation": utilisation,
        "price_date": price_date,
        "capacity_rule": f"alpha_j = T_j / {utilisation:g}, T_j = model's listed app tokens",
        "attribution": flows_tab.meta.get("attribution", ""),
    }
    return BuiltPanel(Panel.from_markets([market]), (price_date,), 1, info)


def _drop_user(panel: Panel, i: int) -> Panel:
    keep = [k for k in range(panel.shape[0]) if k != i]
    return Panel(
        panel.price,
        panel.capacity,
        panel.latency[:, keep],
        panel.demand[:, keep],
        panel.flows[:, keep],
        panel.provider_ids,
        tuple(panel.user_ids[k] for k in keep),
        panel.truth,
    )


def _proportional(flows: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """Each user splits its demand in proportion to the models' total observed flows."""
    col = flows.sum(axis=(0, 1))
    return demand[:, :, None] * (col / max(col.sum(), 1e-300))[None, None, :]


@dataclass(frozen=True)
class SnapshotFit:
    """The 2026 snapshot calibration (``b`` only, ``w_q = w_d = 1``).

    Attributes
    ----------
    prefs, init
        Learned and Algorithm 1 preferences.
    net_value
        Model id -> ``b_j - p_j - w_d d_j`` minus its largest value (USD per 1M tokens): what one
        snapshot identifies.
    metrics
        ``{"init" | "gradient" | "fit" | "proportional": {"all cells" | "listed cells": {...}}}``
        in sample (``"fit"``: after the derivative-free refinement),
        plus ``"leave one app out"`` and ``"proportional, leave one app out"`` when computed.
    predicted, observed
        ``(n, m)`` in-sample flows; ``held_out`` the leave-one-app-out predictions (or ``None``).
    loss_history, wall_time
        Scaled Eq. (6) loss per L-BFGS-B iteration and seconds, of the in-sample gradient fit.
    """

    prefs: Preferences
    init: Preferences
    net_value: dict[str, float]
    metrics: dict[str, dict[str, dict[str, float]]]
    predicted: np.ndarray
    observed: np.ndarray
    held_out: np.ndarray | None
    loss_history: list[float]
    wall_time: float


def _cells(pred: np.ndarray, obs: np.ndarray, listed: np.ndarray) -> dict[str, dict[str, float]]:
    return {
        "all cells": metrics_summary(fit_metrics(pred, obs)),
        "listed cells": metrics_summary(fit_metrics(pred[listed], obs[listed])),
    }


def _powell(panel: Panel, prefs: Preferences, w: Mapping[str, float]) -> Preferences:
    """Derivative-free refinement of ``b`` (Powell's method on the scaled Eq. 6 loss)."""
    from scipy.optimize import minimize

    from prillm.calibration.objective import CalibrationObjective
    from prillm.calibration.params import Parametrisation

    param = Parametrisation(panel.provider_ids, fit=("b",), fixed=w)
    objective = CalibrationObjective(panel, param)
    u0 = param.encode(prefs)
    res = minimize(objective.value, u0, method="Powell", options={"xtol": 1e-6, "ftol": 1e-10})
    return param.decode(res.x) if res.fun < objective.value(u0) else prefs


def fit_app_snapshot(
    built: BuiltPanel,
    *,
    steps: int = 100,
    leave_one_out: bool = True,
    weights: Mapping[str, float] | None = None,
    polish: bool = True,
) -> SnapshotFit:
    """Fit ``b`` to the snapshot with the weights fixed (Eq. 6); optionally leave each app out.

    Each fit is Algorithm 1, then L-BFGS-B with the exact gradient (the paper's method), then,
    with ``polish``, Powell's derivative-free method from that point, keeping it only if it
    lowers the loss. The loss is piecewise smooth in ``b``, with a kink wherever a route enters
    or leaves the support; on this snapshot L-BFGS-B stops at such kinks, short of what the
    derivative-free search reaches (both numbers are in ``metrics``). Neither is a certified
    global optimum.

    Parameters
    ----------
    built
        From :func:`app_snapshot_panel` (one day).
    steps
        L-BFGS-B iterations per fit.
    leave_one_out
        Also refit without each app in turn and predict that app's flows (the other apps stay
        in the market: the held-out app's demand is known, its split is predicted).
    weights
        The fixed ``w_q`` and ``w_d`` (default 1 and 1; only ``w_q`` relative to the capacities
        matters, see the module docstring).
    polish
        Refine each fit with Powell's method.

    Returns
    -------
    SnapshotFit
        ``metrics["gradient"]`` is the fit before the refinement, ``metrics["fit"]`` after.
    """
    w = {"w_q": 1.0, "w_d": 1.0, **dict(weights or {})}
    panel = built.panel
    listed = np.asarray(built.info["listed"], bool)
    obs = panel.flows[0]

    def fit(p: Panel) -> tuple[Preferences, Preferences, Preferences, Any]:
        start = initial_preferences(p, backend="scipy", w_q=w["w_q"], w_d=w["w_d"]).prefs
        res = calibrate(p, init=start, fit=("b",), fixed=w, optimizer="lbfgs", steps=steps)
        final = _powell(p, res.prefs, w) if polish else res.prefs
        return start, res.prefs, final, res

    init, grad_prefs, prefs, res = fit(panel)
    pred = predict_flows(panel, prefs)[0]
    metrics = {
        "init": _cells(predict_flows(panel, init)[0], obs, listed),
        "gradient": _cells(predict_flows(panel, grad_prefs)[0], obs, listed),
        "fit": _cells(pred, obs, listed),
        "proportional": _cells(_proportional(panel.flows, panel.demand)[0], obs, listed),
    }
    held = None
    if leave_one_out:
        held = np.zeros_like(obs)
        prop = np.zeros_like(obs)
        for i in range(panel.shape[0]):
            rest = _drop_user(panel, i)
            _, _, p_i, _ = fit(rest)
            held[i] = predict_flows(panel, p_i)[0, i]
            prop[i] = _proportional(rest.flows, panel.demand[:, [i]])[0, 0]
        metrics["leave one app out"] = _cells(held, obs, listed)
        metrics["proportional, leave one app out"] = _cells(prop, obs, listed)
    b = _b_in_order(prefs, panel.provider_ids)
    lat = panel.latency[0].mean(axis=0)
    net = b - panel.price[0] - w["w_d"] * lat
    net = net - net.max()
    return SnapshotFit(
        prefs=prefs,
        init=init,
        net_value=dict(zip(panel.provider_ids, net.tolist(), strict=True)),
        metrics=metrics,
        predicted=pred,
        observed=obs,
        held_out=held,
        loss_history=list(res.loss_history),
        wall_time=res.wall_time,
    )
