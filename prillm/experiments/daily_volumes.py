"""Calibrating the game on the 2025 daily model volumes (public OpenRouter figures, facts).

``load_models_daily`` gives each model's total tokens per day and its list price, but no app
split. :func:`daily_volume_panel` models the users as **one aggregate user per day** whose demand
is the day's total over the chosen models: any split into user groups would be invented, and
with the public data every group would see the same prices and latencies anyway. Capacity
``alpha_j = T_j / u`` with ``T_j`` the model's mean daily tokens over the *training* days and a
utilisation ``u = 0.8`` — an assumption: the paper's ``alpha_j = T_j / v_j`` needs the throughput
``v_j``, which no public 2025 figure gives. ``u`` only rescales every capacity, which the learned
``w_q`` absorbs. Latency is unknown for 2025 and set to one constant (1 s) for every model; a
constant latency adds the same amount to every route's cost, so it changes no equilibrium, and
``w_d`` is held at 1 (not identified). Learned: ``w_q`` and ``b``. The price is the list *input*
price in effect that day (as in the planted panel of :mod:`prillm.data`).

:func:`fit_daily_volumes` fits on the leading days (Algorithm 1, then Eq. 6 by L-BFGS-B) and
scores the held-out loads against forecasts without a game (:func:`naive_share_forecasts`) and
the game refitted on a rolling window (:func:`rolling_forecast`); :func:`w_q_profile` shows how
little the data pin ``w_q`` down. Everything is deterministic (linear programs and L-BFGS-B):
rerunning gives identical numbers.

References
----------
Algorithm 1 and Eq. (21-25) (initialisation), Eq. (6) and Theorem 2 (the fit), Appendix 9.1
(the paper's capacity rule ``alpha_j = T_j / v_j``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm.calibration.gradient import calibrate
from prillm.calibration.lp_init import initial_preferences
from prillm.calibration.metrics import fit_metrics
from prillm.calibration.result import CalibrationResult, predict_flows
from prillm.data import Panel, load_models_daily
from prillm.data.table import Table
from prillm.experiments.nowcast import Nowcast, nowcast
from prillm.experiments.tables import metrics_summary, recording_identifiability
from prillm.market import MarketError, Preferences

__all__ = [
    "DAILY_LATENCY_S",
    "UTILISATION",
    "DailyFit",
    "daily_volume_panel",
    "fit_daily_volumes",
    "naive_share_forecasts",
    "rolling_forecast",
    "w_q_profile",
]

#: Assumed utilisation ``u`` in ``alpha_j = T_j / u`` (a model at its mean volume runs at 80 %).
UTILISATION = 0.8
#: The constant latency (seconds) given to every 2025 model (unknown; changes no equilibrium).
DAILY_LATENCY_S = 1.0


def daily_volume_panel(
    n_models: int = 15,
    *,
    train_fraction: float = 0.75,
    utilisation: float = UTILISATION,
    latency: float = DAILY_LATENCY_S,
    table: Table | None = None,
) -> Panel:
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
        Share of the leading days used to fit (the rest are held out); recorded as
        ``info["n_train"]``.
    utilisation
        ``u`` in ``alpha_j = T_j / u``, ``T_j`` the mean daily tokens over the training days only
        (no look-ahead). An assumption (see the module docstring).
    latency
        The constant latency of every model, seconds.
    table
        A table in the format of :func:`prillm.data.load_models_daily` (default: the shipped one).

    Returns
    -------
    Panel
        With ``dates``; ``info`` holds ``n_train``, ``models``, ``list_price`` ``(T, m)``,
        ``mean_tokens`` (``T_j``), ``price_changes`` (model -> number of list-price changes in
        the window), the rules and the attribution.

    Raises
    ------
    MarketError
        If the parameters are out of range or fewer than two models are eligible.

    Examples
    --------
    >>> panel = daily_volume_panel(5)
    >>> panel.shape, panel.info["n_train"], panel.dates[0]
    ((36, 1, 5), 27, '2025-04-02')
    >>> panel.provider_ids[0]
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
    changes = {mid: int((np.diff(list_price[:, j]) != 0).sum()) for j, mid in enumerate(models)}
    info = {
        "n_train": n_train,
        "models": list(models),
        "list_price": list_price.tolist(),
        "mean_tokens": mean_tokens.tolist(),
        "price_changes": changes,
        "utilisation": utilisation,
        "latency_s": latency,
        "users": "one aggregate user per day (demand = the day's total over the chosen models)",
        "capacity_rule": f"alpha_j = T_j / {utilisation:g}, T_j = mean daily tokens (train days)",
        "attribution": tab.meta.get("attribution", ""),
    }
    return Panel(
        price=list_price,
        capacity=mean_tokens / utilisation,
        latency=latency,
        demand=flows.sum(axis=1)[:, None],
        flows=flows[:, None, :],
        provider_ids=models,
        user_ids=("all users",),
        dates=dates,
        info=info,
        name="daily volumes 2025",
    )


def _n_train(panel: Panel) -> int:
    n_train = panel.info.get("n_train")
    if not isinstance(n_train, int) or not 1 <= n_train < panel.n_days:
        raise MarketError("n_train: the panel has no held-out days (see daily_volume_panel)")
    return n_train


def naive_share_forecasts(panel: Panel, window: int = 7) -> dict[str, np.ndarray]:
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
    n0 = _n_train(panel)
    if window < 1:
        raise MarketError(f"window: expected at least one day, got {window!r}")
    flows, demand = panel.flows, panel.demand

    def shares(total: np.ndarray) -> np.ndarray:
        return total / np.maximum(total.sum(axis=-1, keepdims=True), 1e-300)

    days = range(n0, panel.n_days)
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
        Scaled Eq. (6) loss at each L-BFGS-B iterate (raw).
    wall_time
        Seconds of the fit (LP start + gradient steps).
    not_identified
        The parameters the fit could not identify (see
        :mod:`prillm.calibration.identifiability`), and why (``identifiability``).
    nowcast
        The nowcast (:func:`prillm.experiments.nowcast.nowcast`) when asked: values from the
        latest day(s), ``w_q`` from the window; scored as ``metrics["game nowcast"]``.
    """

    prefs: Preferences
    init: Preferences
    metrics: dict[str, dict[str, dict[str, float]]]
    predicted: np.ndarray
    observed: np.ndarray
    baselines: dict[str, np.ndarray]
    loss_history: list[float]
    wall_time: float
    not_identified: tuple[str, ...] = ()
    identifiability: tuple[dict[str, Any], ...] = ()
    nowcast: Nowcast | None = None

    def parameters(self) -> dict[str, Any]:
        """The learned parameters as plain numbers (``b`` keyed by model id)."""
        ids = self.prefs.provider_ids or ()
        return {
            "w_q": float(self.prefs.w_q),
            "w_d": float(self.prefs.w_d),
            "b": dict(zip(ids, np.asarray(self.prefs.b, float).tolist(), strict=True)),
        }


def _fit_days(
    days: Panel, test: Panel | None, steps: int, *, w_q: float | None = None
) -> tuple[Preferences, CalibrationResult]:
    """Algorithm 1, then L-BFGS-B on ``(w_q, b)`` (``b`` alone at a given ``w_q``), ``w_d = 1``."""
    init = initial_preferences(days, backend="scipy", w_q=w_q or 1.0, w_d=1.0).prefs
    fit = ("b",) if w_q is not None else ("w_q", "b")
    fixed = {"w_d": 1.0} if w_q is None else {"w_q": float(w_q), "w_d": 1.0}
    res = recording_identifiability(
        lambda: calibrate(
            days, test=test, init=init, fit=fit, fixed=fixed, optimizer="lbfgs", steps=steps
        )
    )
    return init, res


def rolling_forecast(panel: Panel, window: int = 7, *, steps: int = 100) -> np.ndarray:
    """Held-out flows of the game refitted each day on the ``window`` days before it.

    For held-out day ``t`` the preferences are calibrated (Algorithm 1, then Eq. 6) on days
    ``t - window .. t - 1`` only (held-out days before ``t`` included: they are in the past on
    day ``t``), with the capacity rule applied to that window, and day ``t``'s equilibrium is
    predicted from its prices and demand.

    Returns
    -------
    numpy.ndarray
        ``(T_test, n, m)`` predicted flows.
    """
    if window < 1:
        raise MarketError(f"window: expected at least one day, got {window!r}")
    n0 = _n_train(panel)
    u = float(panel.info.get("utilisation", UTILISATION))
    out = np.zeros((panel.n_days - n0, panel.n_users, panel.n_providers))
    for k, t in enumerate(range(n0, panel.n_days)):
        lo = max(0, t - window)
        cap = panel.flows[lo:t].sum(axis=1).mean(axis=0) / u  # the capacity rule, on the window
        moved = panel.replace(capacity=cap)
        _, res = _fit_days(moved.subset(range(lo, t)), None, steps)
        out[k] = predict_flows(moved.subset([t]), res.prefs)[0]
    return out


def w_q_profile(
    panel: Panel, values: Sequence[float], *, steps: int = 100
) -> list[dict[str, float]]:
    """The fit with ``w_q`` held at each of ``values`` (``b`` refitted, ``w_d = 1``).

    Shows how the training loss (scaled Eq. 6) and the held-out fit depend on the congestion
    weight, i.e. how strongly the price changes of the window pin it down.

    Returns
    -------
    list of dict
        ``w_q``, ``train_loss`` (at the fitted point), ``train_r2``, ``test_r2``,
        ``test_mae_M`` per value.
    """
    train, test = panel.split(n_train=_n_train(panel))
    rows = []
    for w_q in values:
        _, res = _fit_days(train, test, steps, w_q=float(w_q))
        row = {"w_q": float(w_q), "train_loss": res.info["final_loss"], "train_r2": res.train.r2}
        if res.test is not None:
            row.update(test_r2=res.test.r2, test_mae_M=res.test.mae / 1e6)
        rows.append(row)
    return rows


def fit_daily_volumes(
    panel: Panel,
    *,
    steps: int = 100,
    window: int | None = 7,
    nowcast_memory: int | None = 1,
    rng: np.random.Generator | None = None,
) -> DailyFit:
    """Calibrate ``(w_q, b)`` on the training days (Eq. 6) and score the held-out loads.

    Parameters
    ----------
    panel
        From :func:`daily_volume_panel` (``info["n_train"]`` leading days are fitted).
    steps
        L-BFGS-B iterations.
    window
        Also score :func:`rolling_forecast` with this window (``None``: skip it).
    nowcast_memory
        Also score the nowcast (:func:`prillm.experiments.nowcast.nowcast`) with values read
        from this many latest days, under the key ``"game nowcast"`` (``None``: skip it).
    rng
        Generator of the nowcast's bootstrap (default ``np.random.default_rng(0)``).

    Returns
    -------
    DailyFit
        Metrics of Algorithm 1's start, of the fit, of the rolling refit, of the nowcast and of
        :func:`naive_share_forecasts`; what the fit could not identify.
    """
    train, test = panel.split(n_train=_n_train(panel))
    init, res = _fit_days(train, test, steps)
    assert res.test is not None and res.prefs is not None
    metrics: dict[str, dict[str, dict[str, float]]] = {
        "init": {
            "train": metrics_summary(fit_metrics(predict_flows(train, init), train.flows)),
            "test": metrics_summary(fit_metrics(predict_flows(test, init), test.flows)),
        },
        "fit": {"train": metrics_summary(res.train), "test": metrics_summary(res.test)},
    }
    naive = naive_share_forecasts(panel, window or 7)
    if window is not None:
        naive = {
            f"game refitted on the last {window} days": rolling_forecast(
                panel, window, steps=steps
            ),
            **naive,
        }
    now = None
    if nowcast_memory is not None:
        now = nowcast(panel, memory=nowcast_memory, rng=rng)
        naive = {"game nowcast": now.predicted, **naive}
    for name, pred in naive.items():
        metrics[name] = {"test": metrics_summary(fit_metrics(pred, test.flows))}
    if now is not None:
        metrics["game nowcast"]["train"] = now.metrics["train"]  # one-step, training days
    return DailyFit(
        prefs=res.prefs,
        init=init,
        metrics=metrics,
        predicted=predict_flows(test, res.prefs).sum(axis=1),
        observed=test.flows.sum(axis=1),
        baselines={k: v.sum(axis=1) for k, v in naive.items()},
        loss_history=list(res.loss_history),
        wall_time=res.wall_time,
        not_identified=res.not_identified,
        identifiability=res.identifiability,
        nowcast=now,
    )
