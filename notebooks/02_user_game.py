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
# # The user-side game
#
# Given the providers' prices, every application (a *user*) splits its token demand over the
# providers so as to minimise its own cost; because congestion depends on everyone's choices,
# the users play a game.
#
# **This chapter** states the game (paper Eq. 1 and Definition 1 {cite}`prillm2026`), shows
# that it has an exact potential, derives its equilibrium conditions (Wardrop's first
# principle), proves that the equilibrium is unique (Rosen's theorem, paper Theorem 1), and
# explains how `prillm` computes it exactly and certifies it, including a bound on how far the
# computed flows can be from the true ones.
#
# **What you need**: the market and its units from {doc}`01_market`, and the KKT conditions of
# a convex program with linear constraints (Lagrange multipliers for equalities and for
# non-negativity).

# %% tags=["parameters", "remove-cell"]
quick = True

# %% tags=["remove-cell"]
# Book plumbing: the figure style and the table and figure helpers of notebooks/booktools.py.
import pandas as pd
from booktools import glue_figure, glue_table, setup_book
from myst_nb import glue

setup_book()

# %%
import matplotlib.pyplot as plt
import numpy as np

from prillm import (
    Market,
    Preferences,
    equilibrium_reference,
    game_coefficients,
    kkt_certificate,
    solve_equilibrium,
    water_filling,
)
from prillm.equilibrium import (
    best_response_dynamics,
    marginal_costs,
    potential,
    solve_active_set,
    solve_support,
    user_costs,
)
from prillm.synthetic import plausible_market

# %% [markdown]
# ## A market to play on
#
# We draw a synthetic market of {glue:text}`ug_n_users` users and {glue:text}`ug_n_providers`
# providers with the units of `prillm` (see {doc}`/book/notation`): daily token demands around
# $10^9$ tokens, list prices between a few cents and about ten dollars per million tokens,
# capacities of the order of the total demand divided by the number of providers, and latencies
# between 0.2 and 2 seconds. Users value expensive models more ($b_j$ grows with $p_j$), so
# that no provider wins on price alone ({numref}`tbl-ug-market`).

# %%
rng = np.random.default_rng(0)
# quick: a small market, for continuous integration; full: the paper's size
n_users, n_providers = (8, 6) if quick else (20, 20)
n_starts = 8 if quick else 50
market, prefs = plausible_market(rng, n_users, n_providers)
gc = game_coefficients(market, prefs)
eq = solve_equilibrium(market, prefs, check_nash=True)

# %% tags=["remove-cell"]
glue("ug_n_users", n_users, display=False)
glue("ug_n_providers", n_providers, display=False)
providers = pd.DataFrame(
    {
        "provider": market.provider_ids,
        "price $p_j$ (USD / 1M tokens)": market.price,
        "value $b_j$ (USD / 1M tokens)": prefs.values_for(market)[3],
        "capacity $\\alpha_j$ (tokens)": market.capacity,
        "share of the tokens at equilibrium": eq.shares,
    }
)
glue_table(
    "tbl-ug-market",
    providers,
    caption="The providers of the synthetic market: list price, perceived value, capacity "
    "(tokens per day) and the share of all tokens each carries at the users' equilibrium.",
    formats={
        "price $p_j$ (USD / 1M tokens)": ".3f",
        "value $b_j$ (USD / 1M tokens)": ".3f",
        "capacity $\\alpha_j$ (tokens)": ".3e",
        "share of the tokens at equilibrium": ".1%",
    },
)

# %% [markdown]
# ```{glue:md} tbl-ug-market
# :format: myst
# ```
#
# ## The cost of a user (paper Eq. 1)
#
# User $u_i$ sends $f_{ij} \ge 0$ tokens to provider $s_j$, with $\sum_j f_{ij} = D_i$. Each token
# costs it the price, the congestion of the provider, the latency, minus the value it perceives:
#
# $$
# \mathcal C_i(\boldsymbol f_i; \mathcal F_{-i}) = \sum_{j} f_{ij}
#   \left(w_p p_j + w_q Q_j + w_d d_{ij} - b_j\right),
# $$ (ug-cost)
#
# where the congestion of provider $s_j$ is its load over its capacity,
#
# $$
# Q_j = \frac{F_j}{\alpha_j} = \frac{1}{\alpha_j}\sum_{i'} f_{i'j} .
# $$
#
# The congestion $Q_j$ includes the user's own flow, so the cost is quadratic in $\boldsymbol f_i$
# and depends on the others' flows $\mathcal F_{-i}$ through the loads $F_j$. With
# $c_{ij} = w_p p_j + w_d d_{ij} - b_j$ and $k_j = w_q/\alpha_j$ (`game_coefficients`), the cost
# reads $\sum_j f_{ij}\,(c_{ij} + k_j F_j)$. Below, {eq}`ug-cost` is evaluated at the
# equilibrium flows by `prillm.equilibrium.user_costs` (any flow profile, in USD: prices are per
# $10^6$ tokens) and compared with what the equilibrium's multipliers say: on a used route
# $c_{ij} + k_j F_j = \lambda_i - k_j f_{ij}$ (the KKT conditions {eq}`ug-kkt` below), so
# $\mathcal C_i = \lambda_i D_i - \sum_j k_j f_{ij}^2$.

# %%
direct = user_costs(market, prefs, eq.flows)
own = (gc.slope * eq.flows**2).sum(axis=1)
via_multipliers = (eq.multipliers * market.demand - own) / 1e6
rel_diff = np.abs(direct - via_multipliers) / np.abs(direct)

# %% tags=["remove-cell"]
costs = pd.DataFrame(
    {
        "user": market.user_ids,
        "demand $D_i$ (tokens)": market.demand,
        "{eq}`ug-cost` from the flows (USD)": direct,
        "$\\lambda_i D_i - \\sum_j k_j f_{ij}^2$ (USD)": via_multipliers,
        "relative difference": rel_diff,
    }
)
glue_table(
    "tbl-ug-costs",
    costs,
    caption="Each user's daily cost at the equilibrium, computed from the flows by "
    "{eq}`ug-cost` and from the multipliers, and their relative difference.",
    formats={
        "demand $D_i$ (tokens)": ".3e",
        "{eq}`ug-cost` from the flows (USD)": ",.2f",
        "$\\lambda_i D_i - \\sum_j k_j f_{ij}^2$ (USD)": ",.2f",
        "relative difference": ".1e",
    },
)
glue("ug_cost_rel_diff", float(rel_diff.max()), display=False)
n_negative = int((direct < 0).sum())
if n_negative == 0:
    sign_text = (
        f"All {n_users} costs are positive here: every user pays more in price, congestion "
        "and latency than the value it perceives in the models it uses"
    )
elif n_negative == n_users:
    sign_text = f"All {n_users} costs are negative here"
else:
    sign_text = f"{n_negative} of the {n_users} costs are negative here"
glue("ug_cost_sign", sign_text, display=False)

# %% [markdown]
# ```{glue:md} tbl-ug-costs
# :format: myst
# ```
#
# The two agree to a relative difference of {glue:text}`ug_cost_rel_diff:.1e`
# ({numref}`tbl-ug-costs`). {glue:text}`ug_cost_sign`. A cost can be negative: a user that values
# a model above its price, congestion and latency gains from using it, and $b_j$ is a value in
# USD per million tokens like the price. The equilibrium of this game, paper Definition 1, is
# {prf:ref}`def-user-ne`.
#
# ```{prf:definition} Nash equilibrium of the user-side game
# :label: def-user-ne
#
# A strategy profile $\mathcal F^* = (\boldsymbol f_1^*, \dots, \boldsymbol f_n^*)$ is a Nash
# equilibrium of the user-side game if no user can lower its cost by changing its own split:
# for every user $u_i$ and every feasible $\boldsymbol f_i'$ (with $\sum_j f'_{ij} = D_i$,
# $f'_{ij} \ge 0$),
# $\mathcal C_i(\boldsymbol f_i^*; \mathcal P, \mathcal F_{-i}^*) \le
# \mathcal C_i(\boldsymbol f_i'; \mathcal P, \mathcal F_{-i}^*)$.
# ```
#
# A direct check of {prf:ref}`def-user-ne`: for one user, draw many random splits of its demand
# while the others keep their equilibrium flows, and compare the costs.

# %%
i0 = int(np.argmax(market.demand))
samples = rng.dirichlet(np.ones(n_providers), size=2000) * market.demand[i0]
deviation_costs = []
for split in samples:
    trial = np.array(eq.flows)
    trial[i0] = split
    deviation_costs.append(user_costs(market, prefs, trial)[i0])
deviation_costs = np.array(deviation_costs)
at_eq = user_costs(market, prefs, eq.flows)[i0]
n_cheaper = int(np.sum(deviation_costs < at_eq))

# %% tags=["remove-cell"]
glue("ug_n_deviations", len(samples), display=False)
glue("ug_i0", market.user_ids[i0], display=False)
glue("ug_at_eq", float(at_eq), display=False)
glue("ug_cheapest", float(deviation_costs.min()), display=False)
glue("ug_n_cheaper", n_cheaper, display=False)
glue("ug_none", "None" if n_cheaper == 0 else str(n_cheaper), display=False)

# %% [markdown]
# The largest user, {glue:text}`ug_i0`, pays {glue:text}`ug_at_eq:,.2f` USD a day at the
# equilibrium; the cheapest of {glue:text}`ug_n_deviations` random deviations costs it
# {glue:text}`ug_cheapest:,.2f` USD. {glue:text}`ug_none` of the deviations is cheaper. The
# exact version of this test, a best response computed by water-filling for every user, is part
# of the solver's certificate (its `nash_gap`, below).
#
# ## An exact potential (paper Eq. 4–5, 12)
#
# The game has an exact potential {cite}`monderer1996`: one function of all flows whose change,
# when a single user changes its split, equals that user's change of cost. Here it is
# (paper Eq. 4–5, equivalently paper Eq. 9–11)
#
# $$
# \Phi(\mathcal F) = \underbrace{\sum_{i,j} c_{ij} f_{ij}}_{\Phi_{\text{Fixed}}}
#  + \underbrace{\sum_j \frac{w_q}{2\alpha_j}\Big(F_j^2 + \sum_i f_{ij}^2\Big)}
#    _{\Phi_{\text{Congestion}}}.
# $$ (ug-potential)
#
# Differentiating, $\partial \Phi / \partial f_{ij} = c_{ij} + k_j (F_j + f_{ij})$, which is also
# $\partial \mathcal C_i / \partial f_{ij}$ (the own flow appears twice in $\mathcal C_i$: in
# $f_{ij}$ and in $Q_j$), paper Eq. 12:
#
# $$
# \frac{\partial \Phi}{\partial f_{ij}} = \frac{\partial \mathcal C_i}{\partial f_{ij}}
#   = c_{ij} + \frac{w_q}{\alpha_j}\left(F_j + f_{ij}\right).
# $$ (ug-gradient)
#
# We check {eq}`ug-gradient` numerically at a random feasible profile (not an equilibrium):
# central differences of $\Phi$ (`prillm.equilibrium.potential`, in USD) and of each
# $\mathcal C_i$ against the closed form, which `prillm.equilibrium.marginal_costs` evaluates
# (in USD per million tokens, as the costs $c_{ij}$). Both functions are quadratic, so central
# differences are exact up to round-off.

# %%
demand = market.demand[:, None]
profile = rng.dirichlet(np.ones(n_providers), size=n_users) * demand
step = 1e-4 * float(market.demand.min())
grad_phi = np.zeros_like(profile)
grad_cost = np.zeros_like(profile)
for i in range(n_users):
    for j in range(n_providers):
        e = np.zeros_like(profile)
        e[i, j] = step
        up, down = profile + e, profile - e
        phi_up = potential(market, prefs, up)
        phi_down = potential(market, prefs, down)
        cost_up = user_costs(market, prefs, up)[i]
        cost_down = user_costs(market, prefs, down)[i]
        grad_phi[i, j] = (phi_up - phi_down) / (2 * step)
        grad_cost[i, j] = (cost_up - cost_down) / (2 * step)

# %%
# Eq. (ug-gradient), per million tokens; in USD per token
closed_form = marginal_costs(gc.cost, gc.slope, profile) / 1e6
scale = np.abs(closed_form).max()
err_phi = np.abs(grad_phi - closed_form).max() / scale
err_cost = np.abs(grad_cost - closed_form).max() / scale
err_both = np.abs(grad_phi - grad_cost).max() / scale

# %% tags=["remove-cell"]
glue("ug_grad_err", float(max(err_phi, err_cost, err_both)), display=False)

# %% [markdown]
# The gradient of the potential, the users' marginal costs and the closed form
# {eq}`ug-gradient` agree to {glue:text}`ug_grad_err:.1e` (relative). The potential property
# itself: when user $u_i$ alone switches from $\boldsymbol f_i$ to $\boldsymbol f_i'$, $\Phi$
# changes exactly as much as $\mathcal C_i$.

# %%
n_moves = 200
phi_profile = potential(market, prefs, profile)
gaps = []
for _ in range(n_moves):
    i = int(rng.integers(n_users))
    moved = np.array(profile)
    moved[i] = rng.dirichlet(np.ones(n_providers)) * market.demand[i]
    d_phi = potential(market, prefs, moved) - phi_profile
    before = user_costs(market, prefs, profile)[i]
    d_cost = user_costs(market, prefs, moved)[i] - before
    gaps.append(abs(d_phi - d_cost) / max(abs(d_cost), 1e-6))

# %% tags=["remove-cell"]
glue("ug_potential_gap", float(max(gaps)), display=False)
glue("ug_n_moves", n_moves, display=False)

# %% [markdown]
# Over {glue:text}`ug_n_moves` random unilateral moves, the largest relative mismatch is
# {glue:text}`ug_potential_gap:.1e`: $\Phi$ is an exact potential. Its minimisers over the joint
# strategy set are therefore equilibria, and, because $\Phi$ is convex, every equilibrium
# minimises $\Phi$ (next section).
#
# ## KKT conditions and Wardrop's first principle (paper Eq. 13–17)
#
# The equilibrium solves the convex program (paper Eq. 13)
#
# $$
# \min_{\mathcal F} \Phi(\mathcal F) \quad \text{s.t.} \quad \sum_j f_{ij} = D_i,\;
#   f_{ij} \ge 0 .
# $$ (ug-program)
#
# With a multiplier $\lambda_i$ for user $u_i$'s demand and $\mu_{ij} \ge 0$ for $f_{ij} \ge 0$,
# its KKT conditions are (paper Eq. 14–17, with prillm's sign convention
# $\partial\Phi/\partial f_{ij} = \lambda_i + \mu_{ij}$, see {doc}`/book/notation`)
#
# $$
# \begin{aligned}
# & c_{ij} + k_j (F_j + f_{ij}) = \lambda_i + \mu_{ij}, \qquad \sum_j f_{ij} = D_i, \\
# & f_{ij} \ge 0, \qquad \mu_{ij} \ge 0, \qquad \mu_{ij} f_{ij} = 0 .
# \end{aligned}
# $$ (ug-kkt)
#
# Read per user, this is **Wardrop's first principle** {cite}`wardrop1952`: every provider a user
# actually uses has the same marginal cost $\lambda_i$, and every provider it does not use has a
# marginal cost at least $\lambda_i$. (Our users are atomic — each application is big enough to
# congest a provider on its own — so it is the *marginal* cost {eq}`ug-gradient` that
# equalises, not the cost per token $c_{ij} + k_j F_j$ as for infinitesimal travellers.)
#
# {numref}`fig-ug-reduced` shows the reduced costs $\mu_{ij} = \partial\Phi/\partial f_{ij} -
# \lambda_i$ at the equilibrium computed above: zero on used routes, non-negative on unused ones.

# %% tags=["remove-output"]
reduced = eq.marginal_costs - eq.multipliers[:, None]
user_of = np.repeat(np.arange(n_users)[:, None], n_providers, axis=1)
used = eq.support
fig, ax = plt.subplots(figsize=(7, 3.4))
ax.plot(user_of[used], reduced[used], "o", color="C0", label="used")
ax.plot(user_of[~used], reduced[~used], "x", color="C3", label="unused")
ax.axhline(0.0, color="grey", lw=0.8)
ax.set_xticks(range(n_users), market.user_ids)
ax.set_xlabel("user $u_i$")
ax.set_ylabel(r"$\mu_{ij}$ (USD / 1M tokens)")
legend = ax.legend(loc="upper right")

# %% tags=["remove-cell"]
glue_figure("fig-ug-reduced", fig)
used_max = float(np.abs(reduced[eq.support]).max())
off = ~eq.support
unused_min = float(reduced[off].min()) if off.any() else float("nan")
glue("ug_used_max", used_max, display=False)
glue("ug_unused_min", unused_min, display=False)
glue("ug_n_used", int(eq.support.sum()), display=False)
glue("ug_n_routes", int(eq.support.size), display=False)

# %% [markdown]
# ```{glue:figure} fig-ug-reduced
# ---
# name: fig-ug-reduced
# alt: >-
#   A scatter of reduced costs against the users: blue dots for used routes all lie on the
#   zero line, red crosses for unused routes lie above it, some far above.
# ---
# The reduced costs $\mu_{ij}$ of every route at the equilibrium, by user: the used routes
# (dots) all have $\mu_{ij} = 0$, the unused ones (crosses) $\mu_{ij} \ge 0$, as {eq}`ug-kkt`
# requires.
# ```
#
# On the {glue:text}`ug_n_used` used routes (out of {glue:text}`ug_n_routes`), the marginal costs
# differ from $\lambda_i$ by at most {glue:text}`ug_used_max:.1e` USD per million tokens; on the
# unused ones the smallest reduced cost is {glue:text}`ug_unused_min:.2e`, so no user would
# gain by moving a token to a route it does not use. For the largest user, the marginal cost and
# the cost per token differ on its used routes by exactly $k_j f_{ij}$, its own congestion
# ({numref}`tbl-ug-routes`).

# %%
per_token = gc.cost + gc.slope * eq.loads
mine = np.flatnonzero(eq.support[i0])
routes = pd.DataFrame(
    {
        "provider": [market.provider_ids[j] for j in mine],
        "share of $D_i$": eq.flows[i0, mine] / market.demand[i0],
        "marginal cost": eq.marginal_costs[i0, mine],
        "cost per token": per_token[i0, mine],
        "$k_j f_{ij}$": gc.slope[mine] * eq.flows[i0, mine],
        "$\\lambda_i$": eq.multipliers[i0],
    }
)

# %% tags=["remove-cell"]
glue_table(
    "tbl-ug-routes",
    routes,
    caption="The routes the largest user uses: its share of its demand on each, its "
    "marginal cost {eq}`ug-gradient`, its cost per token $c_{ij} + k_j F_j$, their "
    "difference $k_j f_{ij}$ and its multiplier $\\lambda_i$ (USD per million tokens).",
    formats={"share of $D_i$": ".1%"} | dict.fromkeys(list(routes.columns[2:]), ".4f"),
)

# %% [markdown]
# ```{glue:md} tbl-ug-routes
# :format: myst
# ```
#
# ## Uniqueness: Rosen's theorem (paper Theorem 1)
#
# ```{prf:theorem} Rosen, 1965
# :label: thm-rosen
#
# Consider an $n$-player game in which player $i$ chooses $x_i$ in a non-empty, compact, convex
# set $X_i$ and minimises a cost $\mathcal C_i(x_i, x_{-i})$ that is continuous in $x$ and convex in
# $x_i$. Then an equilibrium exists. If moreover the pseudo-gradient
# $g(x) = \big(\nabla_{x_1}\mathcal C_1(x), \dots, \nabla_{x_n}\mathcal C_n(x)\big)$ is strictly
# monotone, $(x - y)^\top (g(x) - g(y)) > 0$ for all $x \ne y$ ("diagonal strict convexity"),
# the equilibrium is unique.
# ```
#
# This is the cost-minimisation form of the existence theorem and of the uniqueness theorem
# (with all weights $r_i = 1$ and uncoupled strategy sets) of {cite}`rosen1965`. Applied to the
# user-side game it gives {prf:ref}`thm-unique-ne`, which is paper Theorem 1.
#
# ```{prf:theorem} Uniqueness of the user-side equilibrium
# :label: thm-unique-ne
#
# For any prices $\mathcal P$, if $w_q > 0$ and every $\alpha_j > 0$, the user-side game has
# exactly one Nash equilibrium, and it is the unique minimiser of $\Phi$ in
# {eq}`ug-program`.
# ```
#
# ```{prf:proof}
# Each strategy set $\{\boldsymbol f_i \ge 0 : \sum_j f_{ij} = D_i\}$ is a scaled simplex:
# non-empty, compact and convex. $\mathcal C_i$ is a polynomial, hence continuous, and its
# Hessian in $\boldsymbol f_i$ is diagonal with entries $2 w_q/\alpha_j > 0$ (paper Eq. 8), so
# it is strictly convex in $\boldsymbol f_i$; Rosen's first part gives existence.
#
# For uniqueness, strict convexity of each $\mathcal C_i$ in its own variables is not enough by
# itself; Rosen's condition is about the joint pseudo-gradient. By {eq}`ug-gradient`, the
# pseudo-gradient is the gradient of the potential, $g = \nabla\Phi$. The Hessian of $\Phi$ is
# block diagonal over providers, with block $k_j (I_n + \mathbf 1 \mathbf 1^\top)$ for provider
# $j$; its eigenvalues are $k_j$ (multiplicity $n-1$) and $(n+1) k_j$, all positive. So $\Phi$ is
# strictly convex and $(x-y)^\top(\nabla\Phi(x) - \nabla\Phi(y)) > 0$ for $x \ne y$: the pseudo-
# gradient is strictly monotone, and the equilibrium is unique.
#
# Finally, $\boldsymbol f_i^*$ is a best response if and only if it satisfies user $i$'s own KKT
# conditions, which by {eq}`ug-gradient` are the rows of {eq}`ug-kkt`; so the
# equilibria are exactly the KKT points of {eq}`ug-program`, i.e. its minimisers (a convex
# program with linear constraints), and the strictly convex $\Phi$ has exactly one.
# ```
#
# The paper's proof sketch checks the strict convexity of each $\mathcal C_i$ in $\boldsymbol f_i$
# and then invokes Rosen; the step above that it leaves implicit is the monotonicity of the
# joint pseudo-gradient, which here follows from the potential. The Hessian of $\Phi$, built by
# differentiating the closed-form gradient {eq}`ug-gradient` (`marginal_costs`) numerically,
# has exactly the predicted spectrum:


# %%
def grad_potential(flat: np.ndarray) -> np.ndarray:
    """The gradient (ug-gradient) as a function of the flattened flows."""
    flows = flat.reshape(n_users, n_providers)
    return marginal_costs(gc.cost, gc.slope, flows).ravel()


x0 = profile.ravel()
h = 1e-3 * float(market.demand.min())
columns = [
    (grad_potential(x0 + h * e) - grad_potential(x0 - h * e)) / (2 * h)
    for e in np.eye(x0.size)
]
hessian = np.column_stack(columns)
eigs = np.sort(np.linalg.eigvalsh(0.5 * (hessian + hessian.T)))
k_j = gc.slope
predicted = np.sort(np.r_[np.repeat(k_j, n_users - 1), (n_users + 1) * k_j])
eig_err = np.abs(eigs - predicted).max() / predicted.max()

# %% tags=["remove-cell"]
glue("ug_eig_err", float(eig_err), display=False)
glue("ug_hess_size", hessian.shape[0], display=False)
glue("ug_hess_sym", float(np.abs(hessian - hessian.T).max() / np.abs(hessian).max()), display=False)

# %% [markdown]
# The Hessian ({glue:text}`ug_hess_size` rows and columns) is symmetric to a relative
# {glue:text}`ug_hess_sym:.1e`, and all its eigenvalues match the closed form to a relative
# {glue:text}`ug_eig_err:.1e`.
#
# ### One equilibrium from every start
#
# Uniqueness can also be watched. First, the exact solver started from random supports
# (`warm_start=`) lands on the same flows every time; second, **best-response dynamics** — users
# take turns playing their exact best response (a water-filling problem, `prillm.water_filling`)
# to the others' current flows — decrease the potential at every turn and converge to the same
# point from random starting profiles.

# %%
starts = [rng.random((n_users, n_providers)) < 0.5 for _ in range(n_starts)]
warm = [solve_equilibrium(market, prefs, warm_start=s) for s in starts]
d_max = market.demand.max()
spread = max(np.abs(w.flows - eq.flows).max() for w in warm) / d_max
iters = [w.iterations for w in warm]

# %% tags=["remove-cell"]
glue("ug_warm_spread", float(spread), display=False)
glue("ug_n_starts", n_starts, display=False)
glue("ug_cold_iters", eq.iterations, display=False)
glue("ug_warm_iters", f"{min(iters)} to {max(iters)}", display=False)

# %% [markdown]
# From {glue:text}`ug_n_starts` random supports the exact solver returns the same flows
# (largest difference {glue:text}`ug_warm_spread:.1e` of the largest demand), after
# {glue:text}`ug_warm_iters` active-set iterations, against {glue:text}`ug_cold_iters` from its
# default start.
#
# `prillm.equilibrium.best_response_dynamics` plays the rounds: in each, every user in turn
# water-fills against the others' current loads (its marginal cost on $j$ is
# $c_{ij} + k_j F_{-i,j} + 2 k_j f_{ij}$, paper Eq. 12), and it records the profiles and their
# potential ({numref}`fig-ug-brd`).

# %%
phi_star = potential(market, prefs, eq.flows)
sweeps = 30 if quick else 60
histories, final_gaps = [], []
for _ in range(min(n_starts, 8)):
    start = rng.dirichlet(np.ones(n_providers), size=n_users) * demand
    run = best_response_dynamics(market, prefs, start, rounds=sweeps)
    histories.append(np.array(run.potential))
    final_gaps.append(np.abs(run.final - eq.flows).max() / d_max)

# %% tags=["remove-output"]
fig, ax = plt.subplots(figsize=(7, 3.4))
for history in histories:
    excess = np.maximum(history - phi_star, 1e-300) / abs(phi_star)
    ax.semilogy(excess, color="C0", alpha=0.7)
ax.set_xlabel("sweep (every user plays its best response once)")
ax.set_ylabel(r"$(\Phi - \Phi^*) / |\Phi^*|$")

# %% tags=["remove-cell"]
glue_figure("fig-ug-brd", fig)
glue("ug_brd_gap", float(max(final_gaps)), display=False)
glue("ug_brd_sweeps", sweeps, display=False)
glue("ug_brd_runs", len(histories), display=False)

# %% [markdown]
# ```{glue:figure} fig-ug-brd
# ---
# name: fig-ug-brd
# alt: >-
#   Several decreasing lines on a logarithmic vertical axis, one per random start: the excess
#   potential falls steadily, along roughly straight lines, over the sweeps.
# ---
# Best-response dynamics from {glue:text}`ug_brd_runs` random starting profiles: the potential's
# excess over its minimum, relative to the minimum, after each sweep (log scale). It falls at
# every sweep, roughly geometrically: linear convergence.
# ```
#
# Best-response dynamics reach the equilibrium too: after {glue:text}`ug_brd_sweeps` sweeps
# every run is within {glue:text}`ug_brd_gap:.1e` of the largest demand. They converge only
# linearly; the exact solver needs a handful of linear solves.
#
# ## How the exact solver works
#
# **A fixed support gives a linear system.** Suppose we knew the support — which user uses which
# provider. Then {eq}`ug-kkt` is linear: on the support, $c_{ij} + k_j(F_j + f_{ij}) =
# \lambda_i$, so with $K_j = 1/k_j = \alpha_j / w_q$,
# $f_{ij} = K_j(\lambda_i - c_{ij}) - F_j$; summing over the $n_j$ users of provider $j$ gives
# $F_j = K_j \sum_{i \in U_j} (\lambda_i - c_{ij}) / (1 + n_j)$, and the demand constraints
# leave an $n \times n$ symmetric positive-definite system in $\lambda$ (or an $m \times m$ one in
# the loads $F$), solved by a Cholesky factorisation (`prillm.equilibrium.solve_support`). Given
# the support of the equilibrium, this one solve reproduces it to round-off:

# %%
K = 1.0 / gc.slope
lam, loads, flows = solve_support(gc.cost, K, market.demand, eq.support)
flow_diff = np.abs(flows - eq.flows).max() / market.demand.max()
print(f"max |f - f*| / max D = {flow_diff:.1e}")
lam_diff = np.abs(lam - eq.multipliers).max()
print(f"max |lambda - lambda*| = {lam_diff:.1e} USD / 1M tokens")

# %% [markdown]
# **Pivoting finds the support.** With a wrong support the same system still has a solution,
# but some flows come out negative (a route that should be dropped) or some unused route has a
# negative reduced cost $\mu_{ij} = c_{ij} + k_j F_j - \lambda_i$ (a route that should be
# added). Starting from the full support:

# %%
full = np.ones((n_users, n_providers), dtype=bool)
lam, loads, flows = solve_support(gc.cost, K, market.demand, full)
n_negative = int((flows < 0).sum())
print(f"full support: {n_negative} negative flows of {flows.size}")
print(f"true support: {int(eq.support.sum())} routes used")

# %% [markdown]
# The solver's primal-dual active-set iteration {cite}`hintermuller2003` drops every route with
# a negative flow and adds every unused route with a negative reduced cost, all at once, and
# solves again, until neither happens; the final support satisfies all of {eq}`ug-kkt`, so
# the result is the equilibrium itself, exact up to round-off. If the iteration ever cycles, a
# monotone primal active-set method {cite}`nocedal2006` takes over, which cannot cycle because
# the potential decreases strictly. A warm start (a previous support) usually saves most
# iterations — the pricing chapter relies on this.
#
# ## The certificate, and an independent check
#
# `solve_equilibrium` never returns an unchecked answer: every equilibrium carries a KKT
# certificate — relative residuals of primal feasibility, stationarity on the support, dual
# feasibility and complementarity off it, and the *Nash gap*, the largest amount any user could
# save by an exact best response (a direct test of {prf:ref}`def-user-ne`, independent of the
# multipliers). The same problem handed to a general-purpose convex solver through cvxpy
# (Clarabel, an interior-point method; `prillm.equilibrium_reference`) gives the same flows up to
# its tolerance ({numref}`tbl-ug-certificate`).

# %%
ref = equilibrium_reference(market, prefs)
# measured on the exact support: the interior-point solution leaves
# tiny flows everywhere
ref_cert = kkt_certificate(
    market, prefs, ref.flows, ref.multipliers, support=eq.support
)
fields = ["primal", "stationarity", "dual", "complementarity", "nash_gap"]
certificates = pd.DataFrame(
    {
        "residual": [*fields, "certified"],
        "exact solver": [getattr(eq.certificate, f) for f in fields]
        + [eq.certificate.certified],
        "cvxpy / Clarabel": [getattr(ref_cert, f) for f in fields]
        + [ref_cert.certified],
    }
)
ref_diff = np.abs(ref.flows - eq.flows).max() / market.demand.max()

# %% tags=["remove-cell"]
def _residual(value):
    """A residual in the table: yes / no for the verdict, else one significant digit."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return "—" if value is None else f"{float(value) + 0.0:.1e}"


glue_table(
    "tbl-ug-certificate",
    certificates,
    caption="The KKT certificate of the exact solver and of the interior-point reference "
    "(its residuals measured on the exact solver's support): relative residuals of each KKT "
    "condition, the Nash gap, and whether all are below the tolerance.",
    formats={"exact solver": _residual, "cvxpy / Clarabel": _residual},
)
glue("ug_ref_diff", float(ref_diff), display=False)
over = [f for f in fields if (getattr(ref_cert, f) or 0.0) > ref_cert.tol]
glue(
    "ug_ref_verdict",
    f"{len(over)} of its {len(fields)} residuals exceed the tolerance "
    f"{ref_cert.tol:.0e} ({', '.join(over)}), so it is not certified"
    if over
    else f"all are below the tolerance {ref_cert.tol:.0e}",
    display=False,
)

# %% [markdown]
# ```{glue:md} tbl-ug-certificate
# :format: myst
# ```
#
# The two solvers agree to {glue:text}`ug_ref_diff:.1e` of the largest demand. The reference's
# residuals are measured on the exact solver's support: the interior-point method stops at a
# tolerance and leaves tiny flows on routes that should be empty, so its residuals sit near its
# stopping tolerance rather than at round-off: {glue:text}`ug_ref_verdict`.

# %% tags=["timing", "remove-cell"]
import time


def best_time(fn, repeat: int = 5) -> float:
    """Best of a few wall-clock timings, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


t_exact = best_time(lambda: solve_equilibrium(market, prefs))
t_ref = best_time(lambda: equilibrium_reference(market, prefs), repeat=2)
glue("ug_t_exact_ms", t_exact * 1e3, display=False)
glue("ug_t_ref_ms", t_ref * 1e3, display=False)

# %% [markdown]
# ```{admonition} On this machine
# :class: note
#
# Run times of the two solvers on this market, measured while this page was built (best of a
# few runs; they vary from run to run, unlike every other number of this chapter): the exact
# solver took {glue:text}`ug_t_exact_ms:.2f` ms, the cvxpy reference
# {glue:text}`ug_t_ref_ms:.1f` ms.
# ```

# %% [markdown]
# ## When small residuals are not enough: a bound on the flows
#
# The residuals above measure how well the flows satisfy {eq}`ug-kkt` — a *backward* error.
# How far can flows with tiny residuals be from the equilibrium itself? The potential answers.
#
# ```{prf:proposition} Residuals bound the flows, weakly
# :label: prop-ug-forward
#
# Let $f$ be feasible, $\lambda$ any multipliers and $\mu_{ij} = g_{ij}(f) - \lambda_i$ its reduced
# costs. Then the equilibrium $f^*$ satisfies
#
# $$
# \begin{aligned}
# \sum_j k_j \sum_i (f_{ij} - f^*_{ij})^2 &\;\le\; r, \\
# r &:= \sum_{ij} \mu_{ij} f_{ij} + \sum_i D_i \max_j\,(-\mu_{ij})^+ ,
# \end{aligned}
# $$ (ug-forward)
#
# so every flow is within $\sqrt{r / k_j} = \sqrt{r K_j}$ of the equilibrium's.
# ```
#
# ```{prf:proof}
# The Hessian of the potential is block-diagonal with blocks $k_j(\mathbf 1 \mathbf 1^\top + I)$,
# so $\langle g(f) - g(f^*), f - f^* \rangle \ge \sum_j k_j \lVert f_{\cdot j} - f^*_{\cdot j}
# \rVert^2$ (strong monotonicity). At the equilibrium $\langle g(f^*), f - f^* \rangle \ge 0$ for
# every feasible $f$ (the variational form of {eq}`ug-kkt`). Hence the left side of
# {eq}`ug-forward` is at most $\langle g(f), f - f^* \rangle$. Both $f$ and $f^*$ meet the
# demands, so the $\lambda_i$ part of $g = \lambda + \mu$ contributes nothing, and
# $\sum_{ij} \mu_{ij}(f_{ij} - f^*_{ij}) \le \sum \mu_{ij} f_{ij} + \sum_i D_i \max_j
# (-\mu_{ij})^+$ because $f^*_{i\cdot}$ sums to $D_i$.
# ```
#
# When a capacity dwarfs the demand, $K_j = \alpha_j / w_q$ is huge: congestion is nearly
# negligible and costs are nearly linear, so the equilibrium hinges on tiny cost differences.
# Round-off of order $10^{-16}$ in $r$ then allows flows off by $\sqrt{10^{-16} K_j}$. Take one
# user and two providers whose prices differ by one part in $10^{12}$, each with capacity $10^{12}$
# times the demand: the exact split follows by hand from $c_1 + 2 k f_1 = c_2 + 2 k f_2$ and
# $f_1 + f_2 = D$, i.e. $f_1 = D/2 + (c_2 - c_1) K / 4$.

# %%
from fractions import Fraction

D, alpha = 1e6, 1e18
tie = Market(demand=[D], price=[1.0, 1.0 + 1e-12], capacity=[alpha, alpha])
tie_prefs = Preferences(w_q=1.0, w_d=0.0)
# the exact price difference, in rational arithmetic
gap = Fraction(tie.price[1]) - Fraction(tie.price[0])
f1_exact = float(Fraction(D) / 2 + gap * Fraction(alpha) / 4)
tie_eq = solve_equilibrium(tie, tie_prefs)
# move a thousandth of the demand to the dearer provider, same multiplier
moved = tie_eq.flows + np.array([[-1e-3 * D, 1e-3 * D]])
moved_cert = kkt_certificate(tie, tie_prefs, moved, tie_eq.multipliers)

# %% tags=["remove-cell"]
glue("ug_tie_exact", f1_exact, display=False)
glue("ug_tie_solver", float(tie_eq.flows[0, 0]), display=False)
glue("ug_tie_err", abs(float(tie_eq.flows[0, 0]) - f1_exact) / D, display=False)
glue("ug_tie_bound", float(tie_eq.certificate.flow_error), display=False)
glue("ug_moved_res", float(moved_cert.max_residual), display=False)

# %% [markdown]
# The exact split sends $f_1 =$ {glue:text}`ug_tie_exact:,.1f` tokens to the cheaper provider;
# the solver returns {glue:text}`ug_tie_solver:,.1f` (error {glue:text}`ug_tie_err:.1e` of the
# demand). Yet flows that move a thousandth of the demand to the dearer provider have KKT
# residuals of only {glue:text}`ug_moved_res:.1e`: at this scale the residuals cannot tell them
# apart. The solver therefore does two more things.
#
# * **Accurate refinement** (`prillm.equilibrium.refine`). When some $K_j$ is large, the final
#   support's solve is refined with residuals formed in double-double arithmetic (about 106
#   bits): the costs carry their rounding error, the multipliers and loads a second double, so
#   that each difference $\lambda_i - c_{ij}$ is known to far more digits than a double holds.
#   The support is then checked again with these accurate flows and reduced costs.
# * **A forward error bound in the certificate.** On a support that passes that check the
#   equilibrium solves one linear system, so the flows' error is what iterative refinement still
#   moves them by, plus the round-off of their evaluation; the certificate's `flow_error` is
#   this bound, each flow relative to its own user's demand (here
#   {glue:text}`ug_tie_bound:.1e`). `certified` requires it below `tol` too.
# * **An exact last resort** (`prillm.equilibrium.rational`). Where even the double-double
#   refinement cannot settle the support (congestion below about $10^{-17}$ of the costs against
#   the smallest user: a capacity of $10^{13}$ times the demand, $w_q = 10^{-6}$ and prices of
#   $10^4$ at once), the equilibrium is solved exactly. Every stored double is a rational, so
#   the fixed-support system of {eq}`ug-kkt` becomes an integer one, solved by fraction-free
#   elimination; the support is settled by active-set steps on exact signs, and the exact flows
#   are rounded to doubles: `flow_error` is then that rounding alone, at most $2^{-53}$ of a
#   user's demand. `Equilibrium.path` says which arithmetic settled an answer (`"double"`,
#   `"double-double"` or `"rational"`). The exact path costs $O(n^3)$ operations on integers
#   that grow with $n$, so it is offered to markets of at most {glue:text}`ug_rational_users`
#   users with demand and {glue:text}`ug_rational_routes` routes; beyond that the solver raises
#   and names the limit rather than return a plausible wrong answer.
#
# Two users of 1 and $10^6$ tokens, two providers of capacity $10^{19}$ tokens at $10^4$ USD
# per million tokens, $w_q = 10^{-6}$: congestion is about $10^{-25}$ of the prices.

# %%
from prillm.market import cost_rounding_error

corner = Market(
    demand=[1.0, 1e6],
    price=[1e4, 1e4],
    capacity=[1e19, 1e19],
    latency=[[0.5, 0.7], [0.3, 0.2]],
)
corner_prefs = Preferences(w_q=1e-6, w_d=1.0)
corner_gc = game_coefficients(corner, corner_prefs)
# the floating-point passes alone (double, then double-double)
corner_dd = solve_active_set(
    corner_gc.cost,
    corner_gc.slope,
    corner_gc.demand,
    cost_lo=cost_rounding_error(corner, corner_prefs),
)
corner_eq = solve_equilibrium(corner, corner_prefs)
assert corner_dd.path == "double-double" and corner_eq.path == "rational"
# each user puts its whole demand on its lower-latency provider
assert np.array_equal(corner_eq.flows, np.diag(corner.demand))

# %% tags=["remove-cell"]
from prillm.equilibrium.rational import MAX_ROUTES, MAX_USERS

glue("ug_corner_dd_bound", float(corner_dd.flow_error.max()), display=False)
glue("ug_corner_bound", float(corner_eq.certificate.flow_error), display=False)
glue("ug_rational_users", MAX_USERS, display=False)
glue("ug_rational_routes", MAX_ROUTES, display=False)

# %% [markdown]
# The double-double pass bounds these flows only to {glue:text}`ug_corner_dd_bound:.1e` of a
# user's demand, far above `tol`; the rational path returns them with bound
# {glue:text}`ug_corner_bound:.1e` (each user's whole demand on its lower-latency provider:
# exact doubles).
#
# The bound {eq}`ug-forward` is the reason residuals alone do not suffice; the bound the
# library reports comes from the linear system on the verified support. The test suite checks
# both against an independent oracle that solves the KKT system in exact rational arithmetic,
# on markets whose capacities range from $10^{-3}$ to $10^{13}$ times the demand
# (`scripts/stress_equilibrium.py`).

# %% [markdown]
# ## Summary
#
# - A user's cost {eq}`ug-cost` is quadratic in its own flows, because its own tokens congest
#   the providers it uses; the users' choices interact through the loads $F_j$.
# - The game has an exact potential {eq}`ug-potential` whose gradient is every user's marginal
#   cost {eq}`ug-gradient`; the equilibria are the minimisers of the convex program
#   {eq}`ug-program`, and its KKT conditions {eq}`ug-kkt` are Wardrop's first principle for
#   atomic users: equal marginal costs on the routes a user uses, no lower ones elsewhere.
# - The potential is strictly convex, so the equilibrium is unique ({prf:ref}`thm-unique-ne`,
#   via Rosen's theorem {prf:ref}`thm-rosen`); the exact solver, random warm starts and
#   best-response dynamics all find the same flows.
# - On a fixed support the equilibrium solves one symmetric positive-definite linear system;
#   an active-set iteration finds the support, and every answer carries a KKT certificate and
#   a Nash gap.
# - Small residuals do not bound the flows when capacities dwarf the demand
#   ({prf:ref}`prop-ug-forward`); the solver then refines in double-double arithmetic and
#   certifies a forward bound on the flows, and where even that cannot settle the support it
#   solves small markets exactly in rational arithmetic.
#
# ## Exercises
#
# ```{exercise} One user: water-filling
# :label: ex-ug-water-filling
#
# Take a market with a single user ($n = 1$). Show that its equilibrium split is
# $f_j = \max(0, \lambda - c_j) / (2 k_j)$, where the "water level" $\lambda$ is fixed by
# $\sum_j f_j = D$, and explain how to find $\lambda$ by sorting the $c_j$. Check it against
# `solve_equilibrium` with `prillm.water_filling`.
# ```
#
# ```{solution-start} ex-ug-water-filling
# :class: dropdown
# ```
#
# With one user, $F_j = f_j$ and the cost is $\sum_j f_j (c_j + k_j f_j)$, with marginal cost
# $c_j + 2 k_j f_j$. The KKT conditions say: $c_j + 2 k_j f_j = \lambda$ where $f_j > 0$ and
# $c_j \ge \lambda$ where $f_j = 0$, i.e. $f_j = \max(0, \lambda - c_j)/(2 k_j)$. The total
# $\sum_j \max(0, \lambda - c_j)/(2k_j)$ increases continuously in $\lambda$, so exactly one
# level meets the demand. Sorting the providers by $c_j$, the used ones form a prefix of the
# sorted list; for a prefix $P$ the level is
# $\lambda_P = (D + \sum_{j \in P} c_j/(2k_j)) / \sum_{j\in P} 1/(2k_j)$, and the answer is the
# longest prefix whose last $c_j$ is below $\lambda_P$.

# %%
one = Market(
    demand=[market.demand[0]],
    price=market.price,
    capacity=market.capacity,
    latency=market.latency[:1],
)
eq_one = solve_equilibrium(one, prefs)
c_one = game_coefficients(one, prefs)
wf, level = water_filling(c_one.cost[0], 2 * c_one.slope, one.demand[0])
wf_err = np.abs(wf - eq_one.flows[0]).max() / one.demand[0]
print(f"max |water-filling - equilibrium| / D = {wf_err:.1e}")
lam_one = eq_one.multipliers[0]
print(f"water level {level:.6f} = lambda {lam_one:.6f} USD / 1M tokens")

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} Two identical providers
# :label: ex-ug-identical
#
# Two providers have the same price, capacity, perceived value, and the same latency for every
# user. Without computing anything, show that at the equilibrium every user sends the same
# amount to each of them. Does the argument need uniqueness? Check it numerically.
# ```
#
# ```{solution-start} ex-ug-identical
# :class: dropdown
# ```
#
# Swapping the two providers' flows in any equilibrium gives a profile with the same costs for
# everyone — again an equilibrium. By {prf:ref}`thm-unique-ne` there is only one, so it is
# invariant under the swap: $f_{i1} = f_{i2}$ for every user. Each user thus splits *what it
# sends to the twins* evenly between them: $D_i/2$ to each when the twins are the only
# providers; when other providers take part of the demand, $(D_i - \sum_{j > 2} f_{ij})/2$ to
# each. Without uniqueness the argument fails: a game with several equilibria can have
# asymmetric ones. In the check below a third provider, cheaper in price but slower and
# valued less, takes
# {glue:text}`ug_twin_third` ({numref}`tbl-ug-twins`), so the twins' flows are equal but
# {glue:text}`ug_twin_half`.

# %%
twin = Market(
    demand=market.demand[:4],
    price=[1.5, 1.5, 0.4],
    capacity=[2e9, 2e9, 1e9],
    latency=[0.6, 0.6, 1.2],
)
twin_prefs = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 1.0, 0.0])
eq_twin = solve_equilibrium(twin, twin_prefs)
f = eq_twin.flows
twin_err = np.max(np.abs(f[:, 0] - f[:, 1]) / twin.demand)
print(f"max |f_i1 - f_i2| / D_i = {twin_err:.1e}")

# %% tags=["remove-cell"]
twins = pd.DataFrame(
    {
        "user": twin.user_ids,
        "demand $D_i$ (tokens)": twin.demand,
        "$f_{i1} / D_i$": f[:, 0] / twin.demand,
        "$f_{i2} / D_i$": f[:, 1] / twin.demand,
        "$f_{i3} / D_i$ (third provider)": f[:, 2] / twin.demand,
    }
)
glue_table(
    "tbl-ug-twins",
    twins,
    caption="Each user's flows to the two identical providers and to the third one, as "
    "shares of its demand.",
    formats={"demand $D_i$ (tokens)": ".3e"}
    | dict.fromkeys(list(twins.columns[2:]), ".4%"),
)
third = f[:, 2] / twin.demand
share_range = f"{third.min():.1%} to {third.max():.1%}"
glue(
    "ug_twin_third",
    f"{share_range} of every user's demand"
    if (third > 0).all()
    else f"part of the demand of {int((third > 0).sum())} of the {len(third)} users",
    display=False,
)
glue(
    "ug_twin_half",
    "below half of each demand" if (third > 0).all() else "half only where it serves nobody",
    display=False,
)

# %% [markdown]
# ```{glue:md} tbl-ug-twins
# :format: myst
# ```
#
# ```{solution-end}
# ```
#
# ```{exercise} The exact potential
# :label: ex-ug-potential
#
# Prove that $\Phi$ of {eq}`ug-potential` is an exact potential: if user $i$ alone changes
# from $\boldsymbol f_i$ to $\boldsymbol f_i'$, then
# $\Phi(\boldsymbol f_i', \mathcal F_{-i}) - \Phi(\boldsymbol f_i, \mathcal F_{-i}) =
# \mathcal C_i(\boldsymbol f_i', \mathcal F_{-i}) - \mathcal C_i(\boldsymbol f_i, \mathcal F_{-i})$.
# ```
#
# ```{solution} ex-ug-potential
# :class: dropdown
#
# Write $G_j = F_j - f_{ij}$ for the others' load on $j$. The terms of $\Phi$ that depend on
# $\boldsymbol f_i$ are $\sum_j \big(c_{ij} f_{ij} + \tfrac{k_j}{2}[(G_j + f_{ij})^2 +
# f_{ij}^2]\big) = \sum_j \big(c_{ij} f_{ij} + k_j G_j f_{ij} + k_j f_{ij}^2\big) + \text{const}$,
# where the constant $\tfrac{k_j}{2} G_j^2$ does not depend on $\boldsymbol f_i$. User $i$'s cost
# is $\sum_j f_{ij}(c_{ij} + k_j(G_j + f_{ij}))$ — the same expression. So both change by the
# same amount when only $\boldsymbol f_i$ changes.
# ```
