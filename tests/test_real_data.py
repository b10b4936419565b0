"""Real-data calibration: panels built from the shipped OpenRouter tables, and short fits."""

from __future__ import annotations

import numpy as np
import pytest

from prillm import MarketError, Preferences
from prillm.calibration import predict_flows
from prillm.data import load_app_flows, load_models_daily, load_price_history, price_on
from prillm.experiments import (
    app_snapshot_panel,
    daily_volume_panel,
    fit_app_snapshot,
    fit_daily_volumes,
    naive_share_forecasts,
    rolling_forecast,
)
from prillm.experiments.app_snapshot import PRICE_WINDOW_DAYS
from prillm.experiments.nowcast import (
    elasticities,
    game_elasticities,
    nowcast,
    nowcast_values,
    one_step_forecasts,
)
from prillm.experiments.real_data_plots import (
    daily_forecast_figure,
    elasticity_figure,
    nowcast_w_q_figure,
    snapshot_heatmaps_figure,
    snapshot_scatter_figure,
)
from prillm.experiments.real_data_records import (
    daily_model_rows,
    elasticity_rows,
    forecast_rows,
    snapshot_price_rows,
    snapshot_sources,
)


@pytest.fixture(scope="module")
def daily():
    return daily_volume_panel(15)


@pytest.fixture(scope="module")
def small_daily():
    return daily_volume_panel(5)


@pytest.fixture(scope="module")
def snapshot():
    return app_snapshot_panel(15, min_models=3)


def test_daily_panel_matches_the_table(daily):
    table = load_models_daily()
    panel = daily
    models = daily.info["models"]
    flags = zip(table["date"], table["day_complete"], strict=True)
    complete = sorted({d for d, c in flags if c == 1})
    assert daily.dates == tuple(complete)
    assert panel.flows.shape == (len(complete), 1, 15)
    assert daily.info["n_train"] == round(0.75 * len(complete))
    lookup = {
        (r["date"], r["model_id"]): (r["tokens"], r["input_price_usd_per_mtok"], r["variant"])
        for r in table.rows()
    }
    for t, date in enumerate(daily.dates):
        for j, mid in enumerate(models):
            tokens, price, variant = lookup[(date, mid)]
            assert variant == "standard"
            assert panel.flows[t, 0, j] == tokens  # tokens per day, unchanged
            assert panel.price[t, j] == price  # USD per 1M tokens
    np.testing.assert_allclose(panel.demand[:, 0], panel.flows[:, 0].sum(axis=1), rtol=1e-12)
    train_mean = panel.flows[: daily.info["n_train"], 0].mean(axis=0)
    np.testing.assert_allclose(panel.capacity, np.broadcast_to(train_mean / 0.8, (36, 15)))
    assert np.all(panel.latency == 1.0)
    # models ranked by volume, and the window has real list-price changes
    totals = panel.flows[:, 0].sum(axis=0)
    assert np.all(np.diff(totals) <= 0)
    assert sum(daily.info["price_changes"].values()) >= 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"train_fraction": 1.5}, "train_fraction"),
        ({"utilisation": 0.0}, "utilisation"),
        ({"n_models": 1}, "n_models"),
        ({"latency": -1.0}, "latency"),
    ],
)
def test_daily_panel_rejects_bad_parameters(kwargs, field):
    with pytest.raises(MarketError, match=field):
        daily_volume_panel(**kwargs)


def test_naive_forecasts(small_daily):
    n0 = small_daily.info["n_train"]
    test = small_daily.split(n_train=n0)[1]
    fc = naive_share_forecasts(small_daily, window=3)
    flows = small_daily.flows
    for pred in fc.values():
        assert pred.shape == test.flows.shape
        np.testing.assert_allclose(pred.sum(axis=2), test.demand, rtol=1e-12)
    last = flows[n0 - 1, 0] / flows[n0 - 1, 0].sum()
    np.testing.assert_allclose(fc["yesterday's shares"][0, 0], test.demand[0, 0] * last)
    window = flows[n0 - 3 : n0, 0].sum(axis=0)
    np.testing.assert_allclose(
        fc["mean shares of the last 3 days"][0, 0], test.demand[0, 0] * window / window.sum()
    )


def test_daily_fit_improves_on_its_start(small_daily):
    test = small_daily.split(n_train=small_daily.info["n_train"])[1]
    fit = fit_daily_volumes(small_daily, steps=15, window=None)
    assert fit.loss_history[-1] < fit.loss_history[0]  # raw loss at the last iterate
    assert fit.metrics["fit"]["train"]["r2"] > fit.metrics["init"]["train"]["r2"]
    assert fit.predicted.shape == fit.observed.shape == (test.n_days, 5)
    np.testing.assert_allclose(fit.predicted.sum(axis=1), test.demand[:, 0])
    params = fit.parameters()
    assert params["w_d"] == 1.0 and params["w_q"] > 0
    assert set(params["b"]) == set(small_daily.info["models"])


def test_daily_fit_says_w_q_is_not_identified(daily):
    # the few small list-price cuts do not pin the congestion weight down (chapter 6): the fit
    # runs to the bound of w_q, and the result says so
    fit = fit_daily_volumes(daily, steps=60, window=None)
    assert fit.not_identified == ("w_q",)
    assert "bound" in fit.identifiability[0]["reason"]
    assert fit.prefs.w_q == pytest.approx(1e4, rel=1e-9)
    for name in ("mean shares", "yesterday's shares"):
        assert np.isfinite(fit.metrics[name]["test"]["mae_M"])


def test_rolling_forecast_shape_and_demand(small_daily):
    test = small_daily.split(n_train=small_daily.info["n_train"])[1]
    pred = rolling_forecast(small_daily, window=2, steps=5)
    assert pred.shape == test.flows.shape
    np.testing.assert_allclose(pred.sum(axis=2), test.demand, rtol=1e-9)
    with pytest.raises(MarketError, match="window"):
        rolling_forecast(small_daily, window=0)


def test_snapshot_panel_matches_the_table(snapshot):
    table = load_app_flows()
    panel = snapshot
    models, apps = snapshot.info["models"], snapshot.info["apps"]
    assert panel.flows.shape == (1, len(apps), 15)
    cells = {(r["app"], r["model_id"]): r["tokens"] for r in table.rows()}
    for i, app in enumerate(apps):
        listed_on = [mid for mid in models if (app, mid) in cells]
        assert len(listed_on) >= 3
        for j, mid in enumerate(models):
            assert panel.flows[0, i, j] == cells.get((app, mid), 0)
            assert snapshot.info["listed"][i][j] == ((app, mid) in cells)
    np.testing.assert_allclose(panel.demand[0], panel.flows[0].sum(axis=1))
    totals = {mid: sum(v for (a, m), v in cells.items() if m == mid) for mid in models}
    np.testing.assert_allclose(panel.capacity[0], [totals[m] / 0.8 for m in models])
    for j, mid in enumerate(models):
        if snapshot.info["price_source"][j] == "free variant":
            assert mid.endswith(":free") and panel.price[0, j] == 0.0
    with pytest.raises(MarketError, match="min_models"):
        app_snapshot_panel(15, min_models=100)


def test_snapshot_prices_are_the_ledger_prices_on_the_price_date(snapshot):
    history = load_price_history()
    price_date = snapshot.info["price_date"]
    # the default price date is the ledger's last day (the last one before the ~2026-09 snapshot)
    assert price_date == history.meta["as_of"] == max(history["last_seen"])
    assert snapshot.dates == (price_date,)
    prices = snapshot.price[0]
    start = str(np.datetime64(price_date) - np.timedelta64(PRICE_WINDOW_DAYS, "D"))
    for j, mid in enumerate(snapshot.info["models"]):
        p_in, _ = price_on(history, mid, price_date)
        source = snapshot.info["price_source"][j]
        changes, (lo, hi) = snapshot.info["price_changes"][j], snapshot.info["price_range"][j]
        if np.isfinite(p_in):  # every model the ledger lists is priced from it
            assert source == "ledger" and prices[j] == p_in
            assert lo <= p_in <= hi
            rows = history.where("model_id", mid)
            moved = [d for d in rows["change_date"] if start < d <= price_date]
            assert changes == len(moved)
            if changes == 0:
                assert lo == hi == p_in
        else:
            assert source != "ledger" and changes == 0 and lo is None and hi is None
            assert prices[j] >= 0.0
    n_ledger = sum(s == "ledger" for s in snapshot.info["price_source"])
    assert n_ledger >= len(snapshot.info["models"]) - 2
    # another date gives that day's prices
    earlier = app_snapshot_panel(15, min_models=3, price_date="2026-08-01")
    for j, mid in enumerate(earlier.info["models"]):
        p_in, _ = price_on(history, mid, "2026-08-01")
        if np.isfinite(p_in):
            assert earlier.price[0, j] == p_in
    for bad in ("2026-09", "2026-13-45", 20260822):
        with pytest.raises(MarketError, match="price_date"):
            app_snapshot_panel(15, min_models=3, price_date=bad)


def test_snapshot_scale_is_not_identified(snapshot):
    """Scaling w_q by s with b_j -> s b_j - (s - 1)(p_j + d_j) leaves the equilibrium unchanged."""
    from prillm.calibration import scale_profile

    panel = snapshot
    m = panel.n_providers
    b = np.linspace(0.0, 2.0, m)
    base = Preferences(w_q=1.0, w_d=1.0, b=b, provider_ids=panel.provider_ids)
    cost = panel.price[0] + panel.latency[0, 0]
    scaled = base.replace(w_q=3.0, b=3.0 * b - 2.0 * cost)
    f1, f2 = predict_flows(panel, base), predict_flows(panel, scaled)
    assert np.abs(f1 - f2).max() <= 1e-9 * panel.demand.max()
    # the library's ray is the same invariance: the loss is the same all along it
    rows = scale_profile(panel, base, [0.3, 3.0])
    assert all(r["relative"] == pytest.approx(1.0, rel=1e-6) for r in rows)


def test_snapshot_fit_and_leave_one_app_out(snapshot):
    fit = fit_app_snapshot(snapshot, steps=30)
    assert fit.loss_history[-1] < fit.loss_history[0]
    r2 = {k: v["all cells"]["r2"] for k, v in fit.metrics.items()}
    assert r2["init"] < r2["gradient"] <= r2["fit"] + 1e-12
    assert fit.prefs.w_q == 1.0 and fit.prefs.w_d == 1.0
    assert max(fit.net_value.values()) == 0.0
    assert fit.held_out is not None
    np.testing.assert_allclose(fit.held_out.sum(axis=1), snapshot.demand[0], rtol=1e-9)
    assert set(fit.metrics) >= {"leave one app out", "proportional, leave one app out"}


# ------------------------------------------------------------------ the nowcast
def test_nowcast_values_make_the_day_the_equilibrium(daily):
    # independent check: the calibration's own equilibrium solver at the inverted values
    for t, w_q in ((3, 0.5), (20, 40.0)):
        b, alpha = nowcast_values(daily, [t], w_q, 0.8)
        prefs = Preferences(w_q=w_q, w_d=1.0, b=b, provider_ids=daily.provider_ids)
        pred = predict_flows(daily.replace(capacity=alpha).subset([t]), prefs)[0]
        np.testing.assert_allclose(pred, daily.flows[t], rtol=1e-9)


def test_nowcast_is_yesterdays_shares_at_unchanged_prices(daily):
    n0 = daily.info["n_train"]
    fc = one_step_forecasts(daily, range(n0, daily.n_days), w_q=3.0)
    yesterday = naive_share_forecasts(daily)["yesterday's shares"]
    same = [
        k
        for k, t in enumerate(range(n0, daily.n_days))
        if (daily.price[t] == daily.price[t - 1]).all()
    ]
    assert same  # the held-out days keep their prices
    np.testing.assert_allclose(fc[same], yesterday[same], rtol=1e-9)


def test_nowcast_elasticity_matches_the_closed_form(daily):
    t, w_q = 10, 2.0
    e = elasticities(daily, t, w_q)
    _, alpha = nowcast_values(daily, [t], w_q, 0.8)
    loads = daily.flows[t, 0]
    closed = -alpha * (1 - alpha / alpha.sum()) * daily.price[t] / (2 * w_q * loads)
    np.testing.assert_allclose(e, closed, rtol=1e-6)


def test_nowcast_recovers_a_planted_price_response(daily):
    # make every price-change day of the training window follow the nowcast at w_q = 1 (in
    # order, so that each day's values come from the planted day before): the grid must find 1
    n0 = daily.info["n_train"]
    flows = daily.flows.copy()
    planted = daily
    for t in range(1, n0):
        if (daily.price[t] != daily.price[t - 1]).any():
            flows[t] = one_step_forecasts(planted, [t], w_q=1.0)[0]
            planted = daily.replace(flows=flows.copy())
    now = nowcast(planted, n_boot=20)
    assert now.w_q == pytest.approx(1.0, rel=1e-12) and now.at_bound == ""
    assert now.train_sse.min() == pytest.approx(now.train_sse[np.argmin(np.abs(now.grid - 1))])


def test_fit_reports_the_nowcast_and_its_limits(daily):
    fit = fit_daily_volumes(daily, steps=5, window=None, rng=np.random.default_rng(3))
    m = fit.metrics
    assert set(m["game nowcast"]) == {"train", "test"}
    assert m["game nowcast"]["test"]["r2"] >= m["yesterday's shares"]["test"]["r2"] - 1e-12
    now = fit.nowcast
    assert now is not None and now.at_bound == "upper"  # no price response asked for
    assert set(now.informative_days) == {
        t for t in range(1, daily.info["n_train"]) if (daily.price[t] != daily.price[t - 1]).any()
    }
    assert any("no price changes on the held-out days" in n for n in now.notes)
    again = nowcast(daily, rng=np.random.default_rng(3))
    assert again.elasticity == now.elasticity  # seeded bootstrap: identical
    for e in now.elasticity.values():
        assert e["low"] <= e["value"] <= e["high"] <= 0
    game = game_elasticities(daily, fit.prefs, range(daily.info["n_train"], daily.n_days))
    assert all(v["low"] <= v["high"] <= 0 for v in game.values())


def test_nowcast_rejects_bad_parameters(daily):
    with pytest.raises(MarketError, match="memory"):
        nowcast(daily, memory=0)
    with pytest.raises(MarketError, match="bounds"):
        nowcast(daily, bounds=(1.0, 0.5))


# ------------------------------------------------------------------ chapter 6's records and figures
@pytest.fixture(scope="module")
def short_fit(daily):
    return fit_daily_volumes(daily, steps=5, window=7, rng=np.random.default_rng(0))


def test_forecast_rows_follow_the_fit(short_fit):
    rows = forecast_rows(short_fit, ["fit", "game nowcast", "yesterday's shares"])
    assert [r["forecast"] for r in rows] == [
        "game (calibrated)",
        "game nowcast",
        "yesterday's shares",
    ]
    m = short_fit.metrics
    assert rows[1]["test_r2"] == m["game nowcast"]["test"]["r2"]
    assert rows[2]["test_mae_M"] == m["yesterday's shares"]["test"]["mae_M"]
    assert np.isnan(rows[2]["train_r2"]) and not np.isnan(rows[1]["train_r2"])
    with pytest.raises(MarketError, match="no forecast 'tomorrow'"):
        forecast_rows(short_fit, ["tomorrow"])


def test_daily_model_rows_match_the_panel(daily):
    rows = daily_model_rows(daily)
    assert [r["model"] for r in rows] == list(daily.provider_ids)
    j = 4
    assert rows[j]["mean_B"] == pytest.approx(daily.flows[:, 0, j].mean() / 1e9)
    moved = [r for r in rows if r["changes"] > 0]
    assert moved and all(r["price_first"] != r["price_last"] or r["changes"] > 1 for r in moved)


def test_elasticity_rows_pair_the_two_estimates(daily, short_fit):
    now = short_fit.nowcast
    n0 = daily.info["n_train"]
    game = game_elasticities(daily, short_fit.prefs, range(n0, daily.n_days), n_boot=20)
    rows = elasticity_rows(now.elasticity, game)
    mid = daily.provider_ids[2]
    row = next(r for r in rows if r["model"] == mid)
    assert row["nowcast"] == now.elasticity[mid]["value"]
    assert row["game_low"] == game[mid]["low"]
    with pytest.raises(MarketError, match="not of the same models"):
        elasticity_rows(now.elasticity, {mid: game[mid]})


def test_snapshot_sources_count_every_model(snapshot):
    src = snapshot_sources(snapshot)
    n = snapshot.n_providers
    assert src["ledger"] + src["performance"] + src["free_variant"] + src["unknown"] == n
    assert src["ledger_free"] + src["ledger_paid"] == src["ledger"]
    assert len(src["unknown_models"]) == src["unknown"]
    rows = snapshot_price_rows(snapshot)
    paid = [r["price"] for r in rows if r["source"] == "ledger" and ":free" not in r["model"]]
    assert src["paid_low"] == min(paid) and src["paid_high"] == max(paid)
    if src["most_moved"] is not None:
        top = next(r for r in rows if r["model"] == src["most_moved"])
        assert top["changes"] == max(r["changes"] for r in rows) == src["most_moved_changes"]


def _texts(fig):
    import matplotlib.text

    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]


def _overlaps(labels):
    boxes = [t.get_window_extent() for t in labels if t.get_visible() and t.get_text()]
    return [(a, b) for k, a in enumerate(boxes) for b in boxes[k + 1 :] if a.overlaps(b)]


def test_real_data_figures_are_legible(daily, short_fit, snapshot):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    now = short_fit.nowcast
    n0 = daily.info["n_train"]
    game = game_elasticities(daily, short_fit.prefs, range(n0, daily.n_days), n_boot=20)
    flows = snapshot.flows[0]
    half = flows * 0.5
    listed = np.asarray(snapshot.info["listed"], bool)
    figures = {
        "daily": daily_forecast_figure(
            daily, daily.flows[:, 0, :], {"game": short_fit.predicted}, n0
        ),
        "nowcast": nowcast_w_q_figure(now.grid, now.train_sse, now.bootstrap_w_q),
        "elasticity": elasticity_figure(elasticity_rows(now.elasticity, game)),
        "heatmaps": snapshot_heatmaps_figure(
            {"observed": flows, "half": half}, snapshot.info["apps"], snapshot.info["models"]
        ),
        "scatter": snapshot_scatter_figure(flows, {"a": half, "b": flows}, listed),
    }
    for name, fig in figures.items():
        fig.canvas.draw()
        assert fig.get_figwidth() <= 7.0 + 1e-9 and fig.dpi >= 150, name
        small = [t.get_text() for t in _texts(fig) if t.get_fontsize() < 9]
        assert not small, (name, small)
        for ax in fig.axes:
            for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
                assert not _overlaps(labels), (name, [t.get_text() for t in labels])
    heat = figures["heatmaps"].axes
    images = [im for ax in heat for im in ax.get_images()]
    assert len(images) == 2 and all(isinstance(im.norm, LogNorm) for im in images)
    assert images[0].norm is images[1].norm  # one colour scale for both panels
    assert heat[0].get_shared_x_axes().joined(heat[0], heat[1])
    assert heat[0].get_shared_y_axes().joined(heat[0], heat[1])
    scatter = figures["scatter"].axes
    assert scatter[0].get_shared_y_axes().joined(scatter[0], scatter[1])
    assert scatter[0].get_xscale() == scatter[0].get_yscale() == "log"
    assert figures["elasticity"].axes[0].get_xscale() == "log"
    for fig in figures.values():
        plt.close(fig)
