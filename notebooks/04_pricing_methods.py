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
# # Solving the Stackelberg pricing problem
#
# The previous chapter drew the target provider's profit as a function of its price and found
# a first optimum on a dense grid. This chapter treats Problem 1 of the paper
# {cite}`prillm2026` as the optimisation problem it is — a mathematical program with
# equilibrium constraints (MPEC) — and solves it with every method the paper compares, plus an
# exact one that follows the equilibrium along the price axis. All of them are behind one call,
# `prillm.pricing.optimal_price(market, prefs, target, method=...)`, and every profit below is
# evaluated in the true game (an exact equilibrium at the returned price), whatever model the
# method used internally.

# %% tags=["parameters"]
quick = True

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from myst_nb import glue

from prillm import Market, Preferences, solve_equilibrium
from prillm.experiments import compare_pricing_methods, summarise_pricing
from prillm.pricing import METHODS, optimal_price, vanishing_price
from prillm.pricing.bf import n_branches

plt.rcParams.update({"figure.dpi": 100, "svg.hashsalt": "prillm", "figure.figsize": (7, 3.6)})
rng = np.random.default_rng(0)

# Quick mode: small markets and fast methods; full mode: the benchmark's sizes.
compare_sizes = [(4, 4), (8, 8)] if quick else [(8, 8), (20, 20), (50, 50)]
n_markets = 3 if quick else 5
grid_points = 1000 if quick else 10_000
print(f"comparison sizes {compare_sizes}, {n_markets} markets each, grid of {grid_points} prices")


# %% [markdown]
# ## The MPEC
#
# With $c_{ij}(p_s) = w_p p_j + w_d d_{ij} - b_j$ (only column $s$ depends on $p_s$) and
# $k_j = w_q / \alpha_j$, the user-side equilibrium is characterised by its KKT conditions
# (Eq. 14-17). Substituting them for the constraint "the users are at equilibrium" turns
# Problem 1 into a single-level program.
#
# ```{prf:definition} The pricing MPEC
# :label: def-pricing-mpec
#
# $$
# \begin{aligned}
# \max_{p_s,\, f,\, \lambda} \quad & (p_s - c_s) \sum_i f_{is} \\
# \text{s.t.} \quad & \textstyle\sum_j f_{ij} = D_i, \\
# & 0 \le f_{ij} \;\perp\; \mu_{ij} := c_{ij}(p_s) + k_j (F_j + f_{ij}) - \lambda_i \ge 0, \\
# & p^{\min} \le p_s \le p^{\max},
# \end{aligned}
# $$ (pm-mpec)
#
# where $\perp$ means that at least one of the two is zero, $F_j = \sum_i f_{ij}$ and $c_s$ is the
# target's marginal cost per million tokens (zero in the paper).
# ```
#
# Why is this hard? The feasible set of {eq}`pm-mpec` is a union of $(2^m-1)^n$ polyhedral
# pieces, one per *support* (which routes carry flow), glued along their boundaries; it is not
# convex and no constraint qualification holds at its feasible points, so the standard
# convergence theory of nonlinear solvers does not apply {cite}`nocedal2006`. Bilevel programs
# are NP-hard already when both levels are linear, and the objective here is bilinear. General
# methods either enumerate pieces (exponential), relax the complementarity (approximate,
# local), or simplify the followers' model {cite}`harks2021stackelberg`.
#
# This model has structure that the general methods ignore: there is a single scalar decision
# $p_s$, and the lower level is a strictly convex QP whose linear term is affine in $p_s$.
#
# ```{prf:theorem} The profit is continuous and piecewise quadratic
# :label: thm-pm-pieces
#
# $[p^{\min}, p^{\max}]$ splits into finitely many intervals on each of which the equilibrium's
# support is constant and its flows, multipliers and loads are affine in $p_s$. The profit
# $(p_s - c_s) F^*_s(p_s)$ is continuous, and a quadratic on each interval.
# ```
#
# ```{prf:proof}
# For a fixed support the KKT conditions are a non-singular linear system whose right-hand side
# is affine in $c$, hence in $p_s$ ({doc}`02_user_game`). The support is constant on the set of
# prices where its solution satisfies $f \ge 0$ on the support and $\mu \ge 0$ off it: finitely
# many affine inequalities, an interval. The equilibrium is unique for every $p_s$, so the
# intervals of the finitely many supports cover the price range, and it is continuous in $p_s$
# (the minimiser of a strictly convex QP depends continuously on its linear term).
# ```
#
# The **exact** method of `prillm` follows these pieces one after the other: at each price it
# knows the support, one Cholesky factor gives both the equilibrium and its derivative in
# $p_s$, a ratio test gives the next price at which a used route's flow or an unused route's
# reduced cost reaches zero, and the support is updated *at* that price. When several events
# coincide (identical users or providers) the next support is chosen by solving the small QP of
# the directional derivative on the critical cone, so ties cost nothing in exactness. On each
# piece the profit's maximum is a closed form; the best over all pieces is the global optimum,
# and the list of breakpoints is its certificate.
#
# ## A small worked example
#
# Three users and three providers; the target is provider `p0`.


# %%
def small_market() -> tuple[Market, Preferences]:
    """Three apps, three providers (data for the example, not an algorithm)."""
    market = Market(
        demand=[4e8, 2.5e8, 1e8],
        price=[2.0, 1.2, 0.6],
        capacity=[3e8, 2.5e8, 1.5e8],
        latency=[[0.6, 0.9, 1.4], [0.8, 0.5, 1.1], [1.2, 1.0, 0.4]],
        provider_ids=["p0", "p1", "p2"],
        user_ids=["coder", "chat", "translate"],
    )
    prefs = Preferences(w_q=2.0, w_d=1.0, b=[3.0, 1.5, 0.5])
    return market, prefs


market, prefs = small_market()
p_max = vanishing_price(market, prefs, "p0")
ex = optimal_price(market, prefs, "p0")
print(f"p_max (the price at which p0's load vanishes): {p_max:.4f} USD / 1M tokens")
print(f"exact optimum: price {ex.price:.6f}, profit {ex.profit:,.4f} USD / day")
print(f"{ex.diagnostics['n_breakpoints']} breakpoints, time {ex.wall_time * 1e3:.2f} ms")
for bp in ex.diagnostics["breakpoints"]:
    into = ", ".join(f"{u}->{p}" for u, p in bp["entered"]) or "-"
    out = ", ".join(f"{u}->{p}" for u, p in bp["left"]) or "-"
    print(f"  p = {bp['price']:.6f}: routes entering {into}; leaving {out}")
glue("pm_small_price", ex.price, display=False)
glue("pm_small_profit", ex.profit, display=False)
glue("pm_small_bps", ex.diagnostics["n_breakpoints"], display=False)

# %% [markdown]
# The path, drawn over the profit curve evaluated independently on a fine grid of exact
# equilibria: each piece is the quadratic that the path computed, and the breakpoints are where
# a user starts or stops using a provider.

# %%
prices = np.linspace(0.0, ex.p_max, 600)
curve = [p * solve_equilibrium(market.with_price("p0", p), prefs).loads[0] / 1e6 for p in prices]
fig, ax = plt.subplots()
ax.plot(prices, curve, color="lightgrey", lw=6, label="profit (grid of equilibria)")
for k, (a, b, load_a, slope) in enumerate(ex.diagnostics["pieces"]):
    xs = np.linspace(a, b, 50)
    ax.plot(xs, xs * (load_a + (xs - a) * slope) / 1e6, color=f"C{k % 10}", lw=1.5)
for bp in ex.diagnostics["breakpoints"]:
    ax.axvline(bp["price"], color="grey", ls=":", lw=0.8)
ax.plot(ex.price, ex.profit, "*", color="C3", ms=12, label="exact optimum")
ax.set_xlabel("price of p0 (USD / 1M tokens)")
ax.set_ylabel("profit (USD / day)")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The methods on the same example
#
# * **grid** — {glue:text}`pm_grid_points` equally spaced prices, each a warm-started exact
#   equilibrium, then golden-section refinement around the best point.
# * **bf** — the paper's brute force: every support ({glue:text}`pm_small_branches` of them
#   here) gives an affine equilibrium, valid on an interval of prices; maximise the quadratic
#   profit on each interval. Exact, but exponential.
# * **spiter** — SPITER {cite}`jin2024spiter`, the paper's default solver: split the price range
#   into ordered segments; in each, alternate between solving the equilibrium and maximising the
#   profit with the support fixed until the price stops moving (a local maximum); keep the best
#   segment. The paper's text gives only this outline; the module documents our reading of it.
# * **pmpec** — the MPEC {eq}`pm-mpec` in Pyomo {cite}`hart2017pyomo`, transformed by
#   `mpec.simple_nonlinear` ($f\mu \le \varepsilon$, $\varepsilon = 10^{-2} \to 10^{-8}$) and
#   solved by an interior-point NLP solver (ripopt). Local, and it may fail: its status is
#   reported.
# * **smooth** — the complementarity replaced by the smoothed Fischer-Burmeister equation
#   $f + \mu - \sqrt{f^2 + \mu^2 + 2\varepsilon^2} = 0$, $\varepsilon = 10^{-2} \to 10^{-4}$,
#   as in Wu et al. {cite}`wu2021revenue`, same solver.
# * **odca** and **spgce** — models that ignore the interaction between users: each user
#   best-responds to the others' flows frozen at today's equilibrium (after Chen et al.
#   {cite}`chen2020stackelberg`),
#   or all users are merged into one homogeneous population in Wardrop equilibrium
#   {cite}`harks2021stackelberg`. Their price is then evaluated in the true game.
# * **scip** — the same MPEC solved to global optimality by SCIP's spatial branch and bound:
#   the ground truth for small markets.

# %%
glue("pm_grid_points", grid_points, display=False)
glue("pm_small_branches", n_branches(3, 3), display=False)
options = {"grid": {"n_points": grid_points}}
print(f"{'method':>7} {'price':>10} {'profit USD':>12} {'ratio':>9} {'time ms':>9}  status")
small_rows = {}
for method in METHODS:
    res = optimal_price(market, prefs, "p0", method=method, **options.get(method, {}))
    status = res.diagnostics.get("success", "")
    small_rows[method] = res
    print(
        f"{method:>7} {res.price:10.5f} {res.profit:12.4f} {res.profit / ex.profit:9.6f} "
        f"{res.wall_time * 1e3:9.2f}  {status}"
    )
glue("pm_small_scip_gap", abs(small_rows["scip"].profit / ex.profit - 1.0), display=False)
glue("pm_small_bf_gap", abs(small_rows["bf"].profit / ex.profit - 1.0), display=False)

# %% [markdown]
# The brute force and SCIP confirm the exact optimum (relative differences
# {glue:text}`pm_small_bf_gap:.1e` and {glue:text}`pm_small_scip_gap:.1e`). The models that
# ignore user interaction price differently, and the true game charges them for it.
#
# ## A degenerate path: identical rivals
#
# Two identical rivals and two identical users: when the target's price reaches the rivals'
# cost, four routes enter at the same price. A method that nudges the price past each event
# and re-solves would create spurious tiny pieces here, or miss a branch; the exact path
# applies all four events at one breakpoint, chosen by the critical-cone QP.

# %%
twins = Market(
    demand=[1e6, 1e6],
    price=[1.0, 5.0, 5.0],
    capacity=[1e6, 2e6, 2e6],
    latency=0.0,
    provider_ids=["t", "r1", "r2"],
)
twin_prefs = Preferences(w_q=1.0, w_d=0.0, b=0.0)
tw = optimal_price(twins, twin_prefs, "t")
tw_bf = optimal_price(twins, twin_prefs, "t", method="bf")
for bp in tw.diagnostics["breakpoints"]:
    print(f"p = {bp['price']:.6f}: entering {bp['entered']}, leaving {bp['left']}")
print(f"exact {tw.profit:.10f} USD, brute force {tw_bf.profit:.10f} USD")

# %% [markdown]
# ## A first comparison
#
# Random markets with binding congestion (capacities about half the fair share,
# `prillm.synthetic.random_market`), target provider 0. The brute force runs only where it can
# (here 3 x 3), and pMPEC and Smooth on a tiny 2 x 3 market only in this quick mode;
# `benchmarks/bench_pricing.py` runs the larger comparison. Ratios are profits in the true game
# over the exact optimum; the harness is `prillm.experiments.compare_pricing_methods`.

# %%
fast = ["exact", "grid", "spiter", "odca", "spgce"]
runs = [([(3, 3)], [*fast, "bf", "scip"]), ([(2, 3)], ["exact", "pmpec", "smooth"])]
records = []
for sizes, methods in [*runs, (compare_sizes, fast)]:
    records += compare_pricing_methods(
        sizes, methods, n_markets=n_markets, rng=rng, options=options
    )
summary = summarise_pricing(records)
display(pd.DataFrame(summary).set_index(["size", "method"]))
by = {(r["size"], r["method"]): r for r in summary}
last = f"{compare_sizes[-1][0]}x{compare_sizes[-1][1]}"
glue("pm_last_size", last, display=False)
glue("pm_speedup", by[(last, "grid")]["time_ms"] / by[(last, "exact")]["time_ms"], display=False)
glue("pm_spiter_min", by[(last, "spiter")]["ratio_min"], display=False)
glue("pm_odca_med", by[(last, "odca")]["ratio_median"], display=False)
glue("pm_spgce_med", by[(last, "spgce")]["ratio_median"], display=False)

# %% [markdown]
# At {glue:text}`pm_last_size` the exact path is {glue:text}`pm_speedup:.0f` times faster than
# the refined grid of {glue:text}`pm_grid_points` prices, and it is the only method with a
# certificate. SPITER's worst ratio there is {glue:text}`pm_spiter_min:.6f`; the models that
# ignore user interaction reach medians of {glue:text}`pm_odca_med:.4f` (decoupled users) and
# {glue:text}`pm_spgce_med:.4f` (one aggregate population) of the optimal profit.
#
# **Comparison with the paper.** The paper reports (Table 1) that its pipeline — game abstraction
# to $K = 2$ rivals, then SPITER — reaches more than 95 % of the brute-force optimum in less than
# 5 % of its time, and that it beats pMPEC and Smooth by 9.2 % and 14.3 % on average. Those
# numbers are measured on its own (unreleased) OpenRouter markets and include the abstraction
# step, so they are not reproduced here. What our numbers show instead is that for this game the
# brute force is not needed as a reference: the exact path gives the same optimum as the
# enumeration and as SCIP, at a cost comparable to a handful of equilibrium solves. Our pMPEC
# and Smooth, warm-started from today's equilibrium, come close to the optimum on small
# markets but are orders of magnitude slower and do not always report success.
#
# ## Exercises
#
# ```{exercise} The optimum on one piece
# :label: ex-pm-vertex
#
# On a piece $[a, b]$ the target's load is $F(p) = F_a + (p - a)\,\delta$ with $\delta < 0$.
# Show that the profit $(p - c)F(p)$ is maximised on $[a, b]$ at the projection of
# $p^\circ = \big(c\,\delta - F_a + a\,\delta\big)/(2\delta)$ onto $[a, b]$, and check it on the
# example's optimal piece.
# ```
#
# ```{solution-start} ex-pm-vertex
# :class: dropdown
# ```
#
# The profit is a concave parabola in $p$ ($\delta < 0$); its derivative
# $F_a + (p-a)\delta + (p - c)\delta$ vanishes at $p^\circ$. A concave function on an interval
# is maximised at the projection of its unconstrained maximiser.

# %%
a, b, load_a, slope = next(pc for pc in ex.diagnostics["pieces"] if pc[0] <= ex.price <= pc[1])
vertex = (0.0 * slope - load_a + a * slope) / (2 * slope)
print(f"piece [{a:.6f}, {b:.6f}], vertex {vertex:.6f}, projected {min(max(vertex, a), b):.6f}")
print(f"exact method's price {ex.price:.6f}")

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} How fast does the brute force grow?
# :label: ex-pm-branches
#
# Count the supports of an $n \times m$ market in which every user has positive demand, and
# estimate the brute force's time at $8 \times 8$ from its time at $3 \times 3$.
# ```
#
# ```{solution-start} ex-pm-branches
# :class: dropdown
# ```
#
# Each user uses a non-empty subset of the $m$ providers: $2^m - 1$ choices, independently, so
# $(2^m-1)^n$ supports. The brute force's time per support, measured at $3 \times 3$,
# extrapolates as follows, while the exact path visits only the supports that the equilibrium
# actually takes along the price axis:

# %%
t0 = time.perf_counter()
optimal_price(market, prefs, "p0", method="bf")
per_branch = (time.perf_counter() - t0) / n_branches(3, 3)
years = per_branch * n_branches(8, 8) / (3600 * 24 * 365)
print(f"3x3: {n_branches(3, 3)} supports, {per_branch * 1e6:.0f} microseconds each")
print(f"8x8: {n_branches(8, 8):.3e} supports, about {years:.1e} years of enumeration")
print(f"the exact path at {last}: a median of {by[(last, 'exact')]['breakpoints']} breakpoints")

# %% [markdown]
# ```{solution-end}
# ```
