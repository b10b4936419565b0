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
# # The LLM routing market
#
# Applications that call large language models rarely talk to one model only. Through routing
# platforms such as OpenRouter, a coding agent, a chat front-end or a translation service sends
# its tokens to many models at once, and moves them when prices, speed or quality change. The
# paper {cite}`prillm2026` models this market as a game.
#
# **This chapter** introduces the players of that game and the units `prillm` uses for them,
# solves a first small market, and tours the data shipped with `prillm`: daily market shares,
# price histories, app-to-model flows, speeds and latencies, and a generated panel of daily
# markets used for calibration later in the book.
#
# **What you need**: Python with NumPy, and the idea of an equilibrium as a state in which no
# one wants to change what they do; the game itself is the subject of {doc}`02_user_game`.

# %% tags=["parameters", "remove-cell"]
quick = True

# %% tags=["remove-cell"]
# Book plumbing: the figure style and the table and figure helpers of notebooks/booktools.py.
from booktools import glue_figure, glue_table, setup_book
from myst_nb import glue

setup_book()

# %%
import json

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from prillm import data as prillm_data
from prillm import solve_equilibrium
from prillm.market import PREFERENCE_UNITS, UNITS
from prillm.synthetic import demo_market

# %% [markdown]
# ## Players, prices, congestion and latency
#
# - **Users** $u_i$ are applications (or enterprise clients), each aggregated into one player with
#   a token demand $D_i$ per period (a day in this book). A user splits its demand over the
#   providers: $f_{ij}$ tokens go to provider $j$.
# - **Providers** $s_j$ are LLM services. Each has a **price** $p_j$ per million tokens (the paper
#   uses the input price), a **capacity** $\alpha_j$ (the tokens it can serve per period), and a
#   **latency** $d_{ij}$ (time to first token, in seconds, as seen by user $i$).
# - **Congestion** is the load relative to capacity, $Q_j = F_j / \alpha_j$ with
#   $F_j = \sum_i f_{ij}$: the busier a provider, the worse its service for everyone.
# - **Preferences** $\boldsymbol\theta = (w_p, w_q, w_d, \{b_j\})$ weigh price, congestion and
#   latency, and $b_j$ is the value users perceive in provider $j$ (quality, brand).
#
# A token that user $i$ sends to provider $j$ costs it the *generalised price* (the bracket of
# paper Eq. 1)
#
# $$
# w_p\, p_j + w_q\, Q_j + w_d\, d_{ij} - b_j ,
# $$ (mk-price)
#
# and each user splits its demand so as to make its total cost small. One provider, the
# **target**, chooses its price to maximise its profit while the others' prices are fixed; the
# users then settle into an equilibrium ({doc}`02_user_game`), and the target's profit is its
# price times the load it receives ({doc}`03_stackelberg_pricing`).
#
# ### Units
#
# `prillm` fixes one unit per quantity ({numref}`tbl-mk-units`, from the `prillm.market` module);
# with them the generalised price {eq}`mk-price` is in USD per million tokens, and
# `price * flow / 1e6` is money in USD.

# %%
all_units = {**UNITS, **PREFERENCE_UNITS}
units = pd.DataFrame(
    {"quantity": list(all_units), "unit": list(all_units.values())}
)

# %% tags=["remove-cell"]
glue_table(
    "tbl-mk-units",
    units,
    caption="The unit of each quantity in `prillm` (`prillm.market.UNITS` and "
    "`PREFERENCE_UNITS`).",
    formats={"quantity": lambda v: f"`{v}`"},
)

# %% [markdown]
# ```{glue:md} tbl-mk-units
# :format: myst
# ```
#
# ## A first market
#
# The market of `prillm demo`: four applications and three providers — an expensive premium
# model, a mid-range one and a budget one — with preferences that value the premium model most
# ({numref}`tbl-mk-providers` and {numref}`tbl-mk-apps`).

# %%
market, prefs = demo_market()
_, _, _, b = prefs.values_for(market)
providers = pd.DataFrame(
    {
        "provider": market.provider_ids,
        "price $p_j$ (USD / 1M tokens)": market.price,
        r"capacity $\alpha_j$ (tokens / day)": market.capacity,
        "perceived value $b_j$ (USD / 1M tokens)": b,
    }
)
apps = pd.DataFrame(
    {"app": market.user_ids, "demand $D_i$ (tokens / day)": market.demand}
)
for j, pid in enumerate(market.provider_ids):
    apps[f"latency to {pid} (s)"] = market.latency[:, j]

# %% tags=["remove-cell"]
glue_table(
    "tbl-mk-providers",
    providers,
    caption="The providers of the demo market and the value users perceive in each.",
    formats={providers.columns[2]: ".1e", providers.columns[3]: ".2f"},
)
glue_table(
    "tbl-mk-apps",
    apps,
    caption="The applications of the demo market: daily demand and latency $d_{ij}$ to "
    "each provider.",
    formats={apps.columns[1]: ".1e"},
)
glue("mk_w_q", prefs.w_q, display=False)
glue("mk_w_d", prefs.w_d, display=False)

# %% [markdown]
# ```{glue:md} tbl-mk-providers
# :format: myst
# ```
#
# ```{glue:md} tbl-mk-apps
# :format: myst
# ```
#
# The weights are $w_p = 1$, $w_q =$ {glue:text}`mk_w_q:.1f` and $w_d =$ {glue:text}`mk_w_d:.1f`.
# The same market as a file is what `Market.to_json` writes and `prillm solve FILE` reads; its
# top-level keys, and one provider and one user:

# %%
spec = market.to_dict(prefs)
print(", ".join(spec))
print(json.dumps(spec["providers"][0]))
print(json.dumps(spec["users"][0]))

# %% [markdown]
# At the equilibrium each application splits its tokens over the providers
# ({numref}`tbl-mk-shares`), and each provider ends up with a share of the market, a congestion
# and a revenue ({numref}`tbl-mk-equilibrium`).

# %%
eq = solve_equilibrium(market, prefs)
outcome = pd.DataFrame(
    {
        "provider": market.provider_ids,
        "market share": eq.shares,
        "congestion $Q_j$": eq.congestion,
        "revenue (USD / day)": [
            eq.revenue(j) for j in range(len(market.price))
        ],
    }
)
split = pd.DataFrame(
    eq.flows / market.demand[:, None], columns=list(market.provider_ids)
)
split.insert(0, "app", market.user_ids)

# %% tags=["remove-cell"]
pct = "{:.1%}".format
glue_table(
    "tbl-mk-equilibrium",
    outcome,
    caption="The demo market at its equilibrium: each provider's share of all tokens, its "
    "congestion (load over capacity) and its revenue.",
    formats={
        "market share": pct,
        "congestion $Q_j$": ".2f",
        "revenue (USD / day)": ",.0f",
    },
)
glue_table(
    "tbl-mk-shares",
    split,
    caption="Share of each application's tokens sent to each provider at the equilibrium.",
    formats=dict.fromkeys(market.provider_ids, pct),
)
glue("mk_premium_share", float(eq.shares[0]), display=False)
glue(
    "mk_n_users_all",
    int((eq.support.sum(axis=1) == len(market.price)).sum()),
    display=False,
)
glue("mk_n_users", len(market.user_ids), display=False)

# %% [markdown]
# ```{glue:md} tbl-mk-shares
# :format: myst
# ```
#
# ```{glue:md} tbl-mk-equilibrium
# :format: myst
# ```
#
# The premium model keeps {glue:text}`mk_premium_share:.0%` of the tokens although its price is
# the highest, because users value it; congestion spreads the load, and
# {glue:text}`mk_n_users_all` of the {glue:text}`mk_n_users` apps use all three providers.
#
# What if the premium provider cut its price from {glue:text}`mk_old_price:.2f` to
# {glue:text}`mk_new_price:.2f` USD per million tokens? The users re-route:

# %%
new_price = 2.0
cut = solve_equilibrium(
    market.with_price("premium-llm", new_price), prefs, warm_start=eq
)

# %% tags=["remove-cell"]
glue("mk_old_price", float(market.price[0]), display=False)
glue("mk_new_price", new_price, display=False)
glue("mk_cut_share", float(cut.shares[0]), display=False)
glue("mk_old_revenue", float(eq.revenue(0)), display=False)
glue("mk_cut_revenue", float(cut.revenue(0)), display=False)
glue(
    "mk_cut_verdict",
    "pays" if cut.revenue(0) > eq.revenue(0) else "does not pay",
    display=False,
)

# %% [markdown]
# its share rises from {glue:text}`mk_premium_share:.1%` to {glue:text}`mk_cut_share:.1%`, and
# its revenue goes from {glue:text}`mk_old_revenue:,.0f` to {glue:text}`mk_cut_revenue:,.0f` USD
# a day: here the cut {glue:text}`mk_cut_verdict`. Whether a cut pays depends on whether the
# extra load makes up for the lower price — the question of {doc}`03_stackelberg_pricing`.
#
# ## The pipeline
#
# The book follows the data through the library's layers, each a package of `prillm`
# ({numref}`fig-pipeline`): a *market* (`prillm.market`, this chapter) defines the game; the
# *equilibrium* (`prillm.equilibrium`) is how users split their demand in it (chapter 2); the
# *pricing* methods (`prillm.pricing`) use the equilibrium to choose the target's price
# (chapters 3-4), and *calibration* (`prillm.calibration`, fed by `prillm.data`) learns the
# preferences from observed flows (chapters 5-6); the *abstraction* (`prillm.abstraction`)
# shrinks a large market to a small one that prices the same; and `prillm.experiments` runs the
# paper's comparisons on top. This is the pipeline of paper Figures 1-2: phase 1 calibrates
# the game to data, phase 2 abstracts it and prices.
#
# ```{figure} ../../book/pipeline.svg
# ---
# name: fig-pipeline
# width: 100%
# alt: >-
#   A flow diagram of seven boxes. Market feeds equilibrium; equilibrium feeds pricing and
#   calibration; data feed calibration, which returns learned preferences to the market;
#   calibration feeds abstraction, which feeds pricing with a small game and feeds experiments.
# ---
# The library's data flow, which is the paper's pipeline: a market and preferences define the
# game; its equilibrium feeds both the pricing methods and the calibration, which learns the
# preferences from data (phase 1); the abstraction reduces the market before pricing (phase 2);
# the experiments compare the methods.
# ```
#
# ## A tour of the shipped data
#
# The paper's OpenRouter data (20 models × 20 apps, April–July 2025) was not released.
# `prillm.data` ships two kinds of data instead, documented column by column in its datasheet
# (`prillm/data/DATASHEET.md`):
#
# - **public facts** from OpenRouter's rankings (CC BY 4.0): daily token volumes of the most-used
#   models, the history of their list prices, one snapshot of which apps send tokens to which
#   models, and throughput and latency measurements;
# - a **generated panel**: daily markets of apps and models shaped like that data, whose
#   flows are exact equilibria of *planted* preferences plus stated noise, so that calibration
#   can be scored against a known truth.
#
# ### Market shares
#
# `load_models_daily()` holds the daily tokens of the most-used model variants
# ({glue:text}`mk_daily_selection`) over {glue:text}`mk_daily_period`. We keep the complete
# days and fold the variants of a model (free, thinking, ...) into it:

# %%
daily = prillm_data.load_models_daily()
frame = pd.DataFrame(dict(daily.items()))
frame = frame[frame["day_complete"] == 1]
frame["model"] = frame["model_id"].str.split(":").str[0]
frame["date"] = pd.to_datetime(frame["date"])
tokens = (
    frame.groupby(["date", "model"])["tokens"].sum().unstack(fill_value=0)
)
shares = tokens.div(tokens.sum(axis=1), axis=0)
n_top = 8
top = shares.mean().nlargest(n_top).index

# %% tags=["remove-output"]
fig, ax = plt.subplots(figsize=(7, 4.6))
ax.stackplot(shares.index, shares[top].T.to_numpy(), labels=top, alpha=0.85)
ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %Y"))
ax.set_ylabel("share of the day's tokens")
ax.set_ylim(0, 1)
legend = fig.legend(loc="outside lower center", ncols=2)

# %% tags=["remove-cell"]
glue("mk_daily_selection", daily.meta["selection"], display=False)
glue("mk_daily_period", daily.meta["period"], display=False)
glue("mk_daily_source", daily.meta["attribution"], display=False)
glue("mk_n_days", len(shares), display=False)
glue("mk_n_models", shares.shape[1], display=False)
glue("mk_top_share", float(shares[top[0]].mean()), display=False)
glue("mk_top8_share", float(shares[top].sum(axis=1).mean()), display=False)
glue("mk_top_model", str(top[0]), display=False)
glue("mk_n_top", n_top, display=False)
glue_figure("fig-mk-shares", fig)

# %% [markdown]
# ```{glue:figure} fig-mk-shares
# ---
# name: fig-mk-shares
# alt: >-
#   Stacked areas of the daily token shares of the largest models over five weeks of April and May
#   2025, one band per model, none of them dominant; the white band above the areas is the
#   share of the other models.
# ---
# Daily share of the tokens of the most-used variants carried by the {glue:text}`mk_n_top`
# largest models,
# {glue:text}`mk_daily_period` ({glue:text}`mk_daily_source`). The white band at the top is
# every other model. No model dominates, and the shares drift from week to week.
# ```
#
# Over these {glue:text}`mk_n_days` complete days and {glue:text}`mk_n_models` models, the
# largest, {glue:text}`mk_top_model`, carried {glue:text}`mk_top_share:.0%` of the tokens on
# average and the {glue:text}`mk_n_top` largest together {glue:text}`mk_top8_share:.0%`
# ({numref}`fig-mk-shares`). Applications spread their traffic, which is what the routing game
# describes.
#
# ### Prices over time
#
# `load_price_history()` records every change of list price (input and output prices, USD per
# million tokens) of those models and of the models in the 2026 app snapshot below. Prices move
# in steps, often, and not only downwards ({numref}`fig-mk-prices`) — a provider re-prices
# against its rivals, which is the decision this book is about.

# %% tags=["remove-output"]
history = prillm_data.load_price_history()
ids, counts = np.unique(history["model_id"], return_counts=True)
n_busiest = 6
busiest = ids[np.argsort(-counts, kind="stable")[:n_busiest]]
fig, ax = plt.subplots(figsize=(7, 4.4))
for mid in busiest:
    rows = history.where("model_id", mid)
    days = np.array(rows["change_date"], dtype="datetime64[D]")
    last = np.datetime64(rows["last_seen"][-1], "D")
    price = np.asarray(rows["input_price_usd_per_mtok"], dtype=float)
    ax.step(
        np.append(days, last),
        np.append(price, price[-1]),
        where="post",
        label=mid,
    )
ax.set_yscale("log")
ax.set_ylabel("input price (USD / 1M tokens)")
ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
legend = fig.legend(loc="outside lower center", ncols=2)

# %% tags=["remove-cell"]
glue("mk_n_changes", len(history), display=False)
glue("mk_n_priced", len(ids), display=False)
glue("mk_history_period", history.meta["period"], display=False)
glue("mk_most_changes", int(counts.max()), display=False)
glue("mk_n_busiest", n_busiest, display=False)
glue_figure("fig-mk-prices", fig)

# %% [markdown]
# ```{glue:figure} fig-mk-prices
# ---
# name: fig-mk-prices
# alt: >-
#   Step lines of the list input price of a few models over time on a logarithmic axis; prices
#   change several times, both down and up.
# ---
# List input price of the {glue:text}`mk_n_busiest` most often re-priced models,
# {glue:text}`mk_history_period`
# (log scale). Each step is a change of list price.
# ```
#
# The ledger holds {glue:text}`mk_n_changes` price changes of {glue:text}`mk_n_priced`
# models; the most re-priced one changed price {glue:text}`mk_most_changes` times.
#
# ### Flows between apps and models
#
# `load_app_flows()` is one public snapshot of which applications send how many tokens to which
# models — the observed counterpart of the flows $f_{ij}$. Only the top public apps of each model
# are listed, so the matrix is sparse and partial ({numref}`fig-mk-flows`).

# %%
flows_table = prillm_data.load_app_flows()
flows = pd.DataFrame(dict(flows_table.items()))
flows["model"] = flows["model_id"].str.split(":").str[0]
matrix = flows.groupby(["app", "model"])["tokens"].sum().unstack()
n_show = 12 if quick else 20
rows = matrix.sum(axis=1).nlargest(n_show).index
columns = matrix.sum().nlargest(n_show).index
block = matrix.loc[rows, columns]

# %% tags=["remove-output"]
fig, ax = plt.subplots(figsize=(7, 6.4))
image = ax.imshow(block, norm=LogNorm(), aspect="auto")
names = [m.split("/")[-1] for m in block.columns]
ax.set_xticks(range(n_show), names, rotation=90)
ax.set_yticks(range(n_show), block.index)
ax.grid(False)
label = "tokens in the snapshot window (log scale)"
colorbar = fig.colorbar(image, ax=ax, label=label)

# %% tags=["remove-cell"]
glue("mk_n_show", n_show, display=False)
glue("mk_n_apps_all", matrix.shape[0], display=False)
glue("mk_n_models_all", matrix.shape[1], display=False)
glue("mk_n_pairs", int(matrix.notna().sum().sum()), display=False)
glue("mk_density", float(matrix.notna().to_numpy().mean()), display=False)
glue("mk_flows_source", flows_table.meta["attribution"], display=False)
glue_figure("fig-mk-flows", fig)

# %% [markdown]
# ```{glue:figure} fig-mk-flows
# ---
# name: fig-mk-flows
# alt: >-
#   A heat map with applications as rows and models as columns; coloured cells are the listed
#   app-model pairs, on a logarithmic colour scale, and many cells are blank.
# ---
# Tokens sent by the {glue:text}`mk_n_show` largest apps to the {glue:text}`mk_n_show` largest
# models in the snapshot (log colour scale; model names without their vendor; blank: the pair is
# not listed). {glue:text}`mk_flows_source`.
# ```
#
# In all the snapshot lists {glue:text}`mk_n_pairs` app-model pairs among
# {glue:text}`mk_n_apps_all` apps and {glue:text}`mk_n_models_all` models, so only
# {glue:text}`mk_density:.1%` of the cells are known.
#
# ### Throughput and latency
#
# `load_performance()` summarises, per model, the fastest endpoint's throughput (tokens per
# second) and median latency ({numref}`fig-mk-performance`). The paper estimates a provider's
# capacity as its token volume divided by its throughput, $\alpha_j = T_j / v_j$, and uses
# latency for $d_{ij}$.

# %% tags=["remove-output"]
perf_table = prillm_data.load_performance()
perf = pd.DataFrame(dict(perf_table.items()))
price = perf["price_usd_per_mtok_median"].clip(lower=1e-3)
fig, ax = plt.subplots(figsize=(7, 4.0))
points = ax.scatter(
    perf["throughput_tok_s_median"],
    perf["latency_s_median"],
    c=price,
    norm=LogNorm(),
    cmap="plasma",
    s=22,
)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("throughput (tokens / s, median)")
ax.set_ylabel("latency (s, median)")
colorbar = fig.colorbar(
    points, ax=ax, label="price (USD / 1M tokens, log scale)"
)

# %% tags=["remove-cell"]
glue("mk_n_perf", len(perf), display=False)
glue("mk_perf_period", perf_table.meta["period"], display=False)
glue(
    "mk_thr_lo", float(perf["throughput_tok_s_median"].min()), display=False
)
glue(
    "mk_thr_hi", float(perf["throughput_tok_s_median"].max()), display=False
)
glue_figure("fig-mk-performance", fig)

# %% [markdown]
# ```{glue:figure} fig-mk-performance
# ---
# name: fig-mk-performance
# alt: >-
#   A scatter plot of latency against throughput for the models, both on logarithmic axes,
#   coloured by price on a logarithmic colour scale.
# ---
# Median throughput and latency of the fastest endpoint of each of {glue:text}`mk_n_perf`
# models, {glue:text}`mk_perf_period`; colour: price (log scale, free endpoints drawn at 0.001).
# ```
#
# Throughputs range from {glue:text}`mk_thr_lo:.0f` to {glue:text}`mk_thr_hi:,.0f` tokens per
# second.
#
# ### The generated calibration panel
#
# `load_panel()` returns a panel of daily markets built from the facts above, whose flows are
# the exact equilibria of planted preferences, then multiplied by log-normal noise. The price
# each app pays in it is the list price above times a generated day-to-day factor of mean one:
# OpenRouter's list prices are headline prices, while the effective price moves with routing,
# cache discounts and promotions, and without such moves the preferences could not be told
# apart from a multiple of them ({doc}`05_calibration`). `panel.list_price` keeps the list
# prices. Everything in the panel except its list prices and the facts it was built from is
# **generated**, not observed. We re-solve its first day with the planted preferences:

# %% tags=["remove-output"]
panel = prillm_data.load_panel()
truth = panel.truth
effective = panel.price / panel.list_price
day0, exact0 = panel.markets[0], panel.exact_flows[0]
check = solve_equilibrium(day0, truth)
mismatch = np.abs(check.flows - exact0).max() / day0.demand.max()

fig, ax = plt.subplots(figsize=(5.2, 4.4))
used = exact0 > 0
ax.loglog(exact0[used], day0.observed_flows[used], ".", ms=5)
lims = [exact0[used].min(), exact0[used].max()]
ax.plot(lims, lims, color="grey", lw=0.8)
ax.set_xlabel("equilibrium flow (tokens / day)")
ax.set_ylabel("observed flow (tokens / day)")

# %% tags=["remove-cell"]
t_days, n_apps, n_models = panel.shape
glue("mk_panel_days", t_days, display=False)
glue("mk_panel_apps", n_apps, display=False)
glue("mk_panel_models", n_models, display=False)
glue("mk_panel_first", str(panel.dates[0]), display=False)
glue("mk_panel_last", str(panel.dates[-1]), display=False)
glue("mk_panel_sigma", panel.noise["sigma"], display=False)
glue("mk_panel_w_q", truth.w_q, display=False)
glue("mk_panel_w_d", truth.w_d, display=False)
glue("mk_panel_segments", len(panel.segments), display=False)
glue("mk_price_lo", float(np.quantile(effective, 0.05)), display=False)
glue("mk_price_hi", float(np.quantile(effective, 0.95)), display=False)
glue(
    "mk_price_sigma", panel.info["parameters"]["price_sigma"], display=False
)
glue("mk_mismatch", float(mismatch), display=False)
glue("mk_n_used", int(used.sum()), display=False)
glue_figure("fig-mk-panel", fig)

# %% [markdown]
# ```{glue:figure} fig-mk-panel
# ---
# name: fig-mk-panel
# alt: >-
#   A log-log scatter of observed against equilibrium flows for the first day of the panel; the
#   points scatter around the diagonal line of equality.
# ---
# First day of the generated panel ({glue:text}`mk_panel_first`): the observed flow of each of
# the {glue:text}`mk_n_used` used app-model pairs against its exact equilibrium flow under the
# planted preferences (grey: equality). The scatter is the planted noise.
# ```
#
# The panel has {glue:text}`mk_panel_days` days ({glue:text}`mk_panel_first` to
# {glue:text}`mk_panel_last`), {glue:text}`mk_panel_apps` apps in
# {glue:text}`mk_panel_segments` segments and {glue:text}`mk_panel_models` models. The planted
# weights are $w_q =$ {glue:text}`mk_panel_w_q` and $w_d =$ {glue:text}`mk_panel_w_d`; the
# noise is log-normal with $\sigma =$ {glue:text}`mk_panel_sigma` and mean one, and the
# effective price is between {glue:text}`mk_price_lo:.2f` and {glue:text}`mk_price_hi:.2f`
# times the list price on 90 % of the app-model-days (generated with a log-standard deviation
# of {glue:text}`mk_price_sigma`). Solving the first day with the planted preferences
# reproduces the shipped equilibrium flows to {glue:text}`mk_mismatch:.1e` of the largest
# demand ({numref}`fig-mk-panel`).
#
# ## Summary
#
# - A user (an application) splits its daily tokens over providers by a generalised price
#   {eq}`mk-price`: price, congestion and latency, weighed by preferences, minus the value it
#   perceives in each provider.
# - `prillm` fixes the units once: prices in USD per million tokens, tokens per day, seconds,
#   and money as `price * flow / 1e6`.
# - `solve_equilibrium` gives the users' split for any market; a price cut moves load, and
#   whether it pays is the pricing question.
# - The shipped data are public OpenRouter facts (shares, prices, app-model flows,
#   performance) and a generated panel with known preferences for calibration.
#
# ## Exercises
#
# ```{exercise} Revenue by hand
# :label: ex-mk-revenue
#
# Using only the price of the premium provider and its load at the equilibrium
# (`eq.loads`), compute its revenue in USD per day, and check it against `eq.revenue(0)` in
# {numref}`tbl-mk-equilibrium`.
# ```
#
# ```{solution-start} ex-mk-revenue
# :class: dropdown
# ```
#
# Prices are per million tokens and loads in tokens per day, so the revenue is
# $p_j F_j / 10^6$ USD per day:

# %%
by_hand = market.price[0] * eq.loads[0] / 1e6
print(f"{by_hand:,.2f} USD / day by hand, {eq.revenue(0):,.2f} from prillm")

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} A common price rise
# :label: ex-mk-common
#
# Every provider raises its price by the same amount $\delta$. Explain why no application
# changes its split, and check it on the demo market with $\delta = 0.5$. Who gains?
# ```
#
# ```{solution-start} ex-mk-common
# :class: dropdown
# ```
#
# The rise adds $w_p \delta$ to the generalised price {eq}`mk-price` of every route of every
# user. A user's total cost then changes by $w_p \delta D_i$ whatever its split, so the split
# that was best stays best, and the equilibrium flows do not move. Every provider keeps its load
# and earns $\delta F_j / 10^6$ more; the users pay for it.

# %%
moved = solve_equilibrium(market.replace(price=market.price + 0.5), prefs)
change = np.abs(moved.flows - eq.flows).max() / market.demand.max()
print(f"largest change of a flow: {change:.1e} of the largest demand")
before, after = eq.revenue(0), moved.revenue(0)
print(f"premium revenue: {before:,.0f} -> {after:,.0f} USD/day")

# %% [markdown]
# ```{solution-end}
# ```
