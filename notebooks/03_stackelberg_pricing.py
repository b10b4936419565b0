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
# # Stackelberg pricing
#
# A provider that changes its price changes the users' equilibrium, and so its own load.
#
# **This chapter** states the provider's pricing problem (paper Problem 1 {cite}`prillm2026`),
# draws the profit as a function of the price, explains why that curve is piecewise quadratic
# and why it can have several local maxima, and finds a first optimal price on a dense grid,
# whose error we measure against the exact optimum. The dedicated pricing methods, exact and
# approximate, are the subject of {doc}`04_pricing_methods`.
#
# **What you need**: the user-side equilibrium of {doc}`02_user_game` (its uniqueness, and that
# on a fixed support its KKT conditions are a linear system), and the calculus of a parabola.

# %% tags=["parameters", "remove-cell"]
quick = True

# %% tags=["remove-cell"]
# Book plumbing: the figure style and the table and figure helpers of notebooks/booktools.py.
from booktools import glue_figure, glue_table, setup_book
from myst_nb import glue

setup_book()

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prillm import Market, Preferences, solve_equilibrium
from prillm.pricing import make_problem, optimal_price, vanishing_price
from prillm.pricing.grid import price_sweep, profit_curve
from prillm.synthetic import plausible_market

rng = np.random.default_rng(0)
# quick: a small market and grid; full: the paper's 20 x 20, a finer grid
n_users, n_providers = (10, 8) if quick else (20, 20)
n_grid = 400 if quick else 4000

# %% [markdown]
# ## The pricing problem
#
# The target provider $s$ is the leader: it announces its price $p_s$, the users respond with
# their unique equilibrium $\mathcal F^*(p_s)$ ({doc}`02_user_game`), and the target earns its
# price times the load the equilibrium sends it: {prf:ref}`def-pricing-problem`, which is paper
# Problem 1.
#
# ```{prf:definition} LLM service pricing problem
# :label: def-pricing-problem
#
# Given the rivals' prices and the users' preferences, the target $s$ chooses
#
# $$
# \max_{0 \le p_s \le p^{\max}} \; \Psi_s(p_s) = p_s \, Q_s^*(p_s)\, \alpha_s
#   = p_s \, F_s^*(p_s),
# $$ (sp-problem)
#
# where $F_s^*(p_s) = \sum_i f^*_{is}(p_s)$ is the target's load at the user-side equilibrium
# for the price $p_s$ (paper Eq. 2).
# ```
#
# The constraint "the users are at equilibrium" makes {eq}`sp-problem` a mathematical program
# with equilibrium constraints (MPEC), hard in general {cite}`harks2021stackelberg`. In
# `prillm` the profit is `Equilibrium.revenue(s)`: the price (USD per million tokens) times the
# load (tokens per day) divided by $10^6$, in USD per day.
#
# We draw a synthetic market of {glue:text}`sp_n_users` users and {glue:text}`sp_n_providers`
# providers (the construction of {doc}`02_user_game`) and take as target the provider with the
# median price.

# %%
market, prefs = plausible_market(rng, n_users, n_providers)
s = int(np.argsort(market.price)[n_providers // 2])
base = solve_equilibrium(market, prefs)

# %% tags=["remove-cell"]
glue("sp_n_users", n_users, display=False)
glue("sp_n_providers", n_providers, display=False)
glue("sp_target", s, display=False)
glue("sp_list_price", float(market.price[s]), display=False)
glue("sp_list_load", float(base.loads[s]), display=False)
glue("sp_list_profit", float(base.revenue(s)), display=False)

# %% [markdown]
# The target is provider {glue:text}`sp_target`. At its list price of
# {glue:text}`sp_list_price:.3f` USD per million tokens it carries
# {glue:text}`sp_list_load:.3e` tokens a day and earns {glue:text}`sp_list_profit:,.0f` USD a
# day.
#
# Above some price no user sends the target anything and the profit is zero. That price is
# computed by `prillm.pricing.vanishing_price`: with the target removed, the rivals'
# equilibrium gives each user's marginal cost $\lambda_i$, and the target is unused exactly when
# its fixed cost $c_{is}(p_s)$ is at least $\lambda_i$ for every user (paper Eq. 16 with
# $F_s = 0$). We take that price as $p^{\max}$.

# %%
p_max = vanishing_price(market, prefs, s)

# %% tags=["remove-cell"]
glue("sp_p_max", float(p_max), display=False)

# %% [markdown]
# Here $p^{\max} =$ {glue:text}`sp_p_max:.4f` USD per million tokens.
#
# ## The profit curve
#
# We evaluate $\Psi_s$ on {glue:text}`sp_n_grid` equally spaced prices in $[0, p^{\max}]$.
# `prillm.pricing.make_problem` states {prf:ref}`def-pricing-problem` for the target, and
# `prillm.pricing.grid.price_sweep` solves the users' equilibrium exactly at each price, by
# the active-set method of {doc}`02_user_game`. Each solve is warm-started with the previous
# price's support: neighbouring prices share almost all of their support, so the active-set
# method usually stops after one or two linear solves. (This sweep is the first step of the
# `grid` method of {doc}`04_pricing_methods`.)

# %%
prices = np.linspace(0.0, p_max, n_grid)
prob = make_problem(
    market, prefs, s, p_max=p_max, p_min=0.0, marginal_cost=0.0
)
sweep = price_sweep(prob, prices)
load, profit = sweep.load, sweep.profit
supports, warm_iters = sweep.support, sweep.iterations
# the same prices solved from scratch, for comparison
cold = [
    solve_equilibrium(market.with_price(s, p), prefs) for p in prices[::10]
]
cold_iters = np.array([e.iterations for e in cold])

# %% tags=["remove-cell"]
glue("sp_n_grid", n_grid, display=False)
glue("sp_warm_iters", float(warm_iters.mean()), display=False)
glue("sp_cold_iters", float(cold_iters.mean()), display=False)

# %% [markdown]
# Warm-started, a price costs {glue:text}`sp_warm_iters:.2f` linear solves on average, against
# {glue:text}`sp_cold_iters:.2f` from scratch. {numref}`fig-sp-curve` shows the curve.

# %% tags=["remove-output"]
changes = np.flatnonzero(np.any(supports[1:] != supports[:-1], axis=(1, 2)))
kinks = 0.5 * (prices[changes] + prices[changes + 1])
best = int(np.argmax(profit))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7, 3.4), sharex=True)
ax1.plot(prices, profit / 1e3)
ax1.plot(prices[best], profit[best] / 1e3, "o", color="C3", label="best")
ax1.axvline(market.price[s], color="grey", ls=":", label="list price")
ax1.set_ylabel("profit (thousand USD / day)")
legend = ax1.legend(loc="upper right")
ax2.plot(prices, load / 1e9, color="C2")
for x in kinks:
    ax2.axvline(x, color="C1", lw=0.6, alpha=0.7)
ax2.set_ylabel("load $F_s$ (billion tokens / day)")
for ax, name in ((ax1, "(a) profit"), (ax2, "(b) load")):
    ax.set_xlabel("target price $p_s$ (USD / 1M tokens)")
    ax.set_title(name, loc="left")

# %% tags=["remove-cell"]
glue("sp_n_changes", len(changes), display=False)
glue_figure("fig-sp-curve", fig)

# %% [markdown]
# ```{glue:figure} fig-sp-curve
# ---
# name: fig-sp-curve
# alt: >-
#   Two panels sharing the price axis. Left, the profit rises from zero, peaks and falls back
#   to zero at the largest price, with the best grid price marked and the list price dotted.
#   Right, the load falls from its largest value to zero along straight segments, with thin
#   orange vertical lines at the kinks.
# ---
# The target's profit (a) and load (b) against its price, on a grid of {glue:text}`sp_n_grid`
# prices up to $p^{\max}$. In (a) the dot is the best grid price and the dotted line the list
# price; in (b) the orange lines mark the prices where the support changes. The load falls along
# straight segments joined at those kinks.
# ```
#
# The load falls as the price rises — always: $F^*_s$ is non-increasing in $p_s$
# ({ref}`ex-sp-monotone`) — and it falls along straight segments joined at kinks. The kinks are
# the prices where the *support* changes: a user starts or stops using some provider. On this
# grid the support changes {glue:text}`sp_n_changes` times.
#
# ## Why the curve is piecewise quadratic
#
# Fix a support. As shown in {doc}`02_user_game`, the KKT conditions on a fixed support are a
# linear system whose right-hand side is affine in the fixed costs $c_{ij}$; the price $p_s$
# enters only $c_{is} = w_p p_s + w_d d_{is} - b_s$, linearly. So, as long as the support stays
# the same, the flows, the multipliers and the load $F^*_s$ are **affine** in $p_s$:
#
# $$
# F^*_s(p_s) = a_k + b_k\, p_s, \qquad \Psi_s(p_s) = p_s\,(a_k + b_k\, p_s)
# $$ (sp-piece)
#
# on the $k$-th piece: the profit is a **quadratic**, concave because $b_k \le 0$. There are
# finitely many supports, and each occupies an interval of prices, so $[0, p^{\max}]$ splits into
# finitely many pieces. The equilibrium is the unique minimiser of a strictly convex quadratic
# program whose linear term depends continuously on $p_s$, so it is continuous in $p_s$: the
# pieces join without jumps. Altogether $\Psi_s$ is continuous and piecewise quadratic, with
# kinks where the support changes (paper Section 9.4 shows the same piecewise structure with
# respect to the preferences).
#
# Two numerical consequences can be checked on the grid. On a uniform grid, the second
# difference $F_s(p_{k-1}) - 2F_s(p_k) + F_s(p_{k+1})$ of an affine function vanishes: it should be
# zero to round-off wherever the three prices share a support, and visibly non-zero only across
# a support change ({numref}`fig-sp-second`). And on each piece, two grid points determine the
# line $a_k + b_k p$ ({numref}`tbl-sp-pieces`).

# %%
second = np.abs(load[:-2] - 2 * load[1:-1] + load[2:]) / load.max()
same = np.all(supports[:-2] == supports[1:-1], axis=(1, 2)) & np.all(
    supports[1:-1] == supports[2:], axis=(1, 2)
)

# %% tags=["remove-output"]
fig, ax = plt.subplots(figsize=(7, 3.4))
shown = np.maximum(second, 1e-18)  # exact zeros drawn at 1e-18
mid = prices[1:-1]
one = {"ms": 3, "label": "three prices with one support"}
two = {"ms": 5, "color": "C1", "label": "across a support change"}
ax.semilogy(mid[same], shown[same], ".", **one)
ax.semilogy(mid[~same], shown[~same], "o", **two)
ax.set_xlabel("target price $p_s$ (USD / 1M tokens)")
ax.set_ylabel("|second difference| / max $F_s$")
legend = ax.legend(loc="center right")

# %% tags=["remove-cell"]
within = float(second[same].max()) if same.any() else float("nan")
across = float(second[~same].max()) if (~same).any() else float("nan")
glue("sp_second_within", within, display=False)
glue("sp_second_across", across, display=False)
glue_figure("fig-sp-second", fig)

# %% [markdown]
# ```{glue:figure} fig-sp-second
# ---
# name: fig-sp-second
# alt: >-
#   A scatter on a logarithmic vertical axis: most points, for three prices with one support,
#   lie at round-off level far below the few orange points at support changes.
# ---
# Second differences of the target's load along the grid, relative to the largest load (log
# scale; exact zeros drawn at $10^{-18}$). Where three neighbouring prices share a support
# (dots) the load is affine and the second difference is round-off; only across a support
# change (orange) is it visibly non-zero.
# ```
#
# Within a piece the second differences are at round-off level (at most
# {glue:text}`sp_second_within:.1e` of the largest load), across a support change up to
# {glue:text}`sp_second_across:.1e`. {numref}`tbl-sp-pieces` lists the pieces, each with its
# affine load {eq}`sp-piece` and the vertex of its parabola, $-a_k/(2 b_k)$: the piece's own
# maximiser when it lies inside the piece.

# %%
edges = np.concatenate([[0], changes + 1, [n_grid]])
spans = [(a, b) for a, b in itertools.pairwise(edges) if b - a >= 2]
lo, hi = np.array(spans).T  # a piece: grid points lo, ..., hi - 1
p_lo, p_hi = prices[lo], prices[hi - 1]
b_k = (load[hi - 1] - load[lo]) / (p_hi - p_lo)
a_k = load[lo] - b_k * p_lo
slope_or_one = np.where(b_k < 0, b_k, -1.0)
vertex = np.where(b_k < 0, -a_k / (2 * slope_or_one), np.nan)
inside = (p_lo <= vertex) & (vertex <= p_hi)
pieces = pd.DataFrame({"from $p$": p_lo, "to $p$": p_hi})
pieces["users of $s$"] = supports[lo][:, :, s].sum(axis=1)
pieces["$a_k$ (tokens)"] = a_k
pieces["$b_k$ (tokens per USD / 1M)"] = b_k
pieces["vertex $-a_k / (2 b_k)$"] = vertex
pieces["vertex in the piece"] = np.where(inside, "yes", "no")

# %% tags=["remove-cell"]
glue_table(
    "tbl-sp-pieces",
    pieces,
    caption="The pieces of the profit curve found on the grid: the prices each spans "
    "(USD per million tokens), how "
    "many users use the target on it, the coefficients of its affine load "
    "$F_s = a_k + b_k p_s$, and the vertex of its parabola.",
    formats={
        "from $p$": ".4f",
        "to $p$": ".4f",
        "$a_k$ (tokens)": ".3e",
        "$b_k$ (tokens per USD / 1M)": ".3e",
        "vertex $-a_k / (2 b_k)$": ".4f",
    },
)
n_inside = int((pieces["vertex in the piece"] == "yes").sum())
glue("sp_n_pieces", len(pieces), display=False)
glue("sp_n_inside", n_inside, display=False)

# %% [markdown]
# ```{glue:md} tbl-sp-pieces
# :format: myst
# ```
#
# On {glue:text}`sp_n_inside` of the {glue:text}`sp_n_pieces` pieces found on the grid the
# vertex lies inside the piece; on the others the profit is monotone and its maximum over the
# piece is at an end. The global maximum is the best of the pieces' maxima.
#
# ## Several local maxima
#
# A support change can make the load *less* price-sensitive: a user that has left the target no
# longer reacts to its price, so the slope $b_k$ can jump up at a kink, and the profit can have
# several local maxima. A small market shows it: a niche application close to the target (low
# latency) and a mass-market application close to the rival. At a moderate price the target
# serves both; at a high price it gives up the mass market and sells only to the niche app,
# which keeps buying.

# %%
duo_ids = ["target", "rival"]
two = Market(
    demand=[1.3e8, 1.6e9],
    price=[1.0, 1.15],
    capacity=[9.3e8, 2.3e9],
    latency=[[0.1, 2.0], [0.5, 0.1]],
    provider_ids=duo_ids,
    user_ids=["niche-app", "mass-app"],
)
two_prefs = Preferences(
    w_q=2.9, w_d=2.0, b=[0.0, 0.0], provider_ids=duo_ids
)
two_p_max = vanishing_price(two, two_prefs, 0)
two_prob = make_problem(
    two, two_prefs, "target", p_max=two_p_max, p_min=0.0, marginal_cost=0.0
)
two_prices = np.linspace(0.0, two_p_max, n_grid)
two_sweep = price_sweep(two_prob, two_prices)
two_profit = two_sweep.profit

# %% tags=["remove-output"]
inner = np.arange(1, n_grid - 1)
is_peak = (two_profit[inner] > two_profit[inner - 1]) & (
    two_profit[inner] >= two_profit[inner + 1]
)
peaks = inner[is_peak]
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.plot(two_prices, two_profit)
dots = {"color": "C3", "label": "local maxima"}
ax.plot(two_prices[peaks], two_profit[peaks], "o", **dots)
ax.set_xlabel("target price $p_s$ (USD / 1M tokens)")
ax.set_ylabel("profit (USD / day)")
legend = ax.legend(loc="lower center")

# %% tags=["remove-cell"]
maxima = pd.DataFrame(
    {
        "price (USD / 1M tokens)": two_prices[peaks],
        "profit (USD / day)": two_profit[peaks],
        "apps using the target": two_sweep.support[peaks, :, 0].sum(axis=1),
    }
)
glue_table(
    "tbl-sp-maxima",
    maxima,
    caption="The local maxima of the two-app market's profit curve.",
    formats={
        "price (USD / 1M tokens)": ".3f",
        "profit (USD / day)": ",.1f",
    },
)
glue("sp_n_peaks", len(peaks), display=False)
glue("sp_low_peak", float(two_prices[peaks[0]]), display=False)
glue("sp_high_peak", float(two_prices[peaks[-1]]), display=False)
higher = (
    "second" if two_profit[peaks[-1]] > two_profit[peaks[0]] else "first"
)
glue("sp_higher_peak", higher, display=False)
glue_figure("fig-sp-two", fig)

# %% [markdown]
# ```{glue:figure} fig-sp-two
# ---
# name: fig-sp-two
# alt: >-
#   A profit curve against the target's price with two humps, each with a red dot at its top:
#   a local maximum at a moderate price and another at a high price.
# ---
# The profit of the target in the two-app market against its price. The dots are the local
# maxima of {numref}`tbl-sp-maxima`: serving both apps at a moderate price, or only the niche
# app at a high one.
# ```
#
# ```{glue:md} tbl-sp-maxima
# :format: myst
# ```
#
# The profit has {glue:text}`sp_n_peaks` local maxima, near {glue:text}`sp_low_peak:.2f` and
# {glue:text}`sp_high_peak:.2f` USD per million tokens ({numref}`fig-sp-two`), and the
# {glue:text}`sp_higher_peak` is the higher. A local method started at a low price climbs to the
# first and stops there. This is what makes {prf:ref}`def-pricing-problem` hard in general, and
# what a global method must handle: a grid (below), or the exact method of the next chapter,
# which follows the pieces one after the other.
#
# ## A first optimal price: a dense grid
#
# The simplest global method evaluates the profit on a dense grid and keeps the best point. On
# our grid of {glue:text}`sp_n_grid` prices:

# %%
p_grid, psi_grid = float(prices[best]), float(profit[best])

# %% tags=["remove-cell"]
glue("sp_grid_price", p_grid, display=False)
glue("sp_grid_profit", psi_grid, display=False)
gain = psi_grid / base.revenue(s) - 1.0 if base.revenue(s) > 0 else np.nan
glue("sp_gain", float(gain), display=False)

# %% [markdown]
# the grid optimum, {glue:text}`sp_grid_price:.4f` USD per million tokens, earns
# {glue:text}`sp_grid_profit:,.0f` USD per day, {glue:text}`sp_gain:.1%` more than the list
# price {glue:text}`sp_list_price:.3f` in this synthetic market.
#
# How good is a grid of $N$ points? Compare with the exact global optimum $p^*$ that the next
# chapter's path-following method computes (`prillm.pricing.optimal_price`), together with the
# piece $a + b\,p$ of the load on which $p^*$ lies. Here $p^*$ lies inside its piece, so it is
# the vertex of that piece's parabola {eq}`sp-piece`, $a = -2 b\, p^*$, and a grid point $p$ on
# the same piece falls short of the optimum by exactly
#
# $$
# \Psi_s(p^*) - \Psi_s(p) = |b|\,(p - p^*)^2 ,
# $$ (sp-grid-loss)
#
# in the units of {eq}`sp-problem` (divide by $10^6$ for USD): the error is set by how close the
# nearest grid point $p_N$ happens to fall to $p^*$. It is at most $|b|\,(h/2)^2$ for the
# spacing $h = p^{\max}/(N-1)$, a bound that falls like $1/N^2$; the error itself need not.

# %%
exact = optimal_price(market, prefs, s, method="exact", p_max=p_max)
# the piece of the exact path on which p* lies: (start, end, load, slope)
pieces_exact = exact.diagnostics["pieces"]
at_optimum = [pc for pc in pieces_exact if pc[0] <= exact.price <= pc[1]]
piece_lo, piece_hi, _, slope = at_optimum[0]
sizes = [10, 20, 50, 100, 200, 500] + ([1000, 2000] if not quick else [])
records = []
for n_points in sizes:
    grid = np.linspace(0.0, p_max, n_points)
    best_n = profit_curve(prob, grid).max()
    nearest = grid[np.argmin(np.abs(grid - exact.price))]
    gap, h = 1 - best_n / exact.profit, grid[1] - grid[0]
    records.append({"N": n_points, "gap": gap, "nearest": nearest, "h": h})
# %% tags=["remove-cell"]
if not piece_lo < exact.price < piece_hi:
    raise RuntimeError("the text assumes p* is inside its piece (a vertex)")
errors = pd.DataFrame(records)
errors["d"] = (errors["nearest"] - exact.price).abs()
errors["on piece"] = errors["nearest"].between(piece_lo, piece_hi)
scale = (
    abs(slope) / 1e6 / exact.profit
)  # Eq. (sp-grid-loss), relative, in USD
errors["predicted"] = scale * errors["d"] ** 2
errors["bound"] = scale * (errors["h"] / 2) ** 2
columns = {
    "N": "grid points $N$",
    "d": "distance $\\lvert p_N - p^* \\rvert$",
    "on piece": "$p_N$ on the piece of $p^*$",
    "gap": "relative profit gap",
    "predicted": "$\\lvert b \\rvert (p_N - p^*)^2 / \\Psi^*$",
    "bound": "bound $\\lvert b \\rvert (h/2)^2 / \\Psi^*$",
}
table = errors[list(columns)].rename(columns=columns)
glue_table(
    "tbl-sp-grid",
    table,
    caption="The dense grid against the exact optimum: the distance from $p^*$ to the "
    "nearest grid point $p_N$, whether $p_N$ lies on the piece of $p^*$, the relative profit "
    "gap of the best grid point, the gap predicted by {eq}`sp-grid-loss`, and its bound.",
    formats={
        **dict.fromkeys(table.columns[[1, 3, 4, 5]], ".2e"),
        table.columns[2]: lambda v: "yes" if v else "no",
    },
)
glue("sp_exact_price", float(exact.price), display=False)
glue("sp_exact_gap", float(1.0 - psi_grid / exact.profit), display=False)
rises = np.flatnonzero(errors["gap"].diff().to_numpy() > 0)
if len(rises):
    k = int(rises[0])
    times = {1: "once", 2: "twice"}.get(len(rises), f"{len(rises)} times")
    trend = (
        f"It rises {times} as N grows, for instance from "
        f"{errors['gap'][k - 1]:.1e} at N = {errors['N'][k - 1]} to "
        f"{errors['gap'][k]:.1e} at N = {errors['N'][k]}"
    )
else:
    trend = "On these sizes it happens to fall at every step, but nothing forces it to"
glue("sp_grid_trend", trend, display=False)
on = errors[errors["on piece"]]
mismatch = ((on["gap"] - on["predicted"]).abs() / on["gap"]).max()
glue("sp_n_on_piece", len(on), display=False)
glue("sp_predicted_err", float(mismatch), display=False)
glue("sp_n_sizes", len(errors), display=False)
under = errors["gap"] <= errors["bound"] * (1 + 1e-9)
glue("sp_n_under_bound", int(under.sum()), display=False)

# %% tags=["remove-output"]
fig, ax = plt.subplots(figsize=(7, 3.4))
crosses = {"ms": 8, "color": "C3", "label": "$|b|(p_N - p^*)^2$"}
dashes = {"color": "grey", "label": "bound $|b|(h/2)^2$, like $1/N^2$"}
ax.loglog(errors["N"], errors["gap"], "o-", label="relative profit gap")
ax.loglog(errors["N"], errors["predicted"], "x", **crosses)
ax.loglog(errors["N"], errors["bound"], "--", **dashes)
ax.set_xlabel("grid points $N$")
ax.set_ylabel("gap relative to the optimum")
legend = ax.legend(loc="upper right")
# %% tags=["remove-cell"]
glue_figure("fig-sp-grid", fig)

# %% [markdown]
# ```{glue:figure} fig-sp-grid
# ---
# name: fig-sp-grid
# alt: >-
#   A log-log plot of the relative profit gap of the grid against the number of grid points:
#   the gap zigzags, with crosses on top of its points, under a straight dashed bound that
#   falls like one over N squared.
# ---
# Relative profit gap of the best grid point against the number of grid points $N$ (dots),
# the gap that {eq}`sp-grid-loss` predicts from the distance of the nearest grid point to the
# optimum (crosses), and the bound $|b|(h/2)^2$ (dashed), which falls like $1/N^2$.
# ```
#
# ```{glue:md} tbl-sp-grid
# :format: myst
# ```
#
# The exact optimum is {glue:text}`sp_exact_price:.4f` USD per million tokens, and the grid of
# {glue:text}`sp_n_grid` points above is within {glue:text}`sp_exact_gap:.1e` of its profit.
# The error does *not* simply fall with $N$ ({numref}`tbl-sp-grid`, {numref}`fig-sp-grid`).
# {glue:text}`sp_grid_trend`: a coarse grid can happen to put a point very close to $p^*$ and
# a finer one not. What holds is {eq}`sp-grid-loss`: for the {glue:text}`sp_n_on_piece` grids
# whose nearest point lies on the piece of $p^*$, it predicts the gap to a relative
# {glue:text}`sp_predicted_err:.0e`; and {glue:text}`sp_n_under_bound` of the
# {glue:text}`sp_n_sizes` gaps lie under the bound $|b|(h/2)^2$, which falls like $1/N^2$.
# A grid is simple and robust, but its cost grows with
# the accuracy asked for and with the market size (every point is an equilibrium), and it
# certifies nothing between its points; the next chapter compares it with the exact path
# method and with the paper's methods.
#
# ## Summary
#
# - The target's pricing problem {eq}`sp-problem` maximises its price times its equilibrium
#   load: a bilevel problem (an MPEC).
# - On each interval of prices where the support is fixed the load is affine and the profit a
#   concave parabola {eq}`sp-piece`; the curve is continuous and piecewise quadratic, with kinks
#   at support changes.
# - A support change can make demand less price-sensitive, so the profit can have several local
#   maxima, and a local method can stop at the wrong one.
# - A dense grid finds the global optimum approximately; its error is the curvature times the
#   squared distance of the nearest grid point to the optimum {eq}`sp-grid-loss`, bounded by a
#   $1/N^2$ term but not monotone in $N$.
#
# ## Exercises
#
# ```{exercise} One user, two providers
# :label: ex-sp-duopoly
#
# One user with demand $D$ chooses between the target $s$ and one rival $r$, with
# $c_s = w_p p_s + e_s$ ($e_s = w_d d_s - b_s$), fixed $c_r$, and slopes $k_s$, $k_r$. While
# both providers are used, show that $f_s(p_s) = (A - w_p p_s) / (2(k_s + k_r))$ with
# $A = c_r - e_s + 2 k_r D$, and that the profit $p_s f_s(p_s)$ is maximised at
# $p_s^* = A / (2 w_p)$, provided both providers are still used there. Check with a grid.
# ```
#
# ```{solution-start} ex-sp-duopoly
# :class: dropdown
# ```
#
# With one user, $F_j = f_j$ and the marginal costs are $c_j + 2 k_j f_j$ (paper Eq. 12). Both
# used means they are equal: $c_s + 2 k_s f_s = c_r + 2 k_r (D - f_s)$, so
# $f_s = (c_r - c_s + 2 k_r D) / (2(k_s + k_r)) = (A - w_p p_s)/(2(k_s + k_r))$, affine in $p_s$.
# The profit $p_s (A - w_p p_s) / (2(k_s+k_r))$ is a concave parabola with vertex
# $p_s^* = A/(2 w_p)$, where $f_s = A / (4(k_s + k_r))$; the formula holds if
# $0 < f_s(p^*_s) < D$.

# %%
duo = Market(
    demand=[2e9],
    price=[1.0, 2.0],
    capacity=[1.5e9, 1e9],
    latency=[0.5, 0.8],
    provider_ids=["s", "r"],
)
duo_prefs = Preferences(
    w_q=2.0, w_d=0.5, b=[1.0, 1.5], provider_ids=["s", "r"]
)

# %%
w_p, w_q, w_d, b = duo_prefs.values_for(duo)
k = w_q / duo.capacity
e_s = w_d * duo.latency[0, 0] - b[0]
c_r = w_p * duo.price[1] + w_d * duo.latency[0, 1] - b[1]
big_a = c_r - e_s + 2 * k[1] * duo.demand[0]
p_star, f_star = big_a / (2 * w_p), big_a / (4 * (k[0] + k[1]))
print(f"closed form: p* = {p_star:.6f}, f_s = {f_star:.4e} of D = 2e9")
duo_grid = np.linspace(0.0, 2 * p_star, 2001)
duo_prob = make_problem(
    duo, duo_prefs, "s", p_max=2 * p_star, p_min=0.0, marginal_cost=0.0
)
duo_profit = profit_curve(duo_prob, duo_grid)
p_best = duo_grid[int(np.argmax(duo_profit))]
print(f"grid:        p* = {p_best:.6f} (grid step {duo_grid[1]:.1e})")

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} The load never increases with the price
# :label: ex-sp-monotone
#
# Let $\mathcal F = \mathcal F^*(p)$ and $\mathcal F' = \mathcal F^*(p')$ with $p < p'$. Using
# only the optimality of each for its own potential (paper Eq. 13) and the convexity of $\Phi$,
# show that $F'_s \le F_s$.
# ```
#
# ```{solution} ex-sp-monotone
# :class: dropdown
#
# Write $\Phi_p$ for the potential at price $p$. Optimality over the same feasible set gives
# $\nabla\Phi_p(\mathcal F)\cdot(\mathcal F' - \mathcal F) \ge 0$ and
# $\nabla\Phi_{p'}(\mathcal F')\cdot(\mathcal F - \mathcal F') \ge 0$. The price enters only the
# linear term, so $\nabla\Phi_{p'}(y) = \nabla\Phi_p(y) + w_p (p' - p)\, E_s$, where $E_s$ has
# ones in column $s$. Adding the two inequalities,
#
# $$
# \begin{aligned}
# &\big(\nabla\Phi_p(\mathcal F) - \nabla\Phi_p(\mathcal F')\big)\cdot
#   (\mathcal F' - \mathcal F) \\
# &\qquad - w_p (p'-p)(F'_s - F_s) \ge 0 .
# \end{aligned}
# $$
#
# The first term is $\le 0$ because the gradient of a convex function is monotone; hence
# $w_p (p' - p)(F'_s - F_s) \le 0$, i.e. $F'_s \le F_s$.
# ```
