# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Calibrating on real OpenRouter data
#
# The previous chapter calibrated the game on a *planted* panel, where the true preferences are
# known and a perfect fit is possible by design. The paper {cite}`prillm2026` calibrates on its
# own OpenRouter data (April-July 2025, a coding market of 13 models and 8 apps) and reports a
# fit of $R^2 = 0.8982$ with a mean absolute error (MAE) of 3.56 M tokens. Those data were
# never released. This chapter runs the same machinery, Algorithm 1 followed by gradient descent
# on Eq. (6), on the only public figures `prillm` ships (see the datasheet of `prillm.data`),
# and reports how well the game fits them, held-out where the data allow it.
#
# Two calibrations, because the public data come in two incomplete pieces:
#
# 1. **Daily model volumes, April-May 2025**: each model's total tokens per day with the list
#    price in effect that day (real price changes included), but no split by app.
# 2. **The 2026 app x model snapshot**: the top public apps of each model, one snapshot, so
#    app x model flows but no variation over time.
#
# Every number below is computed by `prillm.experiments` (its `daily_volumes` and
# `app_snapshot` modules) when this page is built.
# Source of all data: OpenRouter (openrouter.ai/rankings), CC BY 4.0, as of the dates given.

# %% tags=["parameters"]
quick = True

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from myst_nb import glue

import prillm
from prillm.data import load_performance
from prillm.experiments import (
    PRICE_WINDOW_DAYS,
    app_snapshot_panel,
    daily_volume_panel,
    fit_app_snapshot,
    fit_daily_volumes,
    w_q_profile,
)

pd.set_option("display.precision", 4)
plt.rcParams.update({"figure.dpi": 100, "svg.hashsalt": "prillm", "figure.figsize": (7, 3.6)})

# Quick mode: fewer optimiser steps and a coarser w_q profile; the data are the same.
steps = 60 if quick else 200
profile_values = np.logspace(-1, 4, 4 if quick else 11)
window = 7
print(f"prillm {prillm.__version__}: {steps} L-BFGS-B steps per fit")


# %% [markdown]
# ## 1. Daily model volumes, April-May 2025
#
# ### Data and assumptions
#
# `prillm.data.load_models_daily()` holds the daily tokens of the 50 most-used model variants
# of 2025-04-01..05-08 with the list price of each day. We keep the *complete* days (the first
# and last day of the public copy are partial) and the paid (standard) variants that are listed
# with a positive price on every one of them, the most used first. What the game needs and the
# data lack is filled in by stated rules:
#
# - **Users.** There is no app split for 2025. We model **one aggregate user per day** whose
#   demand is the day's total over the chosen models and whose flows are the models' volumes.
#   Splitting it into synthetic groups would add parameters that nothing in the data can
#   inform: every group would face the same prices and latencies.
# - **Capacity.** The paper sets $\alpha_j = T_j / v_j$ with the throughput $v_j$ (Appendix 9.1),
#   which no public 2025 figure gives. We take $\alpha_j = T_j / u$: $T_j$ the model's mean
#   daily tokens over the *training* days (no look-ahead) and a utilisation $u = 0.8$. This is
#   an assumption. $u$ only rescales all capacities together, which the learned $w_q$ absorbs;
#   what the rule does fix is that capacity is proportional to volume.
# - **Latency.** Unknown for 2025: one constant (1 s) for every model. A latency that is the
#   same on every route adds the same amount to every cost and moves no equilibrium, so $w_d$
#   is not identified and is held at 1.
# - **Price.** The list *input* price in effect that day, USD per million tokens (as in the
#   planted panel and in the paper, which uses "API input unit prices").
#
# We learn $w_q$ and the perceived values $b_j$ on the first 75 % of the days and predict each
# held-out day's loads from its prices and its total demand.

# %%
daily = daily_volume_panel(15, train_fraction=0.75)
models = daily.info["models"]
panel = daily
n_train = daily.info["n_train"]
print(
    f"{panel.n_days} complete days {daily.dates[0]}..{daily.dates[-1]}: "
    f"{n_train} to fit, {panel.n_days - n_train} held out; {len(models)} models"
)
rows = [
    {
        "model": mid,
        "mean_B_tokens_per_day": float(panel.flows[:, 0, j].mean()) / 1e9,
        "price_first": float(panel.price[0, j]),
        "price_last": float(panel.price[-1, j]),
        "changes": daily.info["price_changes"][mid],
    }
    for j, mid in enumerate(models)
]
display(pd.DataFrame(rows))
changed = [j for j, mid in enumerate(models) if daily.info["price_changes"][mid] > 0]
n_changed = len(changed)
largest_move = float(np.ptp(panel.price, axis=0).max())
share_covered = float(panel.demand.sum())
glue("rd_days", panel.n_days, display=False)
glue("rd_train_days", n_train, display=False)
glue("rd_test_days", panel.n_days - n_train, display=False)
glue("rd_models", len(models), display=False)
glue("rd_first_day", daily.dates[0], display=False)
glue("rd_last_day", daily.dates[-1], display=False)
glue("rd_n_changed", n_changed, display=False)
glue("rd_changed_top_price", float(panel.price[:, changed].max()), display=False)
glue("rd_largest_move", largest_move, display=False)
glue("rd_mean_demand_B", float(panel.demand.mean()) / 1e9, display=False)

# %% [markdown]
# The {glue:text}`rd_models` models carry on average {glue:text}`rd_mean_demand_B:.0f` B tokens
# a day over {glue:text}`rd_days` days ({glue:text}`rd_first_day` to
# {glue:text}`rd_last_day`). Prices do move, but little: {glue:text}`rd_n_changed` of the models
# change list price in the window, none of them priced above
# {glue:text}`rd_changed_top_price:.2f` USD per million tokens, and by at most
# {glue:text}`rd_largest_move:.2f` USD per million tokens.
#
# ### The fit
#
# Algorithm 1 (the L1-relaxed linear program of the previous chapter) gives the start with
# $w_q = w_d = 1$; L-BFGS-B then minimises Eq. (6) over $(\log w_q, b)$. We compare the held-out
# loads with forecasts that use no game at all, given the same daily demand:
#
# - **mean shares**: each model keeps its average share of the training days;
# - **mean shares of the last 7 days**: its average share over the week before the day;
# - **yesterday's shares**: its share of the day before;
#
# and with the game **refitted on the last 7 days** before each held-out day (capacity rule and
# calibration applied to that week only), the way a provider would recalibrate in practice.

# %%
fit = fit_daily_volumes(daily, steps=steps, window=window)
params = fit.parameters()
print(f"{len(fit.loss_history) - 1} L-BFGS-B iterations")
print(f"scaled loss (Eq. 6) {fit.loss_history[0]:.4f} -> {min(fit.loss_history):.4f}")
print(f"learned w_q = {params['w_q']:.4g} (w_d held at {params['w_d']:g})")
for finding in fit.identifiability:  # what the library reports it could not identify
    print(f"not identified: {', '.join(finding['parameters'])} ({finding['reason']})")
table_rows = []
for name, by_split in fit.metrics.items():
    table_rows.append(
        {
            "forecast": "game (Alg. 1 start)"
            if name == "init"
            else "game (calibrated)"
            if name == "fit"
            else name,
            "train_r2": by_split.get("train", {}).get("r2"),
            "test_r2": by_split["test"]["r2"],
            "test_mae_M": by_split["test"]["mae_M"],
        }
    )
display(pd.DataFrame(table_rows))
b_minus_p = {
    mid: params["b"][mid] - float(panel.price[:n_train, j].mean()) for j, mid in enumerate(models)
}
spread = max(b_minus_p.values()) - min(b_minus_p.values())
m = fit.metrics
glue("rd_fit_r2", m["fit"]["test"]["r2"], display=False)
glue("rd_fit_mae", m["fit"]["test"]["mae_M"], display=False)
glue("rd_fit_train_r2", m["fit"]["train"]["r2"], display=False)
glue("rd_init_r2", m["init"]["test"]["r2"], display=False)
glue("rd_mean_r2", m["mean shares"]["test"]["r2"], display=False)
glue("rd_week_r2", m[f"mean shares of the last {window} days"]["test"]["r2"], display=False)
glue("rd_roll_r2", m[f"game refitted on the last {window} days"]["test"]["r2"], display=False)
glue("rd_roll_mae", m[f"game refitted on the last {window} days"]["test"]["mae_M"], display=False)
glue("rd_yday_r2", m["yesterday's shares"]["test"]["r2"], display=False)
glue("rd_yday_mae", m["yesterday's shares"]["test"]["mae_M"], display=False)
glue("rd_w_q", params["w_q"], display=False)
glue("rd_b_minus_p_spread", spread, display=False)
glue("rd_fit_gap", abs(m["fit"]["test"]["r2"] - m["mean shares"]["test"]["r2"]), display=False)

# %%
top = 6
fig, axes = plt.subplots(2, 3, figsize=(10, 5), sharex=True)
test_days = np.arange(n_train, panel.n_days)
for j, ax in enumerate(axes.ravel()[:top]):
    ax.plot(np.arange(panel.n_days), panel.flows[:, 0, j] / 1e9, color="black", lw=1, label="data")
    ax.plot(test_days, fit.predicted[:, j] / 1e9, marker="o", ms=3, label="game (calibrated)")
    ax.plot(
        test_days,
        fit.baselines[f"game refitted on the last {window} days"][:, j] / 1e9,
        marker="s",
        ms=3,
        label=f"game, last {window} days",
    )
    ax.plot(test_days, fit.baselines["yesterday's shares"][:, j] / 1e9, ls="--", label="yesterday")
    ax.axvline(n_train - 0.5, color="grey", lw=0.8)
    ax.set_title(models[j], fontsize=8)
    ax.set_ylabel("B tokens / day", fontsize=8)
axes[0, 0].legend(fontsize=7)
for ax in axes[1]:
    ax.set_xlabel("day (grey line: start of held-out days)", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Daily tokens of the six largest models (black) and the held-out forecasts.
#
# The calibrated game explains $R^2 =$ {glue:text}`rd_fit_train_r2:.4f` of the training loads
# and {glue:text}`rd_fit_r2:.4f` of the held-out loads (MAE {glue:text}`rd_fit_mae:,.0f` M
# tokens a day), up from {glue:text}`rd_init_r2:.4f` at Algorithm 1's start. But it is no better
# than holding each model's mean share fixed ($R^2$ {glue:text}`rd_mean_r2:.4f`; the two differ
# by {glue:text}`rd_fit_gap:.1e`), and the learned congestion weight runs to the upper end of
# its range ($w_q =$ {glue:text}`rd_w_q:.3g`, the clip at $10^4$). Refitted every day on the
# previous week, the game matches the week's mean shares ({glue:text}`rd_roll_r2:.4f` against
# {glue:text}`rd_week_r2:.4f`). The plainest forecast of all, yesterday's shares, is far better
# ($R^2$ {glue:text}`rd_yday_r2:.4f`, MAE {glue:text}`rd_yday_mae:,.0f` M tokens).
#
# Why: with one user, the equilibrium shares are the capacities' shares shifted by
# $(b_j - p_j)$ terms, and the data offer almost nothing to separate the two. The profile below
# holds $w_q$ fixed at several values, refits $b$ each time, and reports the training loss.

# %%
profile = w_q_profile(daily, profile_values, steps=steps)
display(pd.DataFrame(profile, columns=["w_q", "train_loss", "train_r2", "test_r2"]))
losses = np.array([r["train_loss"] for r in profile])
glue("rd_profile_rel", float(losses.max() / losses.min() - 1), display=False)
glue("rd_profile_lo", float(profile_values[0]), display=False)
glue("rd_profile_hi", float(profile_values[-1]), display=False)
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogx(profile_values, losses, marker="o")
ax.set_xlabel("$w_q$ (held fixed, $b$ refitted)")
ax.set_ylabel("training loss (scaled Eq. 6)")
plt.show()

# %% [markdown]
# Over five orders of magnitude of $w_q$ (from {glue:text}`rd_profile_lo:.1f` to
# {glue:text}`rd_profile_hi:.0f`) the best training loss changes by
# {glue:text}`rd_profile_rel:.2%`: the congestion weight is not identified by these data. The
# few small price cuts do not move volumes in a way the game could attribute to price (the
# volumes move for other reasons: launches, promotions and free variants outside the selection,
# apps switching), so the fit prefers making prices irrelevant, which is the mean-shares
# forecast. Two things are learned all the same: the net values $b_j - p_j$, which spread over
# {glue:text}`rd_b_minus_p_spread:.2f` USD per million tokens and encode the models' average
# shares, and the fact that a static game with constant preferences cannot follow the drift of
# shares from week to week that yesterday's shares capture. Preferences that drift (refitted
# daily on a short window, or $b_j$ following a random walk) would be needed, and price
# variation large enough to pin $w_q$ down (the previous chapter shows how much it takes).
#
# ## 2. The 2026 app x model snapshot
#
# ### Data and assumptions
#
# `prillm.data.load_app_flows()` is one snapshot (about 2026-09) of the "top public apps of
# this model" pages, the same kind of page the paper used for its flows (Appendix 9.1). Each
# model lists its five largest public apps. We keep the 15 models with most listed app tokens
# and the apps listed on at least 3 of them; an app's demand is its total over these models.
# Rules:
#
# - **Unlisted cells** (the app is not among that model's five largest public apps) are read
#   as zero flow. They are really "below that model's fifth app", so this understates the
#   spread of each app; we report the fit on all cells and on listed cells only.
# - **Capacity** $\alpha_j = T_j / 0.8$, $T_j$ the model's total listed app tokens (all its
#   listed apps, in the block or not). As above, an assumption in place of $T_j / v_j$.
# - **Price**, the list *input* price in effect on the ledger's last day, from
#   `load_price_history()`, which holds every price change of the snapshot's model ids that
#   OpenRouter's model list carried (ids matched exactly, `:free` suffix included; free
#   variants are listed at 0). The snapshot is from about 2026-09 and its pull date is not in
#   the source, so the ledger's last day is the last recorded price before it. A model the
#   ledger does not list takes the performance table's endpoint price if it is there, and
#   otherwise 0 (unknown). **Latency**, the median latency of `load_performance()` where the
#   model appears there, otherwise the table's median latency.
# - **What can be learned.** With one snapshot each model has one price and one latency, so
#   $c_j = p_j + w_d d_j - b_j$ is one number per model, and replacing $w_q$ by $s\,w_q$ and
#   $b_j$ by $s\,b_j - (s - 1)(p_j + w_d d_j)$ multiplies the whole potential (Eq. 13) by $s$
#   without moving its minimiser (a test checks this). The weights' scale is not identified: we
#   fix $w_q = w_d = 1$, learn $b$ only, and report the net value $b_j - p_j - w_d d_j$ (up to a
#   common shift), the part the data determine.

# %%
snap = app_snapshot_panel(15, min_models=3)
sp = snap
apps, snap_models = snap.info["apps"], snap.info["models"]
listed = np.asarray(snap.info["listed"], dtype=bool)
src = snap.info["price_source"]
n_ledger = sum(s == "ledger" for s in src)
n_perf_price = sum(s == "performance" for s in src)
n_free = sum(s == "free variant" for s in src)
n_unknown = sum(s == "unknown" for s in src)
n_perf_lat = sum(s == "performance" for s in snap.info["latency_source"])
price_date = snap.info["price_date"]
print(f"{len(apps)} apps x {len(snap_models)} models, {int(listed.sum())} listed cells")
print("apps:", ", ".join(apps))
print(
    f"prices on {price_date}: {n_ledger} from the ledger, {n_perf_price} from the performance "
    f"table, {n_free} free variants not in the ledger, {n_unknown} unknown (set to 0)"
)
print(f"latency from the performance table for {n_perf_lat} of {len(snap_models)} models")
window_days = PRICE_WINDOW_DAYS
price_rows = [
    {
        "model": mid,
        "price": float(sp.price[0, j]),
        "source": src[j],
        f"changes_{window_days}d": snap.info["price_changes"][j],
        **{
            f"{k}_{window_days}d": v
            for k, v in zip(("low", "high"), snap.info["price_range"][j], strict=True)
        },
    }
    for j, mid in enumerate(snap_models)
]
display(pd.DataFrame(price_rows))
ledger_free = [
    j for j, mid in enumerate(snap_models) if src[j] == "ledger" and mid.endswith(":free")
]
moved = [j for j, c in enumerate(snap.info["price_changes"]) if c > 0]
most = max(moved, key=lambda j: snap.info["price_changes"][j]) if moved else None
glue("rs_price_date", price_date, display=False)
glue("rs_window_days", window_days, display=False)
glue("rs_n_ledger_free", len(ledger_free), display=False)
glue("rs_n_ledger_paid", n_ledger - len(ledger_free), display=False)
glue(
    "rs_unknown_models",
    ", ".join(mid for mid, s in zip(snap_models, src, strict=True) if s == "unknown") or "none",
    display=False,
)
glue("rs_n_moved", len(moved), display=False)
paid = [j for j, s in enumerate(src) if s == "ledger" and j not in ledger_free]
glue("rs_price_lo", float(sp.price[0, paid].min()), display=False)
glue("rs_price_hi", float(sp.price[0, paid].max()), display=False)
glue("rs_perf_period", load_performance().meta["period"].split(" ")[0], display=False)
glue("rs_most_moved", snap_models[most] if most is not None else "none", display=False)
glue("rs_most_moved_n", snap.info["price_changes"][most] if most is not None else 0, display=False)
glue("rs_most_moved_lo", snap.info["price_range"][most][0] if moved else 0.0, display=False)
glue("rs_most_moved_hi", snap.info["price_range"][most][1] if moved else 0.0, display=False)
glue("rs_apps", len(apps), display=False)
glue("rs_models", len(snap_models), display=False)
glue("rs_listed", int(listed.sum()), display=False)
glue("rs_density", float(listed.mean()), display=False)
glue("rs_n_ledger", n_ledger, display=False)
glue("rs_n_free", n_free, display=False)
glue("rs_n_unknown", n_unknown, display=False)
glue("rs_n_perf_lat", n_perf_lat, display=False)
glue("rs_total_B", float(sp.demand.sum()) / 1e9, display=False)

# %% [markdown]
# The block has {glue:text}`rs_apps` apps and {glue:text}`rs_models` models, with
# {glue:text}`rs_listed` listed cells ({glue:text}`rs_density:.0%` of the block) carrying
# {glue:text}`rs_total_B:,.0f` B tokens over the pages' trailing window. The ledger prices
# {glue:text}`rs_n_ledger` of the {glue:text}`rs_models` models on
# {glue:text}`rs_price_date`: {glue:text}`rs_n_ledger_paid` paid models, from
# {glue:text}`rs_price_lo:.3g` to {glue:text}`rs_price_hi:.3g` USD per million input tokens,
# and {glue:text}`rs_n_ledger_free` free variants listed at 0. Not in the ledger:
# {glue:text}`rs_unknown_models`, whose price is therefore unknown and set to 0 (models without
# any price: {glue:text}`rs_n_unknown`; free variants outside the ledger, at 0:
# {glue:text}`rs_n_free`). A price on one day is one reading of a moving
# figure: in the {glue:text}`rs_window_days` days up to {glue:text}`rs_price_date`,
# {glue:text}`rs_n_moved` of the priced models changed list price, the most often
# {glue:text}`rs_most_moved` ({glue:text}`rs_most_moved_n` changes, between
# {glue:text}`rs_most_moved_lo:.3g` and {glue:text}`rs_most_moved_hi:.3g` USD per million
# tokens). The performance table (the fastest endpoints, {glue:text}`rs_perf_period`) lists
# {glue:text}`rs_n_perf_lat` of these models. On one snapshot neither prices nor latencies
# matter for the fit (both are absorbed in $b_j$, see above); they matter for reading $b_j$
# itself, which is why we report the net value instead.
#
# ### The fit, in sample and leaving one app out
#
# We fit $b$ on the whole block and, as a check of what the fit says about an app it has not
# seen, refit it without each app in turn and predict that app's split from its demand (the
# other apps stay in the market). The comparison without a game splits every app's demand in
# proportion to the models' total flows (of the other apps, when one is left out).
#
# Each fit is Algorithm 1, then L-BFGS-B with the exact gradient, as in the previous chapter.
# On these data the loss has kinks (where a route enters or leaves an app's support) at which
# L-BFGS-B stops early, so each fit is then refined by Powell's derivative-free method on the
# same loss, kept only if it is lower. The table shows the fit before ("gradient") and after
# ("fit") the refinement.

# %%
sfit = fit_app_snapshot(snap, steps=steps, leave_one_out=True)
print(f"gradient fit: scaled loss {sfit.loss_history[0]:.4f} -> {min(sfit.loss_history):.4f}")
rows = []
for name, by_cells in sfit.metrics.items():
    rows.append(
        {
            "prediction": name,
            "r2_all": by_cells["all cells"]["r2"],
            "mae_all_M": by_cells["all cells"]["mae_M"],
            "r2_listed": by_cells["listed cells"]["r2"],
            "mae_listed_M": by_cells["listed cells"]["mae_M"],
        }
    )
display(pd.DataFrame(rows))
sm = sfit.metrics
mean_cell = float(sfit.observed[listed].mean()) / 1e6
glue("rs_fit_r2", sm["fit"]["all cells"]["r2"], display=False)
glue("rs_fit_mae", sm["fit"]["all cells"]["mae_M"], display=False)
glue("rs_fit_r2_listed", sm["fit"]["listed cells"]["r2"], display=False)
glue("rs_init_r2", sm["init"]["all cells"]["r2"], display=False)
glue("rs_grad_r2", sm["gradient"]["all cells"]["r2"], display=False)
glue("rs_prop_r2_listed", sm["proportional"]["listed cells"]["r2"], display=False)
glue("rs_prop_r2", sm["proportional"]["all cells"]["r2"], display=False)
glue("rs_loao_r2", sm["leave one app out"]["all cells"]["r2"], display=False)
glue("rs_loao_mae", sm["leave one app out"]["all cells"]["mae_M"], display=False)
glue("rs_prop_loao_r2", sm["proportional, leave one app out"]["all cells"]["r2"], display=False)
glue("rs_mean_cell", mean_cell, display=False)
glue(
    "rs_rel_mae", sm["fit"]["all cells"]["mae_M"] / float(sfit.observed.mean() / 1e6), display=False
)

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
vmax = float(sfit.observed.max()) / 1e9
for ax, data, title in (
    (axes[0], sfit.observed, "observed"),
    (axes[1], sfit.predicted, "game, in sample"),
    (axes[2], sfit.held_out, "game, app left out"),
):
    im = ax.imshow(data / 1e9, vmin=0, vmax=vmax, cmap="viridis", aspect="auto")
    ax.set_title(title, fontsize=9)
    ax.set_yticks(range(len(apps)), apps, fontsize=6)
    ax.set_xticks(
        range(len(snap_models)), [m.split("/")[1] for m in snap_models], fontsize=5, rotation=90
    )
fig.colorbar(im, ax=axes, label="B tokens", shrink=0.8)
plt.show()
fig, ax = plt.subplots(figsize=(4.2, 4))
pos = sfit.observed > 0
ax.scatter(sfit.observed[pos] / 1e9, sfit.predicted[pos] / 1e9, s=12, label="in sample")
ax.scatter(
    sfit.observed[pos] / 1e9, sfit.held_out[pos] / 1e9, s=12, marker="x", label="app left out"
)
hi = float(sfit.observed.max()) / 1e9
ax.plot([0, hi], [0, hi], color="black", lw=0.8)
ax.set_xlabel("observed flow (B tokens)")
ax.set_ylabel("predicted flow (B tokens)")
ax.set_title("listed cells", fontsize=9)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# In sample the game explains $R^2 =$ {glue:text}`rs_fit_r2:.4f` of the app x model flows
# ({glue:text}`rs_fit_r2_listed:.4f` on the listed cells), from {glue:text}`rs_init_r2:.4f` at
# Algorithm 1's start, with an MAE of {glue:text}`rs_fit_mae:,.0f` M tokens per cell, about
# {glue:text}`rs_rel_mae:.0%` of the mean cell (the gradient fit alone reaches
# {glue:text}`rs_grad_r2:.4f`). The proportional split, which has no game but uses each model's
# observed total, does about as well in sample ($R^2$ {glue:text}`rs_prop_r2:.4f`, and
# {glue:text}`rs_prop_r2_listed:.4f` on the listed cells). Leaving each app out, the game
# predicts its split with $R^2 =$ {glue:text}`rs_loao_r2:.4f` (MAE
# {glue:text}`rs_loao_mae:,.0f` M tokens) against {glue:text}`rs_prop_loao_r2:.4f` for the
# proportional split: the congestion term, which makes large apps spread over more models than
# small ones, carries some information to an unseen app. What the game cannot do is the apps'
# specialisation (an app that routes mostly to one family of models): in the paper's model all
# apps share the same $b_j$ and differ only by their latencies, which are not known per app
# here, so every app sees the same costs.
#
# The learned net values $b_j - p_j - w_d d_j$, relative to the largest (USD per million tokens,
# at $w_q = 1$ and capacities at 0.8 utilisation, so in units set by those choices):

# %%
net = sorted(sfit.net_value.items(), key=lambda kv: kv[1])
fig, ax = plt.subplots(figsize=(6, 4))
ax.barh([k for k, _ in net], [v for _, v in net])
ax.tick_params(axis="y", labelsize=7)
ax.set_xlabel("net value relative to the largest (scale fixed by $w_q = 1$)")
plt.show()

# %% [markdown]
# ## Comparison with the paper
#
# ```{list-table} The paper's calibration fit and ours
# :header-rows: 1
#
# * -
#   - paper {cite}`prillm2026`
#   - daily volumes 2025, held out
#   - app snapshot 2026, in sample
#   - app snapshot 2026, app left out
# * - data
#   - OpenRouter 2025-04..07, 13 models x 8 coding apps, weekly top-app pages
#   - {glue:text}`rd_models` models, one aggregate user, {glue:text}`rd_test_days` held-out days
#   - {glue:text}`rs_models` models x {glue:text}`rs_apps` apps, one snapshot
#   - the same, each app predicted by a fit without it
# * - $R^2$
#   - 0.8982
#   - {glue:text}`rd_fit_r2:.4f`
#   - {glue:text}`rs_fit_r2:.4f`
#   - {glue:text}`rs_loao_r2:.4f`
# * - MAE (M tokens)
#   - 3.56
#   - {glue:text}`rd_fit_mae:,.0f`
#   - {glue:text}`rs_fit_mae:,.0f`
#   - {glue:text}`rs_loao_mae:,.0f`
# ```
#
# What is comparable and what is not:
#
# - **$R^2$** is unit-free and the closest thing to a common yardstick, but it is pooled over
#   very different quantities. The paper's is over app x model flows of a coding market, which
#   the 2026 snapshot resembles (the same kind of "top public apps" page), except that we have
#   one snapshot and therefore cannot hold out time: our in-sample $R^2$ is an optimistic
#   figure, our leave-one-app-out $R^2$ a pessimistic one. The daily $R^2$ is over model
#   loads; most of it comes from the models' very different sizes, which any share forecast
#   gets right.
# - **MAE** is in tokens and scales with the market: the paper's apps exceed 2 B tokens over
#   its period and its flows are per day or week, ours are daily model totals of tens of
#   billions of tokens, or app x model totals over the pages' trailing window. The absolute
#   numbers say nothing about which fit is better.
# - **What the paper does not report** and we cannot check: a no-game baseline such as constant
#   or yesterday's shares, the held-out design behind its $R^2$, and how its price data
#   identify $w_q$. On the public data, the game does not beat the simplest share forecasts on
#   model volumes, and its congestion weight is not identified; on app x model flows it is
#   informative only through the congestion term. Different data and a different period: this
#   neither confirms nor refutes the paper's figure.
#
# ## Exercise
#
# ```{exercise}
# :label: ex-rd-one-user
# With one user and costs $c_j$, congestion $k_j = w_q / \alpha_j$, show that the equilibrium
# load of every used model is $F_j = (\lambda - c_j) / (2 k_j)$. Deduce that when all models are
# used and $w_q \to \infty$ with $b$ fixed, the shares tend to the capacity shares
# $\alpha_j / \sum_k \alpha_k$, which with $\alpha_j \propto T_j$ is the mean-shares forecast.
# ```
#
# ```{solution} ex-rd-one-user
# :class: dropdown
# With one user $f_j = F_j$, and the KKT condition on a used route reads
# $c_j + k_j (F_j + f_j) = c_j + 2 k_j F_j = \lambda$, so $F_j = (\lambda - c_j)/(2k_j)
# = \alpha_j (\lambda - c_j) / (2 w_q)$. Summing, $D = \sum_j \alpha_j(\lambda - c_j)/(2 w_q)$
# gives $\lambda = (2 w_q D + \sum_j \alpha_j c_j) / \sum_j \alpha_j$, hence
# $F_j = \alpha_j D / \sum_k \alpha_k + \alpha_j(\bar c - c_j)/(2 w_q)$ with
# $\bar c = \sum_k \alpha_k c_k / \sum_k \alpha_k$. The second term vanishes as
# $w_q \to \infty$. The check below compares the largest calibrated share gap on the held-out
# days with the capacity shares.
# ```

# %%
cap_share = panel.capacity[0] / panel.capacity[0].sum()
pred_share = fit.predicted / fit.predicted.sum(axis=1, keepdims=True)
print(
    f"largest gap between predicted and capacity shares: {np.abs(pred_share - cap_share).max():.1e}"
)
