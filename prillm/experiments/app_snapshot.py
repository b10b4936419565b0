"""Calibrating the game on the 2026 app x model snapshot (public OpenRouter figures, facts).

One snapshot of the top public apps per model (:func:`app_snapshot_panel`): the block of the
``n_models`` models with most app tokens and the apps listed on at least ``min_models`` of them.
An app's demand is its total over the block; an unlisted cell (the app is not among the model's
top apps, or is private) is read as zero flow. With one snapshot each model's price is one
constant, so ``p_j - b_j`` is one number per model and scaling every cost and ``w_q`` together
leaves the equilibrium unchanged: the weights' scale is not identified
(:mod:`prillm.calibration.identifiability`). ``w_q = w_d = 1`` are fixed and only ``b`` is
learned; what the data identify is the net value ``b_j - p_j - w_d d_j`` (up to a common shift),
reported as ``net_value``. Each model's price is its list input price in effect on
:data:`SNAPSHOT_PRICE_DATE` in the shipped ledger (which holds every model id of the snapshot it
lists); a model the ledger does not list has an unknown price, set to 0 and flagged in
``info["price_source"]``. On one snapshot a price only shifts the learned ``b_j``, not the fit.

:func:`fit_app_snapshot` fits ``b`` (Algorithm 1, then L-BFGS-B with the exact gradient, then
Powell's derivative-free refinement, :func:`prillm.calibration.calibrate` with
``refine="powell"``: the loss has kinks where routes enter or leave the support, at which
L-BFGS-B stops on these data) in sample and leaving each app out. Deterministic: rerunning gives
identical numbers.

References
----------
Algorithm 1 and Eq. (21-25) (initialisation), Eq. (6) and Theorem 2 (the fit), Appendix 9.1
(the paper's capacity rule ``alpha_j = T_j / v_j``, the top-app pages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm.calibration.gradient import calibrate
from prillm.calibration.lp_init import initial_preferences
from prillm.calibration.metrics import fit_metrics
from prillm.calibration.result import predict_flows
from prillm.data import (
    Panel,
    aligned_b,
    load_app_flows,
    load_performance,
    load_price_history,
    price_on,
)
from prillm.data.table import Table
from prillm.experiments.tables import metrics_summary
from prillm.market import MarketError, Preferences

__all__ = [
    "PRICE_WINDOW_DAYS",
    "SNAPSHOT_PRICE_DATE",
    "UTILISATION",
    "SnapshotFit",
    "app_snapshot_panel",
    "fit_app_snapshot",
]

#: Assumed utilisation ``u`` in ``alpha_j = T_j / u`` (as for the daily volumes).
UTILISATION = 0.8
#: The date at which the 2026 snapshot is priced: the last day of the shipped price ledger, i.e.
#: the last ledger date on or before the snapshot. The snapshot itself is from about 2026-09 (it
#: lists models released up to 2026-08-31; its exact pull date and window are not in the source),
#: so no ledger day is closer to it.
SNAPSHOT_PRICE_DATE = "2026-08-22"
#: Days before the price date over which the spread of each list price is reported.
PRICE_WINDOW_DAYS = 30


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
) -> Panel:
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
    Panel
        One day, dated ``price_date``. ``info`` holds ``models``, ``apps``, ``listed``
        (``n x m`` booleans: the cell is in the table),
        ``price_source`` and ``latency_source`` per model (``"ledger"``, ``"performance"``,
        ``"free variant"`` or ``"unknown"``), ``price_changes`` and ``price_range`` per model
        (list-price changes in the :data:`PRICE_WINDOW_DAYS` days up to ``price_date``, and the
        lowest and highest input price in effect in them; ``None`` when not in the ledger),
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
    >>> snap.shape, int(np.sum(snap.info["listed"]))
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
    info = {
        "models": list(models),
        "apps": list(apps),
        "listed": (flows > 0).tolist(),
        "price_source": price_source,
        "price_changes": [w[0] for w in windows],
        "price_range": [[_finite(w[1]), _finite(w[2])] for w in windows],
        "latency_source": latency_source,
        "latency_default_s": lat_default,
        "model_tokens": model_tokens.tolist(),
        "utilisation": utilisation,
        "price_date": price_date,
        "capacity_rule": f"alpha_j = T_j / {utilisation:g}, T_j = model's listed app tokens",
        "attribution": flows_tab.meta.get("attribution", ""),
    }
    return Panel(
        price=price[None, :],
        capacity=capacity,
        latency=latency,
        demand=flows.sum(axis=1)[None, :],
        flows=flows[None, :, :],
        provider_ids=models,
        user_ids=apps,
        dates=(price_date,),
        info=info,
        name="app snapshot 2026",
    )


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _drop_user(panel: Panel, i: int) -> Panel:
    keep = [k for k in range(panel.n_users) if k != i]
    return panel.replace(
        latency=panel.latency[:, keep],
        demand=panel.demand[:, keep],
        flows=panel.flows[:, keep],
        user_ids=tuple(panel.user_ids[k] for k in keep),
        info={},
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
        Scaled Eq. (6) loss at each L-BFGS-B iterate (raw) and seconds, of the in-sample
        gradient fit.
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


def fit_app_snapshot(
    panel: Panel,
    *,
    steps: int = 100,
    leave_one_out: bool = True,
    weights: Mapping[str, float] | None = None,
    polish: bool = True,
) -> SnapshotFit:
    """Fit ``b`` to the snapshot with the weights fixed (Eq. 6); optionally leave each app out.

    Each fit is Algorithm 1, then L-BFGS-B with the exact gradient (the paper's method), then,
    with ``polish``, Powell's derivative-free method from that point
    (:func:`prillm.calibration.calibrate` with ``refine="powell"``), kept only if it lowers the
    loss. The loss is piecewise smooth in ``b``, with a kink wherever a route enters
    or leaves the support; on this snapshot L-BFGS-B stops at such kinks, short of what the
    derivative-free search reaches (both numbers are in ``metrics``). Neither is a certified
    global optimum.

    Parameters
    ----------
    panel
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
    unknown = sorted(set(weights or {}) - {"w_q", "w_d"})
    if unknown:
        raise MarketError(f"weights: unknown weight {unknown[0]!r}; valid: w_q, w_d")
    w = {"w_q": 1.0, "w_d": 1.0, **dict(weights or {})}
    listed = np.asarray(panel.info["listed"], bool)
    obs = panel.flows[0]

    def fit(p: Panel) -> tuple[Preferences, Preferences, Preferences, Any]:
        start = initial_preferences(p, backend="scipy", w_q=w["w_q"], w_d=w["w_d"]).prefs
        res = calibrate(p, init=start, fit=("b",), fixed=w, optimizer="lbfgs", steps=steps)
        final = res.prefs
        if polish:
            final = calibrate(
                p, init=res.prefs, fit=("b",), fixed=w, steps=0, refine="powell"
            ).prefs
        assert res.prefs is not None and final is not None
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
        for i in range(panel.n_users):
            rest = _drop_user(panel, i)
            _, _, p_i, _ = fit(rest)
            held[i] = predict_flows(panel, p_i)[0, i]
            prop[i] = _proportional(rest.flows, panel.demand[:, [i]])[0, 0]
        metrics["leave one app out"] = _cells(held, obs, listed)
        metrics["proportional, leave one app out"] = _cells(prop, obs, listed)
    b = aligned_b(prefs, panel.provider_ids)
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
