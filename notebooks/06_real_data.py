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
# own OpenRouter data ({glue:text}`paper_period`, a coding market of
# {glue:text}`paper_models` models and {glue:text}`paper_apps` apps) and reports a fit of
# $R^2 =$ {glue:text}`paper_r2` with a mean absolute error (MAE) of
# {glue:text}`paper_mae_M` M tokens (paper Section 6, Figure 3). Those data were never
# released.
#
# **This chapter** runs the same machinery, Algorithm 1 followed by gradient descent on the
# loss of paper Eq. 6, on the only public figures `prillm` ships (see the datasheet of
# `prillm.data`), and reports how well the game fits them, held out where the data allow it.
# The public data come in two incomplete pieces, and each gets its own calibration:
#
# 1. **Daily model volumes, April-May 2025**: each model's total tokens per day with the list
#    price in effect that day (real price changes included), but no split by app. Besides the
#    paper's calibration we try a *nowcast*, the game with values read from the latest day,
#    and ask what the data say about the models' price elasticities.
# 2. **The 2026 app x model snapshot**: the top public apps of each model, one snapshot, so
#    app x model flows but no variation over time.
#
# The chapter ends with a comparison with the paper's figure and a summary.
#
# **What you need**: the user-side equilibrium and its KKT conditions ({doc}`02_user_game`),
# and the calibration of {doc}`05_calibration`: Algorithm 1's start, the loss of paper Eq. 6
# and its minimisation by L-BFGS-B. Every number below is computed by `prillm.experiments`
# (its `daily_volumes`, `nowcast` and `app_snapshot` modules) when this page is built. Source
# of all data: OpenRouter (openrouter.ai/rankings), CC BY 4.0, as of the dates given.

# %% tags=["parameters", "remove-cell"]
quick = True

# %% tags=["remove-cell"]
# Book plumbing: the figure style and the table and figure helpers of notebooks/booktools.py.
from booktools import glue_figure, glue_table, setup_book
from myst_nb import glue

setup_book()

# The paper's own figures, quoted (paper Section 6 and Figure 3), not computed here.
PAPER = {
    "period": "April-July 2025",
    "models": 13,
    "apps": 8,
    "r2": 0.8982,
    "mae_M": 3.56,
}
for key, value in PAPER.items():
    glue(f"paper_{key}", value, display=False)

# %%
import numpy as np
import pandas as pd

from prillm.calibration.params import LOG_WEIGHT_BOUND
from prillm.data import load_performance
from prillm.experiments import (
    app_snapshot_panel,
    daily_volume_panel,
    fit_app_snapshot,
    fit_daily_volumes,
    game_elasticities,
    w_q_profile,
)
from prillm.experiments import real_data_plots as plots
from prillm.experiments import real_data_records as records

# quick: fewer optimiser steps, a coarser w_q profile; the data are the same
steps = 60 if quick else 200
profile_values = np.logspace(-1, 4, 4 if quick else 11)
window = 7  # days of the rolling forecasts

# %% [markdown]
# ## Daily model volumes, April-May 2025
#
# ### Data and assumptions
#
# `prillm.data.load_models_daily()` holds the daily tokens of the most-used model variants of
# April and early May 2025 with the list price of each day. We keep the *complete* days (the
# first and last day of the public copy are partial) and the paid (standard) variants that are
# listed with a positive price on every one of them, the most used first. What the game needs
# and the data lack is filled in by stated rules:
#
# - **Users.** There is no app split for 2025. We model **one aggregate user per day** whose
#   demand is the day's total over the chosen models and whose flows are the models' volumes.
#   Splitting it into synthetic groups would add parameters that nothing in the data can
#   inform: every group would face the same prices and latencies.
# - **Capacity.** The paper sets $\alpha_j = T_j / v_j$ with the throughput $v_j$ (paper
#   Appendix 9.1), which no public 2025 figure gives. We take $\alpha_j = T_j / u$: $T_j$ the
#   model's mean daily tokens over the *training* days (no look-ahead) and a utilisation
#   $u =$ {glue:text}`rd_utilisation`. This is an assumption. $u$ only rescales all capacities
#   together, which the learned $w_q$ absorbs; what the rule does fix is that capacity is
#   proportional to volume.
# - **Latency.** Unknown for 2025: one constant ({glue:text}`rd_latency` s) for every model. A
#   latency that is the same on every route adds the same amount to every cost and moves no
#   equilibrium, so $w_d$ is not identified and is held at 1.
# - **Price.** The list *input* price in effect that day, USD per million tokens (as in the
#   planted panel and in the paper, which uses "API input unit prices").
#
# We learn $w_q$ and the perceived values $b_j$ on the first {glue:text}`rd_train_share:.0%`
# of the days and predict each held-out day's loads from its prices and its total demand.

# %%
daily = daily_volume_panel(15, train_fraction=0.75)
models = daily.info["models"]
n_train = daily.info["n_train"]

# %% tags=["remove-cell"]
model_rows = pd.DataFrame(records.daily_model_rows(daily))
glue_table(
    "tbl-rd-models",
    model_rows.rename(
        columns={
            "mean_B": "mean tokens / day (B)",
            "price_first": "price, first day",
            "price_last": "price, last day",
            "changes": "price changes",
        }
    ),
    caption="The models of the 2025 daily panel, the most used first: mean daily tokens "
    "(billions) and the list input price (USD per million tokens) on the first and the last "
    "day, with the number of list-price changes in between.",
    formats={
        "mean tokens / day (B)": ".2f",
        "price, first day": ".4g",
        "price, last day": ".4g",
    },
)
changed = [j for j, mid in enumerate(models) if daily.info["price_changes"][mid] > 0]
glue("rd_utilisation", daily.info["utilisation"], display=False)
glue("rd_latency", daily.info["latency_s"], display=False)
glue("rd_train_share", n_train / daily.n_days, display=False)
glue("rd_days", daily.n_days, display=False)
glue("rd_train_days", n_train, display=False)
glue("rd_test_days", daily.n_days - n_train, display=False)
glue("rd_models", len(models), display=False)
glue("rd_first_day", daily.dates[0], display=False)
glue("rd_last_day", daily.dates[-1], display=False)
glue("rd_n_changed", len(changed), display=False)
glue("rd_n_changes", int(sum(daily.info["price_changes"].values())), display=False)
glue("rd_changed_top_price", float(daily.price[:, changed].max()), display=False)
glue("rd_largest_move", float(np.ptp(daily.price, axis=0).max()), display=False)
glue("rd_mean_demand_B", float(daily.demand.mean()) / 1e9, display=False)

# %% [markdown]
# ```{glue:md} tbl-rd-models
# :format: myst
# ```
#
# The {glue:text}`rd_models` models of {numref}`tbl-rd-models` carry on average
# {glue:text}`rd_mean_demand_B:.0f` B tokens a day over {glue:text}`rd_days` days
# ({glue:text}`rd_first_day` to {glue:text}`rd_last_day`). Prices do move, but little and
# rarely: {glue:text}`rd_n_changed` of the models change list price in the window,
# {glue:text}`rd_n_changes` times in all, none of them priced above
# {glue:text}`rd_changed_top_price:.2f` USD per million tokens, and by at most
# {glue:text}`rd_largest_move:.2f` USD per million tokens.
#
# ### The fit
#
# With one user, its flows are the loads, $f_j = F_j$, and the congestion slope of model $j$
# is $w_q / \alpha_j$. The marginal cost of a route is then its fixed cost plus twice its
# congestion term (paper Eq. 12), and at the equilibrium every used model has the same
# marginal cost $\lambda$ (paper Eq. 14):
#
# $$
# w_p\, p_j + w_d\, d_j - b_j + \frac{2 w_q}{\alpha_j}\, F_j = \lambda
# \qquad \text{for every used model } j .
# $$ (rd-kkt)
#
# Algorithm 1 (the L1-relaxed linear program of the previous chapter) gives the start with
# $w_q = w_d = 1$; L-BFGS-B then minimises the loss of paper Eq. 6 over $(\log w_q, b)$. We
# compare the held-out loads with forecasts that use no game at all, given the same daily
# demand:
#
# - **mean shares**: each model keeps its average share of the training days;
# - **mean shares of the last {glue:text}`rd_window` days**: its average share over the
#   week before the day;
# - **yesterday's shares**: its share of the day before;
#
# and with the game **refitted on the last {glue:text}`rd_window` days** before each
# held-out day (capacity rule and calibration applied to that week only), the way a provider
# would recalibrate in practice.

# %%
fit = fit_daily_volumes(daily, steps=steps, window=window)
params = fit.parameters()

# %% tags=["remove-cell"]
rolling = f"game refitted on the last {window} days"
week = f"mean shares of the last {window} days"
no_nowcast = ["init", "fit", rolling, "mean shares", week, "yesterday's shares"]
formats = {
    "train $R^2$": ".4f",
    "held-out $R^2$": ".4f",
    "held-out MAE (M tokens / day)": ",.0f",
}
columns = {
    "train_r2": "train $R^2$",
    "test_r2": "held-out $R^2$",
    "test_mae_M": "held-out MAE (M tokens / day)",
}
glue_table(
    "tbl-rd-fit",
    pd.DataFrame(records.forecast_rows(fit, no_nowcast)).rename(columns=columns),
    caption="The calibrated game and the forecasts without a game on the held-out days: "
    "$R^2$ and MAE of the daily loads (a dash: the forecast has no training fit).",
    formats=formats,
)
m = fit.metrics
mean_price = daily.price[:n_train].mean(axis=0)
b_minus_p = [params["b"][mid] - mean_price[j] for j, mid in enumerate(models)]
glue("rd_window", window, display=False)
glue("rd_iterations", len(fit.loss_history) - 1, display=False)
glue("rd_loss_start", fit.loss_history[0], display=False)
glue("rd_loss_end", min(fit.loss_history), display=False)
glue("rd_fit_r2", m["fit"]["test"]["r2"], display=False)
glue("rd_fit_mae", m["fit"]["test"]["mae_M"], display=False)
glue("rd_fit_train_r2", m["fit"]["train"]["r2"], display=False)
glue("rd_init_r2", m["init"]["test"]["r2"], display=False)
glue("rd_mean_r2", m["mean shares"]["test"]["r2"], display=False)
glue("rd_week_r2", m[week]["test"]["r2"], display=False)
glue("rd_roll_r2", m[rolling]["test"]["r2"], display=False)
glue("rd_yday_r2", m["yesterday's shares"]["test"]["r2"], display=False)
glue("rd_yday_mae", m["yesterday's shares"]["test"]["mae_M"], display=False)
glue("rd_w_q", params["w_q"], display=False)
glue("rd_w_q_bound", float(np.exp(LOG_WEIGHT_BOUND)), display=False)
glue("rd_b_minus_p_spread", float(np.ptp(b_minus_p)), display=False)
gap = abs(m["fit"]["test"]["r2"] - m["mean shares"]["test"]["r2"])
glue("rd_fit_gap", gap, display=False)
yesterday_wins = m["yesterday's shares"]["test"]["r2"] > m["fit"]["test"]["r2"]
if "w_q" not in fit.not_identified or not yesterday_wins:
    raise RuntimeError("the text assumes w_q is not identified and yesterday's shares win")

# %% [markdown]
# ```{glue:md} tbl-rd-fit
# :format: myst
# ```
#
# In {glue:text}`rd_iterations` L-BFGS-B iterations the scaled loss falls from
# {glue:text}`rd_loss_start:.4f` to {glue:text}`rd_loss_end:.4f`. The calibrated game explains
# $R^2 =$ {glue:text}`rd_fit_train_r2:.4f` of the training loads and
# {glue:text}`rd_fit_r2:.4f` of the held-out loads (MAE {glue:text}`rd_fit_mae:,.0f` M tokens
# a day), up from {glue:text}`rd_init_r2:.4f` at Algorithm 1's start ({numref}`tbl-rd-fit`).
# But it is no better than holding each model's mean share fixed ($R^2$
# {glue:text}`rd_mean_r2:.4f`; the two differ by {glue:text}`rd_fit_gap:.1e`), and the learned
# congestion weight runs to the end of its range, $w_q =$ {glue:text}`rd_w_q:g` against the
# bound {glue:text}`rd_w_q_bound:g` of the weights; the fit reports $w_q$ as not identified.
# Refitted every day on the previous week, the game matches the week's mean shares
# ({glue:text}`rd_roll_r2:.4f` against {glue:text}`rd_week_r2:.4f`). The plainest forecast of
# all, yesterday's shares, is far better ($R^2$ {glue:text}`rd_yday_r2:.4f`, MAE
# {glue:text}`rd_yday_mae:,.0f` M tokens). {numref}`fig-rd-forecasts` shows why: the loads
# drift from week to week, and a game with fixed values cannot follow them.

# %% tags=["remove-cell"]
top = 6
shown = {
    "game (calibrated)": fit.predicted,
    f"game, last {window} days": fit.baselines[rolling],
    "game nowcast": fit.baselines["game nowcast"],
}
fig = plots.daily_forecast_figure(
    daily, daily.flows[:, 0, :], shown, n_train, top=top
)
glue("rd_top", top, display=False)
glue_figure("fig-rd-forecasts", fig)

# %% [markdown]
# ```{glue:figure} fig-rd-forecasts
# ---
# name: fig-rd-forecasts
# alt: >-
#   One panel per large model, all sharing the day axis. A black line shows each model's daily
#   tokens over the whole window; after a grey vertical line, coloured markers show three
#   forecasts of the held-out days. The calibrated game's forecast stays flat near the
#   training average while the data and the nowcast move together.
# ---
# Daily tokens (billions) of the {glue:text}`rd_top` largest models (black) and three forecasts
# of the days after the grey line: the calibrated game, the game refitted on the last
# {glue:text}`rd_window` days, and the game nowcast of the next section (on these days it
# coincides with yesterday's shares). The panels share the day axis; each has its own scale of
# tokens, since the models differ in size.
# ```
#
# Why the game adds nothing here: with one user, {eq}`rd-kkt` gives the equilibrium shares as
# the capacities' shares shifted by terms in $(b_j - p_j)/w_q$ ({ref}`ex-rd-one-user`), and
# the data offer almost nothing to separate the two. The profile below holds $w_q$ fixed at
# several values, refits $b$ each time, and reports the training loss.

# %%
profile = w_q_profile(daily, profile_values, steps=steps)

# %% tags=["remove-cell"]
profile_frame = pd.DataFrame(profile)[["w_q", "train_loss", "train_r2", "test_r2"]]
glue_table(
    "tbl-rd-profile",
    profile_frame.rename(
        columns={
            "w_q": "$w_q$ (fixed)",
            "train_loss": "training loss (scaled)",
            "train_r2": "train $R^2$",
            "test_r2": "held-out $R^2$",
        }
    ),
    caption="The fit with $w_q$ held at each value and $b$ refitted: the training loss "
    "(scaled paper Eq. 6) and the $R^2$ of the training and held-out loads.",
    formats={
        "$w_q$ (fixed)": lambda v: f"{v:.3g}" if v < 1e3 else f"{v:,.0f}",
        "training loss (scaled)": ".6f",
        "train $R^2$": ".4f",
        "held-out $R^2$": ".4f",
    },
)
losses = profile_frame["train_loss"].to_numpy()
glue("rd_profile_rel", float(losses.max() / losses.min() - 1), display=False)
glue("rd_profile_lo", float(profile_values[0]), display=False)
glue("rd_profile_hi", float(profile_values[-1]), display=False)
decades = np.log10(profile_values[-1] / profile_values[0])
glue("rd_profile_decades", f"{decades:.0f}", display=False)
glue_figure("fig-rd-profile", plots.w_q_profile_figure(profile))

# %% [markdown]
# ```{glue:figure} fig-rd-profile
# ---
# name: fig-rd-profile
# alt: >-
#   The training loss against the fixed congestion weight on a logarithmic axis: a nearly
#   flat line over all the values tried.
# ---
# The training loss of the calibrated game with $w_q$ held fixed ($b$ refitted) against $w_q$,
# log scale ({numref}`tbl-rd-profile`). A flat curve means that the data do not pin $w_q$
# down.
# ```
#
# ```{glue:md} tbl-rd-profile
# :format: myst
# ```
#
# Over {glue:text}`rd_profile_decades` orders of magnitude of $w_q$ (from
# {glue:text}`rd_profile_lo:.1f` to {glue:text}`rd_profile_hi:.0f`) the best training loss
# changes by {glue:text}`rd_profile_rel:.2%` ({numref}`fig-rd-profile`): the congestion
# weight is not identified by these data. The few small price cuts do not move volumes in a
# way the game could attribute to price (the volumes move for other reasons: launches,
# promotions and free variants outside the selection, apps switching), so the fit prefers
# making prices irrelevant, which is the mean-shares forecast. Two things are learned all the
# same: the net values $b_j - p_j$, which spread over {glue:text}`rd_b_minus_p_spread:.2f`
# USD per million tokens and encode the models' average shares, and the fact that a static
# game with constant preferences cannot follow the drift of shares that yesterday's shares
# capture.
#
# ### A nowcast: values from the latest day
#
# A provider that wants to price *tomorrow* needs the game's price response, not its fit to a
# month of drifting shares. The **nowcast** (`prillm.experiments.nowcast`) keeps what
# persistence knows and adds the price response of the game:
#
# 1. **Values from the latest day.** Given day $t-1$'s loads and prices, {eq}`rd-kkt` is
#    solved for the values that make that day the equilibrium (up to the common shift
#    $\lambda$, set to 0), with $\alpha_j = F_{t-1,j} / u$:
#
#    $$
#    b_j = w_p\, p_{t-1,j} + w_d\, d_j + \frac{2 w_q}{\alpha_j}\, F_{t-1,j} .
#    $$ (rd-nowcast-b)
#
# 2. **Each day at its own prices.** Day $t$ is forecast as the equilibrium of its prices and
#    its total demand under these values. If no price changed since day $t-1$, that is exactly
#    yesterday's shares, whatever $w_q$.
# 3. **The weight from the window.** $w_p = w_d = 1$, and $w_q$ is the point of a stated
#    grid that minimises the squared one-step errors of the training days. Only the days with
#    a price change depend on $w_q$ at all.
#
# Its **own-price elasticity** $e_j = (\partial F_j / \partial p_j)\, p_j / F_j$, at the state
# of the last training day, follows from {eq}`rd-kkt` when every model is used:
#
# $$
# e_j = -\frac{w_p\, \alpha_j}{2 w_q}
#   \Big(1 - \frac{\alpha_j}{\sum_k \alpha_k}\Big) \frac{p_j}{F_j} ,
# $$ (rd-elasticity)
#
# so it scales as $1/w_q$. Its interval comes from a seeded bootstrap of the training days:
# each resample chooses $w_q$ again. For comparison we also compute the elasticities of the
# calibrated game (its fixed $b$ and $w_q$), averaged over the held-out days, with a bootstrap
# interval over those days.

# %%
now = fit.nowcast
held_out = range(n_train, daily.n_days)
game_e = game_elasticities(daily, fit.prefs, held_out)
e_rows = records.elasticity_rows(now.elasticity, game_e)

# %% tags=["remove-cell"]
nowcast_names = ["game nowcast", "yesterday's shares", rolling, "fit", "mean shares"]
glue_table(
    "tbl-rd-nowcast",
    pd.DataFrame(records.forecast_rows(fit, nowcast_names)).rename(columns=columns),
    caption="Held-out forecasts of the daily loads: the game nowcast against yesterday's "
    "shares, the game refitted on the last week, the calibrated game and the mean shares "
    "($R^2$ and MAE; the nowcast's training score is that of its one-step forecasts).",
    formats=formats,
)
lo_w, hi_w = now.grid[0], now.grid[-1]
boot_upper = float(np.mean(np.isclose(now.bootstrap_w_q, hi_w, rtol=1e-9)))
nm = m["game nowcast"]
glue("rd_now_r2", nm["test"]["r2"], display=False)
glue("rd_now_mae", nm["test"]["mae_M"], display=False)
glue("rd_now_train_r2", nm["train"]["r2"], display=False)
glue("rd_now_same", abs(nm["test"]["r2"] - m["yesterday's shares"]["test"]["r2"]), display=False)
glue("rd_now_w_q", now.w_q, display=False)
glue("rd_now_at_bound", now.at_bound or "neither", display=False)
glue("rd_now_grid_lo", float(lo_w), display=False)
glue("rd_now_grid_hi", float(hi_w), display=False)
glue("rd_now_grid_n", int(now.grid.size), display=False)
glue("rd_now_days", n_train - now.memory, display=False)
glue("rd_now_informative", len(now.informative_days), display=False)
glue("rd_now_boot_n", int(now.bootstrap_w_q.size), display=False)
glue("rd_now_boot_upper", boot_upper, display=False)
glue("rd_now_boot_lo", float(now.bootstrap_w_q.min()), display=False)
sse_rel = float(now.train_sse.max() / now.train_sse.min() - 1)
glue("rd_now_sse_rel", sse_rel, display=False)
no_test_moves = any("no price changes on the held-out days" in n for n in now.notes)
with_game = [k for k in m if k.startswith("game") or k in ("init", "fit")]
if now.at_bound != "upper" or max(with_game, key=lambda k: m[k]["test"]["r2"]) != "game nowcast":
    raise RuntimeError("the text assumes the nowcast wins among the games, w_q at its upper end")
glue("rd_now_test_moves", "none" if no_test_moves else "some", display=False)

# %% [markdown]
# ```{glue:md} tbl-rd-nowcast
# :format: myst
# ```
#
# The nowcast is the best of the forecasts with a game: $R^2 =$ {glue:text}`rd_now_r2:.4f`
# on the held-out days (MAE {glue:text}`rd_now_mae:,.0f` M tokens a day), and
# {glue:text}`rd_now_train_r2:.4f` on its one-step forecasts of the training days
# ({numref}`tbl-rd-nowcast`). But on these days it is yesterday's shares (the two held-out
# $R^2$ differ by {glue:text}`rd_now_same:.1e`), because
# {glue:text}`rd_now_test_moves` of the held-out days has a price change, so the held-out
# score tests the persistence of the values, not the game's price response. The training
# days say little more ({numref}`fig-rd-nowcast-wq`). Of the {glue:text}`rd_now_days`
# one-step forecasts that choose $w_q$ on a grid of {glue:text}`rd_now_grid_n` points from
# {glue:text}`rd_now_grid_lo:g` to {glue:text}`rd_now_grid_hi:g`, only
# {glue:text}`rd_now_informative` (the days with a price change) depend on $w_q$, and over
# the whole grid their squared error changes by {glue:text}`rd_now_sse_rel:.1%`. The best
# $w_q$ is {glue:text}`rd_now_w_q:g`, the {glue:text}`rd_now_at_bound` end of the grid: the
# data ask for a weaker price response than the bound allows.

# %% tags=["remove-cell"]
fig = plots.nowcast_w_q_figure(now.grid, now.train_sse, now.bootstrap_w_q)
glue_figure("fig-rd-nowcast-wq", fig)

# %% [markdown]
# ```{glue:figure} fig-rd-nowcast-wq
# ---
# name: fig-rd-nowcast-wq
# alt: >-
#   Two panels sharing a logarithmic congestion-weight axis. Left, the excess training error
#   falls from a few per cent at the smallest weights to zero and stays flat. Right, bars
#   show how often each weight is chosen by the bootstrap: most often the largest weight of
#   the grid, otherwise a cluster of small weights.
# ---
# How the nowcast chooses $w_q$. (a) The squared error of its one-step forecasts of the
# training days against $w_q$, relative to its minimum. (b) The share of the
# {glue:text}`rd_now_boot_n` bootstrap resamples of the training days that choose each
# $w_q$. The panels share the $w_q$ axis.
# ```
#
# The bootstrap shows how fragile that choice is: {glue:text}`rd_now_boot_upper:.0%` of the
# resamples choose the upper end again, the others values down to
# {glue:text}`rd_now_boot_lo:.2g`, depending on which of the few price-change days they
# draw. By {eq}`rd-elasticity` the elasticity scales as $1/w_q$, so its interval spans the
# same {glue:text}`rd_now_decades` orders of magnitude ({numref}`tbl-rd-elasticity`,
# {numref}`fig-rd-elasticity`).

# %% tags=["remove-cell"]
level = 0.9  # the default of nowcast() and game_elasticities()
e_frame = pd.DataFrame(e_rows)


def bracket(lo, hi):
    """Each bootstrap interval as "[low, high]" (one column, so the table fits the page)."""
    return [f"[{a:.1e}, {b:.1e}]" for a, b in zip(lo, hi, strict=True)]


interval = f"{level:.0%} interval"
e_table = pd.DataFrame(
    {
        "model": e_frame["model"],
        "nowcast $e_j$": e_frame["nowcast"].map("{:.1e}".format),
        f"nowcast, {interval}": bracket(e_frame["nowcast_low"], e_frame["nowcast_high"]),
        "calibrated $e_j$": e_frame["game"].map("{:.1e}".format),
        f"calibrated, {interval}": bracket(e_frame["game_low"], e_frame["game_high"]),
    }
)
glue_table(
    "tbl-rd-elasticity",
    e_table,
    caption=f"Own-price elasticities {{eq}}`rd-elasticity` of each model: the nowcast's at the "
    f"last training day, with the {level:.0%} bootstrap interval over the choice of $w_q$, and "
    f"the calibrated game's, averaged over the held-out days, with the {level:.0%} bootstrap "
    "interval over those days.",
)
fig = plots.elasticity_figure(e_rows)
glue_figure("fig-rd-elasticity", fig)
now_mag = np.abs([r["nowcast"] for r in e_rows])
width = np.abs([r["nowcast_low"] / r["nowcast_high"] for r in e_rows])
glue("rd_level", level, display=False)
glue("rd_now_decades", f"{np.log10(width.max()):.0f}", display=False)
glue("rd_e_max", float(now_mag.max()), display=False)
glue("rd_e_low_max", float(np.abs([r["nowcast_low"] for r in e_rows]).max()), display=False)
glue("rd_game_e_max", float(np.abs([r["game"] for r in e_rows]).max()), display=False)

# %% [markdown]
# ```{glue:figure} fig-rd-elasticity
# ---
# name: fig-rd-elasticity
# alt: >-
#   For each model of the panel, two estimates of the magnitude of the own-price elasticity on
#   a logarithmic axis: the nowcast's, a dot at the left end of an interval that spans several
#   decades, and the calibrated game's, a square with an interval too narrow to see.
# ---
# Magnitude of each model's own-price elasticity, log scale, with
# {glue:text}`rd_level:.0%` bootstrap intervals: the nowcast (dots; over the choice of $w_q$)
# and the calibrated game (squares; over the held-out days, too narrow to see). Values in
# {numref}`tbl-rd-elasticity`.
# ```
#
# ```{glue:md} tbl-rd-elasticity
# :format: myst
# ```
#
# **What these data cannot tell.** At the chosen $w_q$ the elasticities are tiny (at most
# {glue:text}`rd_e_max:.1e` in magnitude for the nowcast, {glue:text}`rd_game_e_max:.1e` for
# the calibrated game), and both games sit at a bound of $w_q$. A weight at its upper bound
# means the elasticities are *upper bounds on the price response the data allow*, not
# estimates: the data would accept an even weaker one. The bootstrap interval reaches
# {glue:text}`rd_e_low_max:.1f` in magnitude: with {glue:text}`rd_now_informative` price-change
# days, whether a model's load reacts to its price at all is not settled. The window has
# {glue:text}`rd_n_changes` list-price changes of {glue:text}`rd_n_changed` models, all small;
# to identify $w_q$, and with it a provider's price response, takes price moves large enough to
# shift volumes against the drift, which the previous chapter shows on the planted panel.
#
# ## The 2026 app x model snapshot
#
# ### Data and assumptions
#
# `prillm.data.load_app_flows()` is one snapshot (about 2026-09) of the "top public apps of
# this model" pages, the same kind of page the paper used for its flows (paper Appendix 9.1).
# Each model lists its largest public apps. We keep the {glue:text}`rs_models` models with
# most listed app tokens and the apps listed on at least {glue:text}`rs_min_models` of them;
# an app's demand is its total over these models. Rules:
#
# - **Unlisted cells** (the app is not among that model's largest public apps) are read as
#   zero flow. They are really "below that model's smallest listed app", so this understates
#   the spread of each app; we report the fit on all cells and on listed cells only.
# - **Capacity** $\alpha_j = T_j / u$ with $u =$ {glue:text}`rs_utilisation`, $T_j$ the
#   model's total listed app tokens (all its listed apps, in the block or not). As above, an
#   assumption in place of $T_j / v_j$.
# - **Price**, the list *input* price in effect on the ledger's last day, from
#   `load_price_history()`, which holds every price change of the snapshot's model ids that
#   OpenRouter's model list carried (ids matched exactly, `:free` suffix included; free
#   variants are listed at 0). The snapshot's pull date is not in the source, so the ledger's
#   last day is the last recorded price before it. A model the ledger does not list takes the
#   performance table's endpoint price if it is there, and otherwise 0 (unknown).
#   **Latency**, the median latency of `load_performance()` where the model appears there,
#   otherwise the table's median latency.
# - **What can be learned.** With one snapshot each model has one price and one latency, so
#   its fixed cost $c_j = p_j + w_d d_j - b_j$ is one number per model. For any $s > 0$,
#   the change
#
#   $$
#   w_q \to s\, w_q , \qquad b_j \to s\, b_j - (s - 1)\,(p_j + w_d\, d_j)
#   $$ (rs-scale)
#
#   multiplies every cost, and so the whole potential (paper Eq. 13), by $s$ without moving
#   its minimiser (a test checks this). The weights' scale is not identified: we fix
#   $w_q = w_d = 1$, learn $b$ only, and report the net value $b_j - p_j - w_d d_j$ (up to a
#   common shift), the part the data determine.

# %%
min_models = 3  # keep the apps listed on at least this many models
snap = app_snapshot_panel(15, min_models=min_models)
apps, snap_models = snap.info["apps"], snap.info["models"]
listed = np.asarray(snap.info["listed"], dtype=bool)
sources = records.snapshot_sources(snap)

# %% tags=["remove-cell"]
window_days = sources["window_days"]
price_frame = pd.DataFrame(records.snapshot_price_rows(snap)).rename(
    columns={
        "price": "price",
        "changes": f"changes in {window_days} days",
        "low": f"low, {window_days} days",
        "high": f"high, {window_days} days",
    }
)
glue_table(
    "tbl-rs-prices",
    price_frame,
    caption=f"The models of the 2026 block: the list input price used (USD per million "
    f"tokens, on {snap.info['price_date']}), where it comes from, and the number of "
    f"list-price changes and the price range in the {window_days} days before.",
    formats={
        "price": ".4g",
        f"low, {window_days} days": ".4g",
        f"high, {window_days} days": ".4g",
    },
)
lo_moved, hi_moved = sources["most_moved_range"]
glue("rs_min_models", min_models, display=False)
glue("rs_utilisation", snap.info["utilisation"], display=False)
glue("rs_price_date", snap.info["price_date"], display=False)
glue("rs_window_days", window_days, display=False)
glue("rs_n_ledger", sources["ledger"], display=False)
glue("rs_n_ledger_free", sources["ledger_free"], display=False)
glue("rs_n_ledger_paid", sources["ledger_paid"], display=False)
glue("rs_unknown_models", ", ".join(sources["unknown_models"]) or "none", display=False)
glue("rs_n_unknown", sources["unknown"], display=False)
glue("rs_n_free", sources["free_variant"], display=False)
glue("rs_n_moved", sources["moved"], display=False)
glue("rs_price_lo", sources["paid_low"], display=False)
glue("rs_price_hi", sources["paid_high"], display=False)
glue("rs_perf_period", load_performance().meta["period"].split(" ")[0], display=False)
glue("rs_most_moved", sources["most_moved"] or "none", display=False)
glue("rs_most_moved_n", sources["most_moved_changes"], display=False)
glue("rs_most_moved_lo", lo_moved or 0.0, display=False)
glue("rs_most_moved_hi", hi_moved or 0.0, display=False)
glue("rs_n_perf_lat", sources["latency_performance"], display=False)
glue("rs_apps", len(apps), display=False)
glue("rs_models", len(snap_models), display=False)
glue("rs_listed", int(listed.sum()), display=False)
glue("rs_density", float(listed.mean()), display=False)
glue("rs_total_B", float(snap.demand.sum()) / 1e9, display=False)
glue("rs_app_list", ", ".join(apps), display=False)

# %% [markdown]
# The block has {glue:text}`rs_apps` apps ({glue:text}`rs_app_list`) and
# {glue:text}`rs_models` models, with {glue:text}`rs_listed` listed cells
# ({glue:text}`rs_density:.0%` of the block) carrying {glue:text}`rs_total_B:,.0f` B tokens
# over the pages' trailing window. The ledger prices {glue:text}`rs_n_ledger` of the
# {glue:text}`rs_models` models on {glue:text}`rs_price_date` ({numref}`tbl-rs-prices`):
# {glue:text}`rs_n_ledger_paid` paid models, from {glue:text}`rs_price_lo:.3g` to
# {glue:text}`rs_price_hi:.3g` USD per million input tokens, and
# {glue:text}`rs_n_ledger_free` free variants listed at 0. Not in the ledger:
# {glue:text}`rs_unknown_models`, whose price is therefore unknown and set to 0 (models
# without any price: {glue:text}`rs_n_unknown`; free variants outside the ledger, at 0:
# {glue:text}`rs_n_free`).
#
# ```{glue:md} tbl-rs-prices
# :format: myst
# ```
#
# A price on one day is one reading of a moving figure: in the
# {glue:text}`rs_window_days` days up to {glue:text}`rs_price_date`,
# {glue:text}`rs_n_moved` of the priced models changed list price, the most often
# {glue:text}`rs_most_moved` ({glue:text}`rs_most_moved_n` changes, between
# {glue:text}`rs_most_moved_lo:.3g` and {glue:text}`rs_most_moved_hi:.3g` USD per million
# tokens). The performance table (the fastest endpoints, {glue:text}`rs_perf_period`) lists
# {glue:text}`rs_n_perf_lat` of these models. On one snapshot neither prices nor latencies
# matter for the fit (both are absorbed in $b_j$ by {eq}`rs-scale`); they matter for reading
# $b_j$ itself, which is why we report the net value instead.
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
# same loss, kept only if it is lower. {numref}`tbl-rs-fit` shows the fit before
# ("gradient") and after ("fit") the refinement.

# %%
sfit = fit_app_snapshot(snap, steps=steps, leave_one_out=True)

# %% tags=["remove-cell"]
glue_table(
    "tbl-rs-fit",
    pd.DataFrame(records.snapshot_metric_rows(sfit)).rename(
        columns={
            "r2_all": "$R^2$, all cells",
            "mae_all_M": "MAE, all cells (M tokens)",
            "r2_listed": "$R^2$, listed cells",
            "mae_listed_M": "MAE, listed cells (M tokens)",
        }
    ),
    caption="The snapshot fits: Algorithm 1's start, the gradient fit, the refined fit and "
    "the proportional split in sample, then the game and the proportional split predicting "
    "each app from a fit without it; $R^2$ and MAE on all cells of the block and on the "
    "listed cells only.",
    formats={
        "$R^2$, all cells": ".4f",
        "MAE, all cells (M tokens)": ",.0f",
        "$R^2$, listed cells": ".4f",
        "MAE, listed cells (M tokens)": ",.0f",
    },
)
sm = sfit.metrics
glue("rs_loss_start", sfit.loss_history[0], display=False)
glue("rs_loss_end", min(sfit.loss_history), display=False)
glue("rs_fit_r2", sm["fit"]["all cells"]["r2"], display=False)
glue("rs_fit_mae", sm["fit"]["all cells"]["mae_M"], display=False)
glue("rs_fit_r2_listed", sm["fit"]["listed cells"]["r2"], display=False)
glue("rs_init_r2", sm["init"]["all cells"]["r2"], display=False)
glue("rs_grad_r2", sm["gradient"]["all cells"]["r2"], display=False)
glue("rs_prop_r2_listed", sm["proportional"]["listed cells"]["r2"], display=False)
glue("rs_prop_r2", sm["proportional"]["all cells"]["r2"], display=False)
loao = sm["leave one app out"]["all cells"]
glue("rs_loao_r2", loao["r2"], display=False)
glue("rs_loao_mae", loao["mae_M"], display=False)
prop_loao = sm["proportional, leave one app out"]["all cells"]["r2"]
if loao["r2"] <= prop_loao:
    raise RuntimeError("the text assumes the game beats the proportional split on unseen apps")
glue("rs_prop_loao_r2", prop_loao, display=False)
mean_cell = float(sfit.observed.mean()) / 1e6
glue("rs_rel_mae", sm["fit"]["all cells"]["mae_M"] / mean_cell, display=False)

# %% [markdown]
# ```{glue:md} tbl-rs-fit
# :format: myst
# ```
#
# The gradient fit lowers the scaled loss from {glue:text}`rs_loss_start:.4f` to
# {glue:text}`rs_loss_end:.4f`. In sample the game explains $R^2 =$
# {glue:text}`rs_fit_r2:.4f` of the app x model flows ({glue:text}`rs_fit_r2_listed:.4f` on
# the listed cells), from {glue:text}`rs_init_r2:.4f` at Algorithm 1's start, with an MAE of
# {glue:text}`rs_fit_mae:,.0f` M tokens per cell, about {glue:text}`rs_rel_mae:.0%` of the
# mean cell (the gradient fit alone reaches {glue:text}`rs_grad_r2:.4f`). The proportional
# split, which has no game but uses each model's observed total, does about as well in sample
# ($R^2$ {glue:text}`rs_prop_r2:.4f`, and {glue:text}`rs_prop_r2_listed:.4f` on the listed
# cells). Leaving each app out, the game predicts its split with $R^2 =$
# {glue:text}`rs_loao_r2:.4f` (MAE {glue:text}`rs_loao_mae:,.0f` M tokens) against
# {glue:text}`rs_prop_loao_r2:.4f` for the proportional split: the congestion term, which
# makes large apps spread over more models than small ones, carries some information to an
# unseen app ({numref}`fig-rs-flows`, {numref}`fig-rs-scatter`).

# %% tags=["remove-cell"]
heat = {
    "(a) observed": sfit.observed,
    "(b) game, in sample": sfit.predicted,
    "(c) game, app left out": sfit.held_out,
}
fig = plots.snapshot_heatmaps_figure(heat, apps, snap_models)
glue_figure("fig-rs-flows", fig)
fig = plots.snapshot_scatter_figure(
    sfit.observed,
    {"(a) in sample": sfit.predicted, "(b) app left out": sfit.held_out},
    listed,
)
glue_figure("fig-rs-scatter", fig)
floor = sfit.observed[listed].min() / 100
glue("rs_n_dropped", int((sfit.predicted[listed] < floor).sum()), display=False)
glue("rs_n_dropped_loao", int((sfit.held_out[listed] < floor).sum()), display=False)

# %% [markdown]
# ```{glue:figure} fig-rs-flows
# ---
# name: fig-rs-flows
# alt: >-
#   Three heat maps stacked, sharing the app rows and the model columns, on one logarithmic
#   colour scale: observed flows with many blank cells, the game's in-sample flows, and its
#   flows with each app left out. The game spreads every app over the same set of models,
#   with the largest app brightest.
# ---
# App x model flows of the snapshot (tokens over the pages' trailing window, one logarithmic
# colour scale; white: zero, grey: positive but below the smallest observed flow): (a)
# observed, (b) the game's in-sample fit, (c) each app predicted by the fit without it. The
# panels share both axes; model names are without their vendor.
# ```
#
# ```{glue:figure} fig-rs-scatter
# ---
# name: fig-rs-scatter
# alt: >-
#   Two log-log scatter plots sharing both axes, of predicted against observed flows of the
#   listed cells, with the diagonal drawn: the points straddle the diagonal with a spread of
#   about a decade, and red triangles along the bottom mark listed cells predicted as zero.
# ---
# Predicted against observed flows of the listed cells (log-log; the line is equality): (a)
# in sample, (b) each app left out. Red triangles on the floor of the axes: listed cells the
# game leaves (nearly) empty, {glue:text}`rs_n_dropped` in (a) and
# {glue:text}`rs_n_dropped_loao` in (b). The panels share both axes.
# ```
#
# What the game cannot do is the apps' specialisation (an app that routes mostly to one family
# of models): in the paper's model all apps share the same $b_j$ and differ only by their
# latencies, which are not known per app here, so every app sees the same costs, and the game
# spreads each one over the same models ({numref}`fig-rs-flows`, panels b and c). The learned
# net values $b_j - p_j - w_d d_j$ are in {numref}`fig-rs-net`.

# %% tags=["remove-cell"]
glue_figure("fig-rs-net", plots.net_value_figure(sfit.net_value))
net = np.array(list(sfit.net_value.values()))
glue("rs_net_spread", float(-net.min()), display=False)

# %% [markdown]
# ```{glue:figure} fig-rs-net
# ---
# name: fig-rs-net
# alt: >-
#   Horizontal bars, one per model, sorted: the net value of each model relative to the
#   largest, all zero or negative, in two groups.
# ---
# The learned net values $b_j - p_j - w_d d_j$ of the snapshot's models, relative to the
# largest (USD per million tokens, at $w_q = 1$ and capacities at the stated utilisation, so in
# units set by those choices; {eq}`rs-scale`).
# ```
#
# The net values spread over {glue:text}`rs_net_spread:.2f` USD per million tokens, in units
# that {eq}`rs-scale` leaves free: only their order and their ratios are meaningful.
#
# ## Comparison with the paper
#
# ```{list-table} The paper's calibration fit and ours.
# :header-rows: 1
# :name: tbl-rd-paper
#
# * -
#   - paper {cite}`prillm2026`
#   - daily volumes 2025, held out
#   - app snapshot 2026, in sample
#   - app snapshot 2026, app left out
# * - data
#   - OpenRouter, {glue:text}`paper_period`, {glue:text}`paper_models` models x
#     {glue:text}`paper_apps` coding apps, weekly top-app pages
#   - {glue:text}`rd_models` models, one aggregate user, {glue:text}`rd_test_days` held-out
#     days
#   - {glue:text}`rs_models` models x {glue:text}`rs_apps` apps, one snapshot
#   - the same, each app predicted by a fit without it
# * - $R^2$
#   - {glue:text}`paper_r2`
#   - {glue:text}`rd_fit_r2:.4f`
#   - {glue:text}`rs_fit_r2:.4f`
#   - {glue:text}`rs_loao_r2:.4f`
# * - MAE (M tokens)
#   - {glue:text}`paper_mae_M`
#   - {glue:text}`rd_fit_mae:,.0f`
#   - {glue:text}`rs_fit_mae:,.0f`
#   - {glue:text}`rs_loao_mae:,.0f`
# ```
#
# What is comparable in {numref}`tbl-rd-paper` and what is not:
#
# - **$R^2$** is unit-free and the closest thing to a common yardstick, but it is pooled over
#   very different quantities. The paper's is over app x model flows of a coding market, which
#   the 2026 snapshot resembles (the same kind of "top public apps" page), except that we have
#   one snapshot and therefore cannot hold out time: our in-sample $R^2$ is an optimistic
#   figure, our leave-one-app-out $R^2$ a pessimistic one. The daily $R^2$ is over model
#   loads; most of it comes from the models' very different sizes, which any share forecast
#   gets right.
# - **MAE** is in tokens and scales with the market: ours are daily model totals of billions
#   of tokens, or app x model totals over the pages' trailing window, while the paper's flows
#   are those of its own, smaller apps per period. The absolute numbers say nothing about which
#   fit is better.
# - **What the paper does not report** and we cannot check: a no-game baseline such as
#   constant or yesterday's shares, the held-out design behind its $R^2$, and how its price
#   data identify $w_q$. On the public data, the game does not beat the simplest share
#   forecasts on model volumes, and its congestion weight is not identified; on app x model
#   flows it is informative only through the congestion term. Different data and a different
#   period: this neither confirms nor refutes the paper's figure.
#
# ## Summary
#
# - On the public 2025 daily volumes (one aggregate user per day), the calibrated game fits
#   the held-out loads with $R^2 =$ {glue:text}`rd_fit_r2:.4f`, no better than each model's
#   mean share, and its congestion weight $w_q$ runs to its bound: the few, small price
#   changes do not identify it ({numref}`tbl-rd-fit`, {numref}`fig-rd-profile`).
# - The nowcast, with values read from the latest day by {eq}`rd-kkt`, forecasts the held-out
#   days with $R^2 =$ {glue:text}`rd_now_r2:.4f`, exactly as well as yesterday's shares, which
#   it equals on days without a price change ({numref}`tbl-rd-nowcast`).
# - The data cannot tell the models' price elasticities: $w_q$ sits at the upper end of its
#   grid, so the elasticities {eq}`rd-elasticity` are bounds, and the bootstrap interval spans
#   {glue:text}`rd_now_decades` orders of magnitude ({numref}`fig-rd-elasticity`).
# - On the 2026 app x model snapshot only the net values are identified {eq}`rs-scale`; the
#   game fits in sample with $R^2 =$ {glue:text}`rs_fit_r2:.4f`, and predicts an unseen app
#   better than a proportional split ({glue:text}`rs_loao_r2:.4f` against
#   {glue:text}`rs_prop_loao_r2:.4f`), through its congestion term.
# - Neither calibration is comparable with the paper's $R^2$ on unreleased data
#   ({numref}`tbl-rd-paper`).
#
# ## Exercise
#
# ```{exercise} One user: the capacity shares
# :label: ex-rd-one-user
#
# With one user and fixed costs $c_j$, congestion slopes $k_j = w_q / \alpha_j$, show from
# {eq}`rd-kkt` that the equilibrium load of every used model is
# $F_j = (\lambda - c_j) / (2 k_j)$. Deduce that when all models are used and
# $w_q \to \infty$ with $b$ fixed, the shares tend to the capacity shares
# $\alpha_j / \sum_k \alpha_k$, which with $\alpha_j \propto T_j$ is the mean-shares forecast.
# ```
#
# ```{solution-start} ex-rd-one-user
# :class: dropdown
# ```
#
# With one user $f_j = F_j$, and {eq}`rd-kkt` reads $c_j + 2 k_j F_j = \lambda$, so
# $F_j = (\lambda - c_j)/(2k_j) = \alpha_j (\lambda - c_j) / (2 w_q)$. Summing over $j$,
# $D = \sum_j \alpha_j(\lambda - c_j)/(2 w_q)$ gives
#
# $$
# \lambda = \frac{2 w_q D + \sum_j \alpha_j c_j}{\sum_j \alpha_j},
# $$
#
# hence, with $\bar c = \sum_k \alpha_k c_k / \sum_k \alpha_k$,
#
# $$
# F_j = \frac{\alpha_j D}{\sum_k \alpha_k} + \frac{\alpha_j (\bar c - c_j)}{2 w_q} .
# $$
#
# The second term vanishes as $w_q \to \infty$. The check below compares the calibrated game's
# shares on the held-out days (at $w_q =$ {glue:text}`rd_w_q:g`) with the capacity shares.

# %%
cap_share = daily.capacity[0] / daily.capacity[0].sum()
pred_share = fit.predicted / fit.predicted.sum(axis=1, keepdims=True)
gap = np.abs(pred_share - cap_share).max()
print(f"largest gap between predicted and capacity shares: {gap:.1e}")

# %% [markdown]
# ```{solution-end}
# ```
