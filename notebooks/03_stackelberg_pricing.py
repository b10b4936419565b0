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
# A provider that changes its price changes the users' equilibrium, and so its own load. This
# chapter states the provider's pricing problem (Problem 1 of the paper {cite}`prillm2026`),
# draws the profit as a function of the price, explains why that curve is piecewise quadratic,
# and finds a first optimal price on a dense grid. The dedicated pricing methods, exact and
# approximate, are the subject of the next chapter.

# %% tags=["parameters"]
quick = True

# %%
import itertools

import matplotlib.pyplot as plt
import numpy as np
from myst_nb import glue

from prillm import Market, Preferences, solve_equilibrium
from prillm.pricing import optimal_price, vanishing_price
from prillm.synthetic import plausible_market

plt.rcParams.update({"figure.dpi": 100, "svg.hashsalt": "prillm", "figure.figsize": (7, 3.6)})
rng = np.random.default_rng(0)

# Quick mode: a small market and grid; full mode: the paper's 20 x 20 and a fine grid.
n_users, n_providers = (10, 8) if quick else (20, 20)
n_grid = 400 if quick else 4000
print(f"{n_users} users x {n_providers} providers, {n_grid} grid prices")

# %% [markdown]
# ## The pricing problem (Eq. 2)
#
# The target provider $s$ is the leader: it announces its price $p_s$, the users respond with
# their unique equilibrium $\mathcal F^*(p_s)$ ({doc}`02_user_game`), and the target earns its
# price times the load the equilibrium sends it.
#
# ```{prf:definition} LLM service pricing problem (Problem 1)
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
# for the price $p_s$.
# ```
#
# The constraint "the users are at equilibrium" makes Eq. {eq}`sp-problem` a mathematical
# program with equilibrium constraints (MPEC), hard in general {cite}`harks2021stackelberg`.
# In `prillm` the profit is `Equilibrium.revenue(s)`: the price (USD per million tokens) times
# the load (tokens per day) divided by $10^6$, in USD per day.
#
# We use a synthetic market (the same construction as in {doc}`02_user_game`) and take as
# target the provider with the median price.


# %%
market, prefs = plausible_market(rng, n_users, n_providers)
s = int(np.argsort(market.price)[n_providers // 2])
base = solve_equilibrium(market, prefs)
print(f"target: provider {s}, list price {market.price[s]:.3f} USD / 1M tokens")
print(
    f"at the list price: load {base.loads[s]:.3e} tokens/day, profit {base.revenue(s):,.0f} USD/day"
)
glue("sp_target", s, display=False)
glue("sp_list_price", float(market.price[s]), display=False)
glue("sp_list_profit", float(base.revenue(s)), display=False)

# %% [markdown]
# Above some price no user sends the target anything and the profit is zero. That price is
# computed by `prillm.pricing.vanishing_price`: with the target removed, the rivals'
# equilibrium gives each user's marginal cost $\lambda_i$, and the target is unused exactly when
# its fixed cost $c_{is}(p_s)$ is at least $\lambda_i$ for every user (Eq. 16 with $F_s = 0$).
# We take that price as $p^{\max}$.

# %%
p_max = vanishing_price(market, prefs, s)
print(f"the target's load vanishes from p = {p_max:.4f} USD / 1M tokens")
glue("sp_p_max", float(p_max), display=False)

# %% [markdown]
# ## The profit curve
#
# We evaluate $\Psi_s$ on {glue:text}`sp_n_grid` equally spaced prices in $[0, p^{\max}]$:
# `market.with_price(s, p)` changes one price, and `solve_equilibrium` returns the certified
# equilibrium. Each solve is warm-started with the previous price's equilibrium (its support):
# neighbouring prices share almost all of their support, so the active-set method usually stops
# after one or two linear solves.

# %%
glue("sp_n_grid", n_grid, display=False)
prices = np.linspace(0.0, p_max, n_grid)
equilibria = []
previous = None
for p in prices:
    previous = solve_equilibrium(market.with_price(s, p), prefs, warm_start=previous)
    equilibria.append(previous)
load = np.array([e.loads[s] for e in equilibria])
profit = np.array([e.revenue(s) for e in equilibria])
supports = np.array([e.support for e in equilibria])
warm_iters = np.array([e.iterations for e in equilibria])
cold_iters = np.array(
    [solve_equilibrium(market.with_price(s, p), prefs).iterations for p in prices[::10]]
)
print(
    f"active-set iterations per price: warm {warm_iters.mean():.2f}, cold {cold_iters.mean():.2f}"
)
glue("sp_warm_iters", float(warm_iters.mean()), display=False)
glue("sp_cold_iters", float(cold_iters.mean()), display=False)

# %% [markdown]
# Warm-started, a price costs {glue:text}`sp_warm_iters:.2f` linear solves on average, against
# {glue:text}`sp_cold_iters:.2f` from scratch. The curve:

# %%
changes = np.flatnonzero(np.any(supports[1:] != supports[:-1], axis=(1, 2)))
brackets = [(prices[k], prices[k + 1]) for k in changes]
best = int(np.argmax(profit))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
ax1.plot(prices, profit / 1e3, color="C0")
ax1.plot(prices[best], profit[best] / 1e3, "o", color="C3", label="best grid price")
ax1.axvline(market.price[s], color="grey", ls=":", label="list price")
ax1.set_xlabel("target price $p_s$ (USD / 1M tokens)")
ax1.set_ylabel("profit (thousand USD / day)")
ax1.legend(loc="upper right", fontsize=8)
ax2.plot(prices, load / 1e9, color="C2")
for lo, hi in brackets:
    ax2.axvline(0.5 * (lo + hi), color="C1", lw=0.6, alpha=0.7)
ax2.set_xlabel("target price $p_s$ (USD / 1M tokens)")
ax2.set_ylabel("target load $F_s$ (billion tokens / day)")
ax2.set_title("support changes in orange", fontsize=9)
fig.tight_layout()
plt.show()
glue("sp_n_changes", len(changes), display=False)

# %% [markdown]
# The load falls as the price rises — always: $F^*_s$ is non-increasing in $p_s$
# ({ref}`ex-sp-monotone`) — and it falls along straight segments joined at kinks. The kinks
# (orange) are the prices where the *support* changes: a user starts or stops using some
# provider. On this grid the support changes {glue:text}`sp_n_changes` times.
#
# ## Why the curve is piecewise quadratic
#
# Fix a support. As shown in {doc}`02_user_game`, the KKT conditions on a fixed support are a
# linear system whose right-hand side is affine in the fixed costs $c_{ij}$; the price $p_s$
# enters only $c_{is} = w_p p_s + w_d d_{is} - b_s$, linearly. So, as long as the support stays
# the same, the flows, the multipliers and the load $F^*_s$ are **affine** in $p_s$:
# $F^*_s(p_s) = a_k + b_k p_s$ on the $k$-th piece, and the profit
# $\Psi_s = p_s (a_k + b_k p_s)$ is a **quadratic**, concave because $b_k \le 0$. There are
# finitely many supports, and each occupies an interval of prices, so $[0, p^{\max}]$ splits into
# finitely many pieces. The equilibrium is the unique minimiser of a strictly convex quadratic
# program whose linear term depends continuously on $p_s$, so it is continuous in $p_s$: the
# pieces join without jumps. Altogether $\Psi_s$ is continuous and piecewise quadratic, with
# kinks where the support changes (see the paper's Section 9.4 for the same piecewise structure
# with respect to the preferences).
#
# Two numerical consequences can be checked on the grid. On a uniform grid, the second
# difference $F_s(p_{k-1}) - 2F_s(p_k) + F_s(p_{k+1})$ of an affine function vanishes: it should be
# zero to round-off wherever the three prices share a support, and visibly non-zero only across
# a support change. And on each piece, two grid points determine the line $a_k + b_k p$.

# %%
second = np.abs(load[:-2] - 2 * load[1:-1] + load[2:]) / load.max()
same = np.array(
    [
        np.array_equal(supports[k], supports[k + 1])
        and np.array_equal(supports[k + 1], supports[k + 2])
        for k in range(n_grid - 2)
    ]
)
within = float(second[same].max()) if same.any() else float("nan")
across = float(second[~same].max()) if (~same).any() else float("nan")
print("second differences of F_s / max F_s:")
print(f"  within pieces <= {within:.1e}, across support changes up to {across:.1e}")
glue("sp_second_within", within, display=False)
glue("sp_second_across", across, display=False)

fig, ax = plt.subplots()
ax.semilogy(prices[1:-1][same], np.maximum(second[same], 1e-18), ".", ms=3, label="same support")
ax.semilogy(
    prices[1:-1][~same],
    np.maximum(second[~same], 1e-18),
    "o",
    color="C1",
    ms=5,
    label="support changes",
)
ax.set_xlabel("target price $p_s$ (USD / 1M tokens)")
ax.set_ylabel("|second difference of $F_s$| / max $F_s$")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Within a piece the second differences are at round-off level (at most
# {glue:text}`sp_second_within:.1e` of the largest load), across a support change up to
# {glue:text}`sp_second_across:.1e`. The pieces, each with its affine load and the vertex of its
# parabola, $-a_k/(2 b_k)$ (the piece's own maximiser when it lies inside the piece):

# %%
edges = np.concatenate([[0], changes + 1, [n_grid]])
rows = []
for lo, hi in itertools.pairwise(edges):
    if hi - lo < 2:
        continue
    slope = (load[hi - 1] - load[lo]) / (prices[hi - 1] - prices[lo])
    intercept = load[lo] - slope * prices[lo]
    users = int(supports[lo][:, s].sum())
    vertex = -intercept / (2 * slope) if slope < 0 else float("nan")
    inside = prices[lo] <= vertex <= prices[hi - 1]
    rows.append((prices[lo], prices[hi - 1], users, intercept, slope, vertex, inside))
print(" piece: prices (USD/1M)   users of s   a_k (tokens)   b_k (tokens per USD/1M)   vertex")
for lo_p, hi_p, users, a, b, v, inside in rows:
    mark = "inside" if inside else ""
    print(f"  [{lo_p:7.4f}, {hi_p:7.4f}]  {users:10d}   {a:12.4e}   {b:22.4e}   {v:8.4f} {mark}")

# %% [markdown]
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
two_prefs = Preferences(w_q=2.9, w_d=2.0, b=[0.0, 0.0], provider_ids=duo_ids)
two_prices = np.linspace(0.0, vanishing_price(two, two_prefs, 0), n_grid)
previous = None
two_profit, two_users = [], []
for p in two_prices:
    previous = solve_equilibrium(two.with_price("target", p), two_prefs, warm_start=previous)
    two_profit.append(previous.revenue("target"))
    two_users.append(int(previous.support[:, 0].sum()))
two_profit = np.array(two_profit)
peaks = [
    k
    for k in range(1, n_grid - 1)
    if two_profit[k] > two_profit[k - 1] and two_profit[k] >= two_profit[k + 1]
]
for k in peaks:
    print(
        f"local maximum near p = {two_prices[k]:.3f}: profit {two_profit[k]:,.1f} USD/day, "
        f"{two_users[k]} app(s) use the target"
    )
glue("sp_n_peaks", len(peaks), display=False)
glue("sp_low_peak", float(two_prices[peaks[0]]), display=False)
glue("sp_high_peak", float(two_prices[peaks[-1]]), display=False)

fig, ax = plt.subplots()
ax.plot(two_prices, two_profit, color="C0")
ax.plot(two_prices[peaks], two_profit[peaks], "o", color="C3", label="local maxima")
ax.set_xlabel("target price $p_s$ (USD / 1M tokens)")
ax.set_ylabel("profit (USD / day)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The profit has {glue:text}`sp_n_peaks` local maxima, near {glue:text}`sp_low_peak:.2f` and
# {glue:text}`sp_high_peak:.2f` USD per million tokens. A local method started at a low price
# climbs to the first and stops there, although the second is higher. This is what makes
# Problem 1 hard in general, and what a global method must handle: a grid (below), or the exact
# method of the next chapter, which follows the pieces one after the other.
#
# ## A first optimal price: a dense grid
#
# The simplest global method evaluates the profit on a dense grid and keeps the best point. On
# our grid:

# %%
p_grid, psi_grid = float(prices[best]), float(profit[best])
print(f"best grid price {p_grid:.4f} USD / 1M tokens, profit {psi_grid:,.2f} USD / day")
print(f"vs. the list price {market.price[s]:.3f}: profit {base.revenue(s):,.2f} USD / day")
glue("sp_grid_price", p_grid, display=False)
glue("sp_grid_profit", psi_grid, display=False)
glue(
    "sp_gain",
    float(psi_grid / base.revenue(s) - 1.0) if base.revenue(s) > 0 else float("nan"),
    display=False,
)

# %% [markdown]
# The grid optimum, {glue:text}`sp_grid_price:.4f` USD per million tokens, earns
# {glue:text}`sp_grid_profit:,.0f` USD per day, {glue:text}`sp_gain:.1%` more than the list
# price {glue:text}`sp_list_price:.3f` in this synthetic market.
#
# How good is a grid of $N$ points? With spacing $h$, if the optimum lies inside a piece with
# curvature $2|b_k|$, the best grid point loses at most $|b_k| (h/2)^2$: the error falls like
# $1/N^2$ until the grid resolves the pieces. We compare with the exact global optimum that the
# next chapter's path-following method computes (`prillm.pricing.optimal_price`):

# %%
exact = optimal_price(market, prefs, s, method="exact", p_max=p_max)
print(f"exact optimum: price {exact.price:.6f}, profit {exact.profit:,.4f} USD / day")
sizes = [10, 20, 50, 100, 200, 500] + ([1000, 2000] if not quick else [])
gaps = []
for n_points in sizes:
    grid = np.linspace(0.0, p_max, n_points)
    previous = None
    values = []
    for p in grid:
        previous = solve_equilibrium(market.with_price(s, p), prefs, warm_start=previous)
        values.append(previous.revenue(s))
    gaps.append(1.0 - max(values) / exact.profit)
for n_points, gap in zip(sizes, gaps, strict=True):
    print(f"  N = {n_points:5d}: profit gap {gap:.2e}")
glue("sp_exact_price", float(exact.price), display=False)
glue("sp_exact_gap", float(1.0 - psi_grid / exact.profit), display=False)

fig, ax = plt.subplots()
ax.loglog(sizes, np.maximum(gaps, 1e-16), "o-", label="dense grid")
ax.loglog(
    sizes,
    gaps[0] * (sizes[0] / np.array(sizes, dtype=float)) ** 2,
    "--",
    color="grey",
    label="$\\propto 1/N^2$",
)
ax.set_xlabel("grid points $N$")
ax.set_ylabel("relative profit gap to the exact optimum")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# With {glue:text}`sp_n_grid` points the grid is within {glue:text}`sp_exact_gap:.1e` of the
# exact optimum {glue:text}`sp_exact_price:.4f`. A grid is simple and robust, but its cost grows
# with the accuracy asked for and with the market size (every point is an equilibrium), and it
# certifies nothing between its points; the next chapter compares it with the exact path method
# and with the paper's methods.
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
# With one user, $F_j = f_j$ and the marginal costs are $c_j + 2 k_j f_j$ (Eq. 12). Both used
# means they are equal: $c_s + 2 k_s f_s = c_r + 2 k_r (D - f_s)$, so
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
duo_prefs = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 1.5], provider_ids=["s", "r"])
w_p, w_q, w_d, b = duo_prefs.values_for(duo)
k = w_q / duo.capacity
e_s = w_d * duo.latency[0, 0] - b[0]
c_r = w_p * duo.price[1] + w_d * duo.latency[0, 1] - b[1]
big_a = c_r - e_s + 2 * k[1] * duo.demand[0]
p_star = big_a / (2 * w_p)
f_star = big_a / (4 * (k[0] + k[1]))
print(
    f"closed form: p* = {p_star:.6f} USD / 1M tokens, f_s = {f_star:.4e} of D = {duo.demand[0]:.1e}"
)
duo_grid = np.linspace(0.0, 2 * p_star, 2001)
duo_profit = [solve_equilibrium(duo.with_price("s", p), duo_prefs).revenue("s") for p in duo_grid]
print(f"grid:        p* = {duo_grid[int(np.argmax(duo_profit))]:.6f} (grid step {duo_grid[1]:.1e})")

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} The load never increases with the price
# :label: ex-sp-monotone
#
# Let $\mathcal F = \mathcal F^*(p)$ and $\mathcal F' = \mathcal F^*(p')$ with $p < p'$. Using
# only the optimality of each for its own potential (Eq. 13) and the convexity of $\Phi$, show
# that $F'_s \le F_s$.
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
# $\big(\nabla\Phi_p(\mathcal F) - \nabla\Phi_p(\mathcal F')\big)\cdot(\mathcal F' - \mathcal F)
# - w_p (p'-p)(F'_s - F_s) \ge 0$. The first term is $\le 0$ because the gradient of a convex
# function is monotone; hence $w_p (p' - p)(F'_s - F_s) \le 0$, i.e. $F'_s \le F_s$.
# ```
