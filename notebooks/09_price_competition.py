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
# # When every provider prices
#
# The paper prices one provider, the *target*, against rivals whose prices stay put
# (paper Problem 1, {doc}`03_stackelberg_pricing`), and names "multiple leaders" as future work
# {cite}`prillm2026`. A provider that asks "if I cut my price, how will the others answer?"
# needs exactly that: every provider sets its price, each one best-responding to the others,
# the users answering every price profile with their equilibrium.
#
# **This chapter** studies that game among leaders:
#
# 1. the game, its Nash equilibria and a certificate for them;
# 2. existence: what quasi-concave profits would guarantee, and why ours are not;
# 3. best-response dynamics, drawn as best-response maps on two-provider markets, converging
#    where the maps cross and cycling where one map jumps over the other;
# 4. how often best responses cycle on small random markets;
# 5. a single Stackelberg leader, competition and collusion side by side, and what each means
#    for the users' costs;
# 6. a price war on the shipped Economy segment.
#
# **What you need**: the user-side equilibrium ({doc}`02_user_game`), the piecewise-quadratic
# profit of {doc}`03_stackelberg_pricing` and the exact price path of {doc}`04_pricing_methods`:
# with it, each provider's best response is a certified global optimum, which is what makes the
# game computable. In quick mode the survey has fewer random markets and the best-response maps
# and grids are coarser; `make book-full` builds the chapter at full size.

# %% tags=["parameters", "remove-cell"]
quick = True

# %% tags=["remove-cell"]
# Book plumbing: the figure style and the table and figure helpers of notebooks/booktools.py.
from booktools import glue_figure, glue_table, setup_book
from myst_nb import glue

setup_book()

# %%
import textwrap
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from prillm import solve_equilibrium
from prillm.data import load_panel
from prillm.pricing.best_response import best_response, piece_profit
from prillm.pricing.competition import price_equilibrium
from prillm.pricing.game import make_game
from prillm.pricing.outcomes import best_response_map, compare_outcomes
from prillm.pricing.respond import respond_to
from prillm.synthetic import demo_market, plausible_market, random_market

# quick: fewer survey markets and coarser maps; full: the larger survey
n_survey = 8 if quick else 60
n_map = 120 if quick else 400
n_grid = 41 if quick else 121

# %% [markdown]
# ## The game among leaders
#
# A set $J$ of providers, the *players*, set their prices; player $j$ chooses $p_j$ in
# $[\underline p_j, \overline p_j]$ and has a marginal cost $c_j$ per million tokens. The other
# providers keep their prices. At any price profile $p$ the users play their unique equilibrium
# (paper Theorem 1), which gives player $j$ the load $F^*_j(p)$ and the profit
#
# $$
# \pi_j(p) = (p_j - c_j)\, F^*_j(p) / 10^6 \quad \text{USD}.
# $$ (pc-profit)
#
# ```{prf:definition} Price equilibrium
# :label: def-pc-nash
#
# A profile $p^*$ is a (pure) Nash equilibrium of the pricing game if no player gains by
# changing its own price: $\pi_j(p_j, p^*_{-j}) \le \pi_j(p^*)$ for every player $j$ and every
# admissible $p_j$. It is an $\varepsilon$-Nash equilibrium if no player gains more than
# $\varepsilon$:
#
# $$
# \varepsilon_j(p) = \max_{q} \pi_j(q, p_{-j}) - \pi_j(p) \le \varepsilon \quad
# \text{for every } j.
# $$ (pc-epsilon)
# ```
#
# With the others' prices fixed, $\pi_j$ as a function of $p_j$ is the profit of paper
# Problem 1 with $j$ as the target. Its maximum, the *best response*
# $\mathrm{BR}_j(p_{-j})$, is what the exact price path of {doc}`04_pricing_methods`
# computes, globally and with a certificate. So
# $\varepsilon_j(p)$ in {eq}`pc-epsilon` is computed, not estimated: every answer of
# `prillm.pricing.competition.price_equilibrium` carries it for every player, and the status
# `"converged"` is set from it alone.
#
# Two facts make the best responses cheap. The load $F^*_j$ never increases with $p_j$
# ({ref}`ex-sp-monotone`), so below $c_j + \pi_j(p)/F^*_j(\underline p_j)$ no price can beat the
# current one, and above any $P$ no price earns more than $(\overline p_j - c_j) F^*_j(P)$: the
# path is followed only where a better price can lie ({ref}`ex-pc-prune` proves it). And above
# the price at which $j$ loses its last user its profit is zero, so without a cap that price
# ends $j$'s range.
#
# ## Existence, and why it can fail
#
# ```{prf:theorem} Debreu, Glicksberg, Fan (1952)
# :label: thm-pc-dgf
#
# If every player's strategy set is non-empty, compact and convex, every payoff $\pi_j$ is
# continuous in $p$, and every $\pi_j$ is quasi-concave in the player's own strategy $p_j$, the
# game has a pure Nash equilibrium.
# ```
#
# This is the theorem of {cite}`debreu1952`, {cite}`glicksberg1952` and {cite}`fan1952`.
# *Proof idea*: quasi-concavity makes every best-response set an interval (convex), continuity
# makes the best-response correspondence closed (Berge's maximum theorem), and Kakutani's
# fixed-point theorem gives a profile that is a best response to itself. Our payoffs are
# continuous (the equilibrium is continuous in the prices, {doc}`03_stackelberg_pricing`) and
# the strategy sets are intervals (capped, for compactness, above every price at which a player
# still has users). What fails is quasi-concavity: {doc}`03_stackelberg_pricing` showed a profit
# with two local
# maxima, a low price that serves everyone and a high one that serves a loyal niche. Without it
# the best response can *jump* from one peak to the other as a rival's price crosses the point
# where the two peaks tie, and a jump can step over the other player's best-response map.
#
# Continuity alone still gives a *mixed* equilibrium (a probability distribution over prices
# for each player): that is Glicksberg's theorem {cite}`glicksberg1952`. Randomising prices is
# not what providers on a routing platform do, and `prillm` does not compute mixed equilibria;
# what it does is report, honestly, when best responses do not settle.
#
# ## Best-response dynamics
#
# `price_equilibrium` starts from the list prices and lets the players best-respond: in turn,
# each seeing the previous moves (Gauss-Seidel, the default), or all at once against the same
# prices (Jacobi), optionally moving only part of the way, $p_j \leftarrow p_j + \delta
# (\mathrm{BR}_j - p_j)$ (damping). It stops when every player's relative gain
# $\varepsilon_j / \pi_j$ is within `tol` at the returned prices (`"converged"`), when the prices
# return to an earlier round's (`"cycle"`), or after `max_rounds` (`"not_converged"`). A fourth
# status, `"not_certified"`, marks prices whose best responses could not all be proven global
# optima (a price path that failed its checks where a capacity dwarfs the demand, and whose
# repair from certified equilibria did not check out either): their epsilon is only a lower
# bound.
#
# On the three-provider market of the command line's demo:

# %%
market, prefs = demo_market()
res = price_equilibrium(market, prefs)
print(textwrap.fill(f"{res.status}: {res.reason}", 76))

# %% tags=["remove-cell"]
table = pd.DataFrame(
    {
        "list price": market.price,
        "equilibrium price": res.prices,
        "profit (USD/day)": res.profits,
        "share": res.equilibrium.shares,
        "epsilon (relative)": res.certificate.relative,
    },
    index=pd.Index(res.player_ids, name="provider"),
)
glue_table(
    "tbl-pc-demo",
    table,
    caption="The price equilibrium of the demo market (three providers, four apps), reached "
    "from the list prices by Gauss-Seidel best responses. The last column is each provider's "
    "$\\varepsilon_j / \\pi_j$: what it could still gain, relatively, by moving alone.",
    index=True,
    formats={
        "list price": ".3f",
        "equilibrium price": ".4f",
        "profit (USD/day)": ",.1f",
        "share": ".1%",
        "epsilon (relative)": ".1e",
    },
)
glue("pc_demo_rounds", res.n_rounds, display=False)
glue("pc_demo_eps", float(res.epsilon_relative), display=False)

# %% [markdown]
# ```{glue:md} tbl-pc-demo
# :format: myst
# ```
#
# The dynamics converged in {glue:text}`pc_demo_rounds` rounds, to a profile where no provider
# can gain more than a fraction {glue:text}`pc_demo_eps:.1e` of its profit. Every equilibrium
# price is above the list price: demand is inelastic in this model (every app routes all its
# tokens somewhere), so only congestion and the rivals' prices hold prices down.
#
# ### The best-response map of a duopoly
#
# With two players the whole game fits in one picture. Hold the premium provider at its list
# price and let the two others play: each one's best response to the other's price is a curve
# in the $(p_1, p_2)$ plane, and a pure equilibrium is a point where the curves cross.

# %%
duo = make_game(market, prefs, ["mid-llm", "budget-llm"])
duo_res = price_equilibrium(market, prefs, ["mid-llm", "budget-llm"])
grid_mid = np.linspace(0.3, 4.0, n_map)
grid_budget = np.linspace(0.1, 3.0, n_map)
br_budget = best_response_map(duo, "budget-llm", "mid-llm", grid_mid)
br_mid = best_response_map(duo, "mid-llm", "budget-llm", grid_budget)
print(duo_res.status, duo_res.prices.round(4))
print("rounds:", duo_res.n_rounds)
jumps = int(br_budget.jumps.sum()), int(br_mid.jumps.sum())
print("jumps in the maps:", *jumps)

# %% tags=["remove-cell"]
glue("pc_duo_mid", float(duo_res.prices[0]), display=False)
glue("pc_duo_budget", float(duo_res.prices[1]), display=False)


# %% tags=["remove-cell"]
def draw_maps(ax, map_x, map_y, history, names, start="list prices"):
    """Best-response maps (x's response to y, y's response to x) and a Gauss-Seidel orbit."""
    for m, style, label in ((map_x, "C0", names[0]), (map_y, "C1", names[1])):
        xs, ys = (m.prices, m.grid) if m is map_x else (m.grid, m.prices)
        breaks = np.flatnonzero(m.jumps)
        for seg in np.split(np.arange(len(xs)), breaks):
            ax.plot(xs[seg], ys[seg], color=style, lw=1.8)
        ax.plot([], [], color=style, lw=1.8, label=f"best response of {label}")
    stairs_x, stairs_y = [history[0, 0]], [history[0, 1]]
    for row in history[1:]:
        stairs_x += [row[0], row[0]]
        stairs_y += [stairs_y[-1], row[1]]
    ax.plot(stairs_x, stairs_y, color="grey", lw=0.8, ls="--", label="best responses in turn")
    ax.plot(*history[0], "s", color="grey", ms=5, label=start)
    ax.set_xlabel(f"price of {names[0]} (USD / 1M tokens)")
    ax.set_ylabel(f"price of {names[1]} (USD / 1M tokens)")


fig, ax = plt.subplots(figsize=(7, 4.8))
draw_maps(ax, br_mid, br_budget, duo_res.history, ("mid-llm", "budget-llm"))
ax.plot(*duo_res.prices, "o", color="C3", ms=7, label="price equilibrium")
ax.legend(loc="upper left")
glue_figure("fig-pc-duo-maps", fig)

# %% [markdown]
# ```{glue:figure} fig-pc-duo-maps
# ---
# name: fig-pc-duo-maps
# alt: >-
#   Two increasing best-response curves in the plane of the two prices, crossing once; a
#   dashed staircase of best responses runs from the list prices to the crossing.
# ---
# Best-response maps of mid-llm and budget-llm (premium-llm held at its list price), each
# computed exactly at every point. They cross once: the price equilibrium (red). The dashed
# staircase is the Gauss-Seidel dynamics from the list prices (square), one best response at a
# time; it spirals into the crossing because each map is flatter than the other is steep.
# ```
#
# Both maps rise: a provider answers a rival's higher price with a higher price of its own
# (prices are *strategic complements* here), and each map is much flatter than the diagonal, so
# best responses contract towards the crossing at mid-llm {glue:text}`pc_duo_mid:.3f` and
# budget-llm {glue:text}`pc_duo_budget:.3f` USD per million tokens.
#
# ### A duopoly without a pure equilibrium
#
# A search over random two-provider markets (`prillm.synthetic.random_market`, seeds 0-299)
# finds markets where best responses never settle. The first one with two apps:

# %%
rng = np.random.default_rng(101)
cyc_market, cyc_prefs = random_market(rng, int(rng.integers(2, 5)), 2)
cyc = price_equilibrium(cyc_market, cyc_prefs)
print(textwrap.fill(f"{cyc.status}: {cyc.reason}", 76))

# %% tags=["remove-cell"]
orbit = pd.DataFrame(
    cyc.cycle.prices,
    columns=cyc.player_ids,
    index=pd.Index(
        range(cyc.cycle.first_round, cyc.cycle.first_round + cyc.cycle.period), name="round"
    ),
)
glue_table(
    "tbl-pc-orbit",
    orbit,
    caption="The periodic orbit of Gauss-Seidel best responses on the cycling duopoly: the "
    "players' prices (USD per million tokens) at the start of each round of one period.",
    index=True,
    formats=dict.fromkeys(orbit.columns, ".4f"),
)
glue("pc_cyc_eps", float(cyc.epsilon_relative), display=False)
glue("pc_cyc_period", cyc.cycle.period, display=False)
glue("pc_cyc_first", cyc.cycle.first_round, display=False)
glue("pc_cyc_kind", cyc.cycle.kind, display=False)

# %% [markdown]
# ```{glue:md} tbl-pc-orbit
# :format: myst
# ```
#
# From round {glue:text}`pc_cyc_first` on, the prices repeat with period
# {glue:text}`pc_cyc_period`. The result says so (status `"cycle"`, kind
# {glue:text}`pc_cyc_kind`) and keeps the certificate of the returned prices: a player there can
# still gain a fraction {glue:text}`pc_cyc_eps:.3f` of its profit, so they are not an
# equilibrium and are not labelled as one. The maps show why:

# %%
lo, hi = 0.8 * cyc.history.min(), 1.3 * cyc.history.max()
cgame = cyc.game
cmap_0 = best_response_map(cgame, 0, 1, np.linspace(lo, hi, n_map))
cmap_1 = best_response_map(cgame, 1, 0, np.linspace(lo, hi, n_map))
k = int(np.flatnonzero(cmap_0.jumps)[0])
jump_at = 0.5 * (cmap_0.grid[k - 1] + cmap_0.grid[k])
jump = (cmap_0.prices[k - 1], cmap_0.prices[k])
print(f"p0's best response jumps from {jump[0]:.3f} to {jump[1]:.3f}")
print(f"as p1 crosses {jump_at:.3f}")

# %% tags=["remove-cell"]
glue("pc_jump_at", float(jump_at), display=False)
glue("pc_jump_from", float(cmap_0.prices[k - 1]), display=False)
glue("pc_jump_to", float(cmap_0.prices[k]), display=False)

# %% tags=["remove-cell"]
profile = np.array([cyc.cycle.prices[0, 0], jump_at])
curve = best_response(cgame, profile, 0, prune=False)
xs = np.linspace(curve.pieces[0][0], curve.pieces[-1][1], 800)
ys = [piece_profit(curve.pieces, x, 0.0) for x in xs]
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 7.2), sharex=True)
recent = cyc.history[max(cyc.cycle.first_round - 6, 0) :]
draw_maps(ax1, cmap_0, cmap_1, recent, ("p0", "p1"), start="six rounds before the cycle")
ax1.legend(loc="upper left")
ax1.set_xlabel("")  # the price axis is shared with (b)
ax1.set_title("(a) best-response maps", loc="left")
ax2.plot(xs, np.array(ys) / 1e3, color="C0")
for p, v in curve.peaks:
    ax2.plot(p, v / 1e3, "o", color="C3")
ax2.set_xlabel("price of p0 (USD / 1M tokens)")
ax2.set_ylabel("profit of p0 (thousand USD / day)")
ax2.set_title(f"(b) p0's profit when p1 = {jump_at:.3f}", loc="left")
glue_figure("fig-pc-cycle", fig)

# %% [markdown]
# ```{glue:figure} fig-pc-cycle
# ---
# name: fig-pc-cycle
# alt: >-
#   Two panels sharing the price axis of p0. Top, two best-response curves that do not cross:
#   one has a gap where it jumps over the other; a dashed loop of best responses circles the
#   gap. Bottom, a profit curve with two peaks of almost equal height.
# ---
# (a) The best-response maps of the cycling duopoly. The map of p0 (blue) jumps as p1 crosses
# the price where p0's two local maxima tie, and the jump steps over p1's map (orange): the
# maps never cross, and Gauss-Seidel best responses (dashed, the last rounds) circle the gap
# forever. (b) p0's profit at that price of p1, with its two peaks (red): a low price that
# serves both apps and a high one that serves the app close to it.
# ```
#
# As p1 crosses {glue:text}`pc_jump_at:.3f`, p0's best response jumps from
# {glue:text}`pc_jump_from:.3f` to {glue:text}`pc_jump_to:.3f`. Below the jump p0 prices high
# and serves its loyal app, so p1 can raise its price; above it p0 undercuts to win both apps,
# p1 answers by cutting, which sends p0 back up. This is the mechanism of Edgeworth's price
# cycles {cite}`edgeworth1925,maskin1988`, here coming from the two-peaked profit of a
# congestion game rather than from capacity limits. Is there really no crossing? The map
# $p_1 \mapsto \mathrm{BR}_1(\mathrm{BR}_0(p_1)) - p_1$ vanishes exactly at pure equilibria:

# %%
p1s = np.linspace(cmap_1.prices.min(), cmap_1.prices.max(), n_map)
gap = []
for p1 in p1s:
    at = np.array([cyc.prices[0], p1])
    b0 = best_response(cgame, at, 0, prune=False).price
    b1 = best_response(cgame, np.array([b0, p1]), 1, prune=False).price
    gap.append(b1 - p1)
gap = np.array(gap)
changes = np.flatnonzero(np.diff(np.sign(gap)))

# %% tags=["remove-cell"]
c0 = changes[0]
glue("pc_gap_min", float(min(abs(gap[c0]), abs(gap[c0 + 1]))), display=False)
glue("pc_gap_n", len(changes), display=False)
glue("pc_gap_n_map", n_map, display=False)
glue("pc_gap_lo", float(p1s[c0]), display=False)
glue("pc_gap_hi", float(p1s[c0 + 1]), display=False)

# %% [markdown]
# Every pure equilibrium has its $p_1$ in the range of $\mathrm{BR}_1$, which this grid of
# {glue:text}`pc_gap_n_map` prices covers; on it the map changes sign
# {glue:text}`pc_gap_n` time(s), first between {glue:text}`pc_gap_lo:.4f` and
# {glue:text}`pc_gap_hi:.4f`, at the jump, where it steps from one side of zero to the
# other by at least {glue:text}`pc_gap_min:.3f` USD per million tokens. That is strong numerical
# evidence, not a proof (a proof would bound the map between grid points), that this duopoly has
# no pure equilibrium: Glicksberg's theorem still gives it a mixed one.
#
# ## How often best responses cycle
#
# The same experiment on random markets of 3-5 apps and 3-5 providers, Gauss-Seidel from the
# list prices, at most 150 rounds, and the same markets with Jacobi steps and with damping
# $\delta = 0.5$; then OpenRouter-like markets (`plausible_market`):


# %%
def survey(gen, n_markets, **options):
    """price_equilibrium's outcome on random small markets."""
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(n_markets):
        mk, pr = gen(rng, int(rng.integers(3, 6)), int(rng.integers(3, 6)))
        r = price_equilibrium(mk, pr, max_rounds=150, **options)
        kind = f"{r.cycle.kind}, period {r.cycle.period}" if r.cycle else ""
        rows.append(
            {"status": r.status, "rounds": r.n_rounds, "cycle": kind}
        )
    return pd.DataFrame(rows)


variants = {
    "random, Gauss-Seidel": survey(random_market, n_survey),
    "random, Jacobi": survey(random_market, n_survey, method="jacobi"),
    "random, damping 0.5": survey(random_market, n_survey, damping=0.5),
    "OpenRouter-like, Gauss-Seidel": survey(plausible_market, n_survey),
}

# %% tags=["remove-cell"]
summary = pd.DataFrame(
    {
        name: {
            "markets": len(df),
            "converged": int((df.status == "converged").sum()),
            "cycle": int((df.status == "cycle").sum()),
            "not converged": int((df.status == "not_converged").sum()),
            "rounds to converge (median)": df.rounds[df.status == "converged"].median(),
            "cycles seen": "; ".join(sorted(set(df.cycle[df.cycle != ""]))) or "-",
        }
        for name, df in variants.items()
    }
).T
glue_table(
    "tbl-pc-survey",
    summary.reset_index(names="dynamics"),
    caption="Best-response dynamics on random small markets (3-5 apps x 3-5 providers, seed "
    "0), from the list prices. A cycle is a return to an earlier round's prices; its kind is "
    "jump when some best response in the orbit jumps from one local maximum of the mover's "
    "profit to another.",
    formats={"rounds to converge (median)": ".0f"},
)
gs = variants["random, Gauss-Seidel"]
glue("pc_survey_n", len(gs), display=False)
glue("pc_survey_conv", int((gs.status == "converged").sum()), display=False)
glue("pc_survey_cycle", int((gs.status == "cycle").sum()), display=False)
cycles = {name: int((df.status == "cycle").sum()) for name, df in variants.items()}
random_cycles = [cycles[n] for n in variants if n.startswith("random")]
glue(
    "pc_survey_variants",
    "Jacobi steps and damping change the period of the cycles, not whether they happen"
    if len(set(random_cycles)) == 1
    else "Jacobi steps and damping change how many markets cycle ("
    + ", ".join(f"{n}: {c}" for n, c in cycles.items() if n.startswith("random"))
    + "), but none removes the cycles",
    display=False,
)
kinds = {k for df in variants.values() for k in df.cycle[df.cycle != ""]}
glue(
    "pc_survey_kinds",
    "Every cycle seen involves a jump between local maxima"
    if kinds and all(k.startswith("jump") for k in kinds)
    else "The cycles seen are of the kinds listed in the table",
    display=False,
)
glue(
    "pc_survey_plaus",
    int((variants["OpenRouter-like, Gauss-Seidel"].status == "cycle").sum()),
    display=False,
)

# %% [markdown]
# ```{glue:md} tbl-pc-survey
# :format: myst
# ```
#
# Of {glue:text}`pc_survey_n` random markets (this build's size; full mode surveys more),
# {glue:text}`pc_survey_conv` converged and {glue:text}`pc_survey_cycle` cycled under
# Gauss-Seidel ({numref}`tbl-pc-survey`). {glue:text}`pc_survey_variants`: when a
# best-response map jumps over the other, no step size creates the missing crossing.
# {glue:text}`pc_survey_kinds`; on the OpenRouter-like
# markets, whose perceived values grow with the price, the count of cycles is
# {glue:text}`pc_survey_plaus`. Cycles are not a corner case of the model: a pricing tool for
# several providers has to detect them, and `prillm` does.
#
# ## One leader, competition, collusion
#
# Three benchmarks for the same market, each with the users' bill:
#
# - a single **Stackelberg leader** (paper Problem 1): one provider optimises against
#   rivals held at their list prices;
# - **competition**: the price equilibrium, every player best-responding;
# - **collusion**: the players choose their prices together to maximise their joint profit.
#
# The joint profit along one price is piecewise quadratic (every load is affine on each piece
# of that price's path), so `prillm.pricing.collusion.collusive_prices` maximises it *exactly
# along one price at a time* (coordinate ascent). That proves a coordinate-wise optimum, no
# more: at a kink a move of two prices together can pay when neither alone does. On two players
# a dense grid over both prices checks it. One more caveat: if *every* provider colludes and no
# price is capped, the joint profit has no maximum (demand is inelastic, {ref}`ex-pc-cartel`),
# so here the cartel is mid-llm and budget-llm, premium-llm keeping its list price.

# %%
cmp = compare_outcomes(market, prefs, ["mid-llm", "budget-llm"])
players_df = pd.DataFrame(cmp.players_table()).set_index("provider")
scen_df = pd.DataFrame(cmp.scenarios_table()).set_index("scenario")
print(textwrap.fill(f"{cmp.collusion.status}: {cmp.collusion_note}", 76))

# %% tags=["remove-cell"]
scenario_names = {
    "list": "list prices",
    "stackelberg": "single leader",
    "equilibrium": "price equilibrium",
    "collusion": "collusion",
}
by_scenario = pd.DataFrame(
    {
        f"{who} {what}": [players_df.loc[who, f"{key}_{what}"] for key in scenario_names]
        for who in players_df.index
        for what in ("price", "profit")
    },
    index=pd.Index(list(scenario_names.values()), name="scenario"),
)
glue_table(
    "tbl-pc-cmp-players",
    by_scenario,
    caption="mid-llm and budget-llm on the demo market: prices (USD per million tokens) and "
    "profits (USD per day) at the list prices, each as a single Stackelberg leader against "
    "the other's list price, in the price equilibrium, and in collusion.",
    index=True,
    formats={c: ".3f" if c.endswith("price") else ",.0f" for c in by_scenario.columns},
)
glue_table(
    "tbl-pc-cmp-scenarios",
    scen_df.rename(columns=lambda c: c.replace("_", " ")),
    caption="The same market under each scenario: the two players' joint profit, the users' "
    "total cost of paper Eq. 1 (price, congestion and latency, minus the perceived value, in "
    "USD per day), what the users pay (USD per day), and the average price they pay per "
    "million tokens.",
    index=True,
    formats={
        "players profit": ",.0f",
        "users cost": ",.0f",
        "users payment": ",.0f",
        "mean price": ".3f",
    },
)
glue("pc_cartel_budget", float(players_df.loc["budget-llm", "collusion_profit"]), display=False)
glue("pc_eq_budget", float(players_df.loc["budget-llm", "equilibrium_profit"]), display=False)
glue("pc_lead_mid", float(players_df.loc["mid-llm", "stackelberg_price"]), display=False)
for key, row in (("list", "list prices"), ("eq", "price equilibrium"), ("cartel", "collusion")):
    glue(f"pc_cost_{key}", float(scen_df.loc[row, "users_cost"]), display=False)

# %% [markdown]
# ```{glue:md} tbl-pc-cmp-players
# :format: myst
# ```
#
# ```{glue:md} tbl-pc-cmp-scenarios
# :format: myst
# ```

# %% tags=["remove-cell"]
mids = np.linspace(0.5, 4.0, n_grid)
buds = np.linspace(0.1, 3.0, n_grid)
joint = np.empty((n_grid, n_grid))
prev = None
for a, pm in enumerate(mids):
    for b, pb in enumerate(buds):
        prev = solve_equilibrium(duo.at(np.array([pm, pb])), prefs, warm_start=prev)
        joint[b, a] = duo.profits(prev).sum()
best = np.unravel_index(np.argmax(joint), joint.shape)
glue("pc_grid_best", float(joint.max()), display=False)
glue("pc_cartel", float(cmp.collusion.joint_profit), display=False)
glue("pc_cartel_gap", float(cmp.collusion.joint_profit / joint.max() - 1.0), display=False)
fig, ax = plt.subplots(figsize=(7, 5.2))
cs = ax.contourf(mids, buds, joint / 1e3, levels=20, cmap="Greys", alpha=0.55)
fig.colorbar(cs, ax=ax, label="joint profit (thousand USD / day)")
ax.plot(br_mid.prices, br_mid.grid, color="C0", lw=1.5, label="best response of mid-llm")
ax.plot(
    br_budget.grid, br_budget.prices, color="C1", lw=1.5, label="best response of budget-llm"
)
ax.plot(*cmp.equilibrium.prices, "o", color="C3", ms=7, label="price equilibrium")
ax.plot(*cmp.collusion.prices, "*", color="C2", ms=12, label="collusion (coordinate ascent)")
ax.plot(mids[best[1]], buds[best[0]], "x", color="k", ms=8, label="best grid point")
ax.set_xlim(mids[0], mids[-1])
ax.set_ylim(buds[0], buds[-1])
ax.set_xlabel("price of mid-llm (USD / 1M tokens)")
ax.set_ylabel("price of budget-llm (USD / 1M tokens)")
ax.legend(loc="lower right")
glue_figure("fig-pc-joint", fig)

# %% [markdown]
# ```{glue:figure} fig-pc-joint
# ---
# name: fig-pc-joint
# alt: >-
#   Grey contours of the joint profit over the two prices, with the two best-response
#   curves crossing at the equilibrium, below and to the left of the collusive prices, which
#   coincide with the best grid point.
# ---
# Joint profit of mid-llm and budget-llm over their two prices (premium-llm at its list price),
# from a grid of exact equilibria; the best-response maps and the equilibrium at their crossing
# (red); the collusive prices found by exact coordinate ascent (green star) and the best grid
# point (black cross).
# ```
#
# The cartel earns {glue:text}`pc_cartel:,.0f` USD per day; the best point of the grid earns
# {glue:text}`pc_grid_best:,.0f` (relative difference {glue:text}`pc_cartel_gap:.1e`), so on this
# market the coordinate-wise optimum is also the grid's. Competition sits below and to the left
# of collusion: each provider, ignoring the custom it takes from the other when it raises its
# price, prices lower than the cartel would. The cartel's gain is not shared evenly: in
# collusion budget-llm earns {glue:text}`pc_cartel_budget:,.0f` USD per day against
# {glue:text}`pc_eq_budget:,.0f` in the equilibrium, so it would join only with a side payment.
#
# The single Stackelberg leader of the paper prices *below* its equilibrium price (mid-llm
# {glue:text}`pc_lead_mid:.3f` against {glue:text}`pc_duo_mid:.3f` USD per million tokens):
# it optimises against its rival's list price, and that rival, once it prices too, raises its
# price, to which the leader answers by raising its own. Both providers earn more in the
# equilibrium than either does as the lone leader: paper Problem 1's price is the right answer to
# "what if only I move", not to "what if everyone does".
#
# For the users every scenario raises the bill over the list prices; their total cost of
# paper Eq. 1 (which also counts congestion and latency) goes from
# {glue:text}`pc_cost_list:,.0f` USD per day at the list prices to
# {glue:text}`pc_cost_eq:,.0f` in the equilibrium and {glue:text}`pc_cost_cartel:,.0f` under
# collusion. In this model users cannot leave the platform, so the cartel's only limit is the
# rival left outside it.
#
# ## A price war on the Economy segment
#
# The shipped calibration panel ({doc}`05_calibration`) has an Economy segment: 20 apps and the
# 17 cheapest models, with list prices from OpenRouter and the preferences planted when the
# panel was generated. We take its last day, let all 17 models price, and then ask the question
# of the introduction: what if the largest one cuts its price by 20 %?

# %%
economy = load_panel().segment("Economy")
eco_market, eco_prefs = economy.markets[-1], economy.truth
t0 = time.perf_counter()
eco = price_equilibrium(eco_market, eco_prefs)
eco_time = time.perf_counter() - t0
print(textwrap.fill(f"{eco.status}: {eco.reason}", 76))
leader = int(np.argmax(eco.equilibrium.shares))
leader_id = eco.player_ids[leader]
t0 = time.perf_counter()
war = respond_to(eco.market, eco_prefs, leader_id, 0.8 * eco.prices[leader])
war_time = time.perf_counter() - t0
print(f"{leader_id} cuts to {war.price:.4f}")
print(f"the others answer: {war.others.status}")

# %% tags=["remove-cell"]
others = [k for k in range(eco.game.n_players) if k != leader]
eco_list = solve_equilibrium(eco_market, eco_prefs)
moves = pd.DataFrame(
    {
        "list price": eco_market.price[others],
        "equilibrium price": eco.prices[others],
        "after the cut": war.others.prices,
        "change": war.others.prices / eco.prices[others] - 1.0,
    },
    index=pd.Index([eco.player_ids[k] for k in others], name="model"),
).sort_values("change")
glue("pc_eco_status", eco.status, display=False)
glue("pc_eco_rounds", eco.n_rounds, display=False)
glue("pc_eco_leader", leader_id, display=False)
glue("pc_eco_share", float(eco.equilibrium.shares[leader]), display=False)
glue("pc_eco_ratio_min", float(np.min(eco.prices / eco_market.price)), display=False)
glue("pc_eco_ratio_max", float(np.max(eco.prices / eco_market.price)), display=False)
glue("pc_eco_cut_min", float(-moves["change"].max()), display=False)
glue("pc_eco_cut_max", float(-moves["change"].min()), display=False)
glue("pc_war_before", float(war.before), display=False)
glue("pc_war_unanswered", float(war.unanswered), display=False)
glue("pc_war_answered", float(war.answered), display=False)
pay = {
    "list prices": eco_list,
    "price equilibrium": eco.equilibrium,
    "after the cut": war.others.equilibrium,
}
bill = pd.DataFrame(
    {
        name: {
            "users' cost (Eq. 1, USD/day)": float(e.user_costs.sum()),
            "users' payment (USD/day)": float(e.market.price @ e.loads / 1e6),
            "mean price (USD / 1M tokens)": float(e.market.price @ e.loads / e.loads.sum()),
        }
        for name, e in pay.items()
    }
).T
glue_table(
    "tbl-pc-eco-bill",
    bill,
    caption="The Economy segment's users (20 apps, one day): their total cost of paper Eq. 1, "
    "what they pay the 17 models, and the mean price per million tokens, at the list prices, "
    "at the price equilibrium and after the leader's cut and the others' answer.",
    index=True,
    formats={
        "users' cost (Eq. 1, USD/day)": ",.0f",
        "users' payment (USD/day)": ",.0f",
        "mean price (USD / 1M tokens)": ".3f",
    },
)
glue("pc_eco_pay_eq", float(bill.iloc[1, 1]), display=False)
glue("pc_eco_pay_war", float(bill.iloc[2, 1]), display=False)
glue("pc_eco_pay_list", float(bill.iloc[0, 1]), display=False)
glue("pc_eco_time", float(eco_time), display=False)
glue("pc_war_time", float(war_time), display=False)
fig, ax = plt.subplots(figsize=(7, 5.2))
ax.barh(moves.index, 100 * moves["change"], color="C0")
ax.set_xlabel("price change after the cut (%)")
ax.set_title(f"{leader_id} cuts its price by 20 %", loc="left")
glue_figure("fig-pc-war", fig)

# %% [markdown]
# The 17 models' price equilibrium is {glue:text}`pc_eco_status` after
# {glue:text}`pc_eco_rounds` rounds; equilibrium prices are {glue:text}`pc_eco_ratio_min:.1f` to
# {glue:text}`pc_eco_ratio_max:.1f` times the list prices. That gap is a finding about the model
# (and the planted preferences), not about OpenRouter: with inelastic demand and no outside
# option, the planted game does not explain the real list prices as an equilibrium; real
# providers face apps that can stop buying, and costs we do not know.
#
# The largest model at the equilibrium, {glue:text}`pc_eco_leader` (a share of
# {glue:text}`pc_eco_share:.1%`), cuts its price by 20 % and holds it there:
#
# ```{glue:figure} fig-pc-war
# ---
# name: fig-pc-war
# alt: >-
#   Horizontal bars, all negative, one per model, of a few per cent each.
# ---
# The other 16 Economy models' answer to the cut: each one's new equilibrium price (the leader
# held at its cut price) relative to its price in the equilibrium before the cut.
# ```
#
# Every other model cuts too, by {glue:text}`pc_eco_cut_min:.1%` to
# {glue:text}`pc_eco_cut_max:.1%`: the price war. The leader earned
# {glue:text}`pc_war_before:,.0f` USD per day at the equilibrium; after its cut it would earn
# {glue:text}`pc_war_unanswered:,.0f` if nobody answered, and earns
# {glue:text}`pc_war_answered:,.0f` once the others have answered. A cut from the equilibrium
# cannot pay by itself (the equilibrium price was already the leader's best response); the
# others' answer takes back part of the custom the cut won and makes it worse. The users' side:
#
# ```{glue:md} tbl-pc-eco-bill
# :format: myst
# ```
#
# The users pay {glue:text}`pc_eco_pay_eq:,.0f` USD per day at the equilibrium and
# {glue:text}`pc_eco_pay_war:,.0f` after the price war (against {glue:text}`pc_eco_pay_list:,.0f`
# at the list prices): a price war is good news for the apps, and the best-response answer is
# what turns one provider's cut into a market-wide one.
#
# ```{admonition} On this machine
# :class: note
#
# The 17-model price equilibrium took {glue:text}`pc_eco_time:.2f` s and the others' answer to
# the cut {glue:text}`pc_war_time:.2f` s when this page was built (each best response an exact
# price path; see `benchmarks/bench_competition.py` for timings with references measured in the
# same run).
# ```
#
# ## Summary
#
# - When every provider prices, each one's best response is paper Problem 1 with itself as the
#   target, solved exactly by the price path; the epsilon of an epsilon-Nash equilibrium,
#   {eq}`pc-epsilon`, is therefore a certificate, and no result is called an equilibrium
#   without it.
# - Quasi-concave profits would guarantee a pure equilibrium ({prf:ref}`thm-pc-dgf`); ours can
#   have two peaks, best responses then jump, and when a jump steps over the other player's
#   map there is no pure equilibrium: best responses cycle, as Edgeworth's did.
# - On small random markets most best-response dynamics converge in a few rounds, and the rest
#   cycle, always with a jump between local maxima; damping and Jacobi steps do not help.
# - Competition prices below collusion and above the list prices of the shipped data; a price
#   cut by the largest Economy model is answered by every other model, which lowers the users'
#   bill and the cutter's profit.
#
# ## Exercises
#
# ```{exercise} One app, two providers
# :label: ex-pc-duopoly
#
# One app with demand $D$ splits between providers $s$ and $r$ (both used), with
# $c_j = w_p p_j + e_j$ and slopes $k_j$. Using {ref}`ex-sp-duopoly`, show that the best
# responses are $\mathrm{BR}_s(p_r) = (w_p p_r + e_r - e_s + 2 k_r D) / (2 w_p)$ and
# symmetrically for $r$, that Gauss-Seidel best responses converge with the error divided by 4
# each round, and find the equilibrium. Check with `price_equilibrium`.
# ```
#
# ```{solution-start} ex-pc-duopoly
# :class: dropdown
# ```
#
# From {ref}`ex-sp-duopoly`, $p_s^* = A/(2 w_p)$ with $A = c_r - e_s + 2 k_r D$ and
# $c_r = w_p p_r + e_r$, which is the formula. Both maps have slope $1/2$, so a round (one
# response each) multiplies the distance to the fixed point by $1/4$. Solving
# $p_s = (p_r + a_s)/2$, $p_r = (p_s + a_r)/2$ with $a_s = (e_r - e_s + 2 k_r D)/w_p$ and
# $a_r = (e_s - e_r + 2 k_s D)/w_p$ gives $p_s = (2 a_s + a_r)/3$ and $p_r = (2 a_r + a_s)/3$,
# valid while both providers keep a positive share there. The dynamics agree to about
# $10^{-6}$ relative: a profit is flat at its maximum, so a player stops moving once its gain is
# below $10^{-12}$ of its profit (`prillm.pricing.best_response.MOVE_TOL`), which leaves its
# price within about the square root of that of the exact best response.

# %%
from prillm import Market, Preferences

one = Market(
    demand=[2e9],
    price=[1.0, 2.0],
    capacity=[1.5e9, 1e9],
    latency=[0.5, 0.8],
    provider_ids=["s", "r"],
)
one_prefs = Preferences(
    w_q=2.0, w_d=0.5, b=[1.0, 1.5], provider_ids=["s", "r"]
)

# %%
k_s, k_r = one_prefs.w_q / one.capacity
e_s, e_r = 0.5 * 0.5 - 1.0, 0.5 * 0.8 - 1.5
a_s = e_r - e_s + 2 * k_r * 2e9
a_r = e_s - e_r + 2 * k_s * 2e9
closed = np.array([2 * a_s + a_r, 2 * a_r + a_s]) / 3
game_one = price_equilibrium(one, one_prefs, tol=1e-13)
print("closed form      ", closed.round(6))
print("price_equilibrium", game_one.prices.round(6))
print("relative difference", np.abs(game_one.prices / closed - 1).max())
errors = np.abs(game_one.history - game_one.prices).max(axis=1)[:5]
print("error per round", errors.round(6))
print("ratios", (errors[1:] / errors[:-1]).round(3))

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} Pruning the best response
# :label: ex-pc-prune
#
# Let $F(p)$ be player $j$'s load as a function of its own price (others fixed), non-increasing
# by {ref}`ex-sp-monotone`, and $\pi_0$ its profit at its current price. Show that no price
# below $P_0 = c_j + \pi_0 / F(\underline p_j)$ earns more than $\pi_0$, and that if
# $(\overline p_j - c_j) F(P) \le \pi^\star$ for some $P$ and some profit $\pi^\star$ already
# found, no price above $P$ earns more than $\pi^\star$. Why is the best response computed on
# $[P_0, P]$ still a certified global optimum?
# ```
#
# ```{solution} ex-pc-prune
# :class: dropdown
#
# For $p < c_j$ the profit is $\le 0 \le \pi_0$ (when $\pi_0 > 0$; otherwise $P_0 =
# \underline p_j$ and nothing is pruned). For $c_j \le p \le P_0$,
# $(p - c_j) F(p) \le (P_0 - c_j) F(\underline p_j) = \pi_0$, since $F(p) \le
# F(\underline p_j)$. For $p \ge P$, $(p - c_j) F(p) \le (\overline p_j - c_j) F(P) \le
# \pi^\star$, since $F(p) \le F(P)$. So the maximum over the whole range is the larger of
# $\pi_0$, $\pi^\star$ and the maximum over $[P_0, P]$, which the exact path computes; the
# current price and $\pi^\star$'s price are candidates, and the proof uses only the monotonicity
# of $F$, not where the pieces of the path are.
# ```
#
# ```{exercise} The cartel of everyone
# :label: ex-pc-cartel
#
# Show that if every provider colludes and prices are not capped, raising every price by the
# same $\Delta > 0$ leaves every flow unchanged and raises the joint profit by
# $\Delta \sum_i D_i / 10^6$, so the joint profit has no maximum. Check it on the demo market.
# ```
#
# ```{solution-start} ex-pc-cartel
# :class: dropdown
# ```
#
# Adding $w_p \Delta$ to every $c_{ij}$ adds $w_p \Delta \sum_{ij} f_{ij} = w_p \Delta
# \sum_i D_i$ to the potential (paper Eq. 4) for *every* feasible flow, a constant, so the
# minimiser (the equilibrium) does not move; each provider's revenue rises by $\Delta F_j$ and
# the total by $\Delta \sum_j F_j = \Delta \sum_i D_i$. A cartel of every provider faces no
# outside option; `collusive_prices` refuses that case without upper bounds.

# %%
base = solve_equilibrium(market, prefs)
shifted = solve_equilibrium(market.replace(price=market.price + 1.0), prefs)
change = float(np.abs(shifted.flows - base.flows).max())
print("largest flow change:", change, "tokens")
revenue_after = shifted.market.price @ shifted.loads
gain = (revenue_after - market.price @ base.loads) / 1e6
total = market.demand.sum() / 1e6
print(f"joint revenue gain {gain:,.0f} USD")
print(f"sum of demands / 1e6 = {total:,.0f}")

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} Damping a cycle
# :label: ex-pc-damping
#
# Run `price_equilibrium` on the cycling duopoly with `damping=0.2` and 400 rounds. Where do
# p0's prices go? Compare with the price of p1 at which p0's best response jumps, and explain
# why no damping can make the dynamics converge here.
# ```
#
# ```{solution-start} ex-pc-damping
# :class: dropdown
# ```
#
# Damped, p1 creeps towards the price where p0's best response jumps and then hovers around
# it: on one side p0 heads for its high peak, on the other for its low one, so p0's price
# oscillates between the two while p1 stays near the jump. A convergent damped iteration would
# stop at a fixed point of the best-response maps, i.e. at a pure equilibrium, and the maps do
# not cross; damping changes the orbit, not that fact.

# %%
damped = price_equilibrium(
    cyc_market, cyc_prefs, damping=0.2, max_rounds=400
)
tail = damped.history[-40:]
(lo0, lo1), (hi0, hi1) = tail.min(axis=0), tail.max(axis=0)
print(damped.status)
print(f"p1 in [{lo1:.3f}, {hi1:.3f}] (jump at {jump_at:.3f})")
print(f"p0 in [{lo0:.3f}, {hi0:.3f}]")

# %% [markdown]
# ```{solution-end}
# ```
