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
# the users play a game. This chapter states the game, shows that it has an exact potential,
# derives its equilibrium conditions (Wardrop's first principle), proves that the equilibrium is
# unique (Rosen's theorem), and explains how `prillm` computes it exactly and certifies it.
# Equation numbers refer to the paper {cite}`prillm2026`.

# %% tags=["parameters"]
quick = True

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from myst_nb import glue

import prillm
from prillm import (
    Market,
    Preferences,
    equilibrium_reference,
    game_coefficients,
    kkt_certificate,
    solve_equilibrium,
    water_filling,
)
from prillm.equilibrium import best_response_dynamics, potential, solve_support, user_costs
from prillm.synthetic import plausible_market

plt.rcParams.update({"figure.dpi": 100, "svg.hashsalt": "prillm", "figure.figsize": (7, 3.6)})
rng = np.random.default_rng(0)

# Quick mode: a small market for continuous integration; full mode: the paper's 20 x 20.
n_users, n_providers = (8, 6) if quick else (20, 20)
n_starts = 8 if quick else 50
print(f"prillm {prillm.__version__}: {n_users} users x {n_providers} providers")


# %% [markdown]
# ## A market to play on
#
# We draw a synthetic market with the units of `prillm` (see {doc}`/book/notation`): daily token
# demands around $10^9$ tokens, list prices between a few cents and about ten dollars per
# million tokens, capacities of the order of the total demand divided by the number of
# providers, and latencies between 0.2 and 2 seconds. Users value expensive models more
# ($b_j$ grows with $p_j$), so that no provider wins on price alone.


# %%
market, prefs = plausible_market(rng, n_users, n_providers)
gc = game_coefficients(market, prefs)
eq = solve_equilibrium(market, prefs, check_nash=True)
print("prices (USD / 1M tokens):", np.round(market.price, 3))
print("shares at equilibrium:   ", np.round(eq.shares, 3))

# %% [markdown]
# ## The cost of a user (Eq. 1)
#
# User $u_i$ sends $f_{ij} \ge 0$ tokens to provider $s_j$, with $\sum_j f_{ij} = D_i$. Each token
# costs it the price, the congestion of the provider, the latency, minus the value it perceives:
#
# $$
# \mathcal C_i(\boldsymbol f_i; \mathcal F_{-i}) = \sum_{j} f_{ij}
#   \left(w_p p_j + w_q Q_j + w_d d_{ij} - b_j\right),
# \qquad Q_j = \frac{F_j}{\alpha_j} = \frac{1}{\alpha_j}\sum_{i'} f_{i'j}.
# $$ (ug-cost)
#
# The congestion $Q_j$ includes the user's own flow, so the cost is quadratic in $\boldsymbol f_i$
# and depends on the others' flows $\mathcal F_{-i}$ through the loads $F_j$. With
# $c_{ij} = w_p p_j + w_d d_{ij} - b_j$ and $k_j = w_q/\alpha_j$ (`game_coefficients`), the cost
# reads $\sum_j f_{ij}\,(c_{ij} + k_j F_j)$. Below, Eq. {eq}`ug-cost` is evaluated at the
# equilibrium flows by `prillm.equilibrium.user_costs` (any flow profile, in USD: prices are per
# $10^6$ tokens) and compared with what the equilibrium's multipliers say: on a used route
# $c_{ij} + k_j F_j = \lambda_i - k_j f_{ij}$ (the KKT conditions, Eq. {eq}`ug-kkt` below), so
# $\mathcal C_i = \lambda_i D_i - \sum_j k_j f_{ij}^2$.

# %%
direct = user_costs(market, prefs, eq.flows)
via_multipliers = (eq.multipliers * market.demand - (gc.slope * eq.flows**2).sum(axis=1)) / 1e6
print("Eq. (1) from the flows (USD):       ", np.round(direct, 2))
print("lambda_i D_i - sum_j k_j f_ij^2 (USD):", np.round(via_multipliers, 2))
glue(
    "ug_cost_rel_diff",
    float(np.max(np.abs(direct - via_multipliers) / np.abs(direct))),
    display=False,
)

# %% [markdown]
# The two agree to a relative difference of {glue:text}`ug_cost_rel_diff:.1e`. Some costs are
# negative: a user that values a model above its price and congestion gains from using it.
#
# ```{prf:definition} Nash equilibrium of the user-side game (Definition 1)
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
print(f"user {i0}: cost at equilibrium {at_eq:.2f} USD")
print(f"cheapest of {len(samples)} random deviations: {deviation_costs.min():.2f} USD")
print("deviations that are cheaper:", int(np.sum(deviation_costs < at_eq)))
glue("ug_n_deviations", len(samples), display=False)

# %% [markdown]
# None of the {glue:text}`ug_n_deviations` deviations is cheaper. The exact version of this test,
# a best response computed by water-filling for every user, is part of the solver's
# certificate (its `nash_gap`, below).
#
# ## An exact potential (Eq. 4–5, 12)
#
# The game has an exact potential {cite}`monderer1996`: one function of all flows whose change,
# when a single user changes its split, equals that user's change of cost. Here it is
# (Eq. 4–5, equivalently 9–11)
#
# $$
# \Phi(\mathcal F) = \underbrace{\sum_{i,j} c_{ij} f_{ij}}_{\Phi_{\text{Fixed}}}
#  + \underbrace{\sum_j \frac{w_q}{2\alpha_j}\Big(F_j^2 + \sum_i f_{ij}^2\Big)}
#    _{\Phi_{\text{Congestion}}}.
# $$ (ug-potential)
#
# Differentiating, $\partial \Phi / \partial f_{ij} = c_{ij} + k_j (F_j + f_{ij})$, which is also
# $\partial \mathcal C_i / \partial f_{ij}$ (the own flow appears twice in $\mathcal C_i$: in
# $f_{ij}$ and in $Q_j$):
#
# $$
# \frac{\partial \Phi}{\partial f_{ij}} = \frac{\partial \mathcal C_i}{\partial f_{ij}}
#   = c_{ij} + \frac{w_q}{\alpha_j}\left(F_j + f_{ij}\right).
# $$ (ug-gradient)
#
# We check Eq. {eq}`ug-gradient` numerically at a random feasible profile (not an equilibrium):
# central differences of $\Phi$ (`prillm.equilibrium.potential`, in USD) and of each
# $\mathcal C_i$ against the closed form. Both functions are quadratic, so central differences
# are exact up to round-off.

# %%
profile = rng.dirichlet(np.ones(n_providers), size=n_users) * market.demand[:, None]
closed_form = (gc.cost + gc.slope * (profile.sum(axis=0) + profile)) / 1e6  # USD per token
step = 1e-4 * float(market.demand.min())
grad_phi = np.zeros_like(profile)
grad_cost = np.zeros_like(profile)
for i in range(n_users):
    for j in range(n_providers):
        e = np.zeros_like(profile)
        e[i, j] = step
        d_phi = potential(market, prefs, profile + e) - potential(market, prefs, profile - e)
        d_cost = user_costs(market, prefs, profile + e) - user_costs(market, prefs, profile - e)
        grad_phi[i, j], grad_cost[i, j] = d_phi / (2 * step), d_cost[i] / (2 * step)
scale = np.abs(closed_form).max()
err_phi = float(np.abs(grad_phi - closed_form).max() / scale)
err_cost = float(np.abs(grad_cost - closed_form).max() / scale)
err_both = float(np.abs(grad_phi - grad_cost).max() / scale)
print(f"max |dPhi/df - closed form| / scale = {err_phi:.1e}")
print(f"max |dC_i/df - closed form| / scale = {err_cost:.1e}")
print(f"max |dPhi/df - dC_i/df|     / scale = {err_both:.1e}")
glue("ug_grad_err", max(err_phi, err_cost, err_both), display=False)

# %% [markdown]
# The gradient of the potential and the users' marginal costs agree to
# {glue:text}`ug_grad_err:.1e` (relative). The potential property itself: when user $u_i$
# alone switches from $\boldsymbol f_i$ to $\boldsymbol f_i'$, $\Phi$ changes exactly as much as
# $\mathcal C_i$.

# %%
n_moves = 200
gaps = []
for _ in range(n_moves):
    i = int(rng.integers(n_users))
    moved = np.array(profile)
    moved[i] = rng.dirichlet(np.ones(n_providers)) * market.demand[i]
    d_phi = potential(market, prefs, moved) - potential(market, prefs, profile)
    d_cost = user_costs(market, prefs, moved)[i] - user_costs(market, prefs, profile)[i]
    gaps.append(abs(d_phi - d_cost) / max(abs(d_cost), 1e-6))
glue("ug_potential_gap", float(max(gaps)), display=False)
glue("ug_n_moves", n_moves, display=False)

# %% [markdown]
# Over {glue:text}`ug_n_moves` random unilateral moves, the largest relative mismatch is
# {glue:text}`ug_potential_gap:.1e`: $\Phi$ is an exact potential. Its minimisers over the joint
# strategy set are therefore equilibria, and, because $\Phi$ is convex, every equilibrium
# minimises $\Phi$ (next section).
#
# ## KKT conditions and Wardrop's first principle (Eq. 13–17)
#
# The equilibrium solves the convex program (Eq. 13)
#
# $$
# \min_{\mathcal F} \Phi(\mathcal F) \quad \text{s.t.} \quad \sum_j f_{ij} = D_i,\;
#   f_{ij} \ge 0 .
# $$ (ug-program)
#
# With a multiplier $\lambda_i$ for user $u_i$'s demand and $\mu_{ij} \ge 0$ for $f_{ij} \ge 0$,
# its KKT conditions are (Eq. 14–17, with prillm's sign convention
# $\partial\Phi/\partial f_{ij} = \lambda_i + \mu_{ij}$, see {doc}`/book/notation`)
#
# $$
# c_{ij} + k_j (F_j + f_{ij}) = \lambda_i + \mu_{ij}, \quad \sum_j f_{ij} = D_i,
# \quad f_{ij} \ge 0, \quad \mu_{ij} \ge 0, \quad \mu_{ij} f_{ij} = 0 .
# $$ (ug-kkt)
#
# Read per user, this is **Wardrop's first principle** {cite}`wardrop1952`: every provider a user
# actually uses has the same marginal cost $\lambda_i$, and every provider it does not use has a
# marginal cost at least $\lambda_i$. (Our users are atomic — each application is big enough to
# congest a provider on its own — so it is the *marginal* cost of Eq. {eq}`ug-gradient` that
# equalises, not the cost per token $c_{ij} + k_j F_j$ as for infinitesimal travellers.)
#
# The figure shows the reduced costs $\mu_{ij} = \partial\Phi/\partial f_{ij} - \lambda_i$ at the
# equilibrium computed above: zero on used routes, non-negative on unused ones.

# %%
reduced = eq.marginal_costs - eq.multipliers[:, None]
fig, ax = plt.subplots()
for i in range(n_users):
    used = eq.support[i]
    ax.scatter(np.full(used.sum(), i), reduced[i, used], color="C0", marker="o", s=25)
    ax.scatter(np.full((~used).sum(), i), reduced[i, ~used], color="C3", marker="x", s=25)
ax.axhline(0.0, color="grey", lw=0.8)
ax.set_xlabel("user $i$")
ax.set_ylabel(r"$\mu_{ij}$ (USD / 1M tokens)")
ax.set_title("Reduced costs at the equilibrium: o used routes, x unused routes")
fig.tight_layout()
plt.show()

used_max = float(np.abs(reduced[eq.support]).max())
unused_min = float(reduced[~eq.support].min()) if (~eq.support).any() else float("nan")
glue("ug_used_max", used_max, display=False)
glue("ug_unused_min", unused_min, display=False)
glue("ug_n_used", int(eq.support.sum()), display=False)
glue("ug_n_routes", int(eq.support.size), display=False)

# %% [markdown]
# On the {glue:text}`ug_n_used` used routes (out of {glue:text}`ug_n_routes`), the marginal costs
# differ from $\lambda_i$ by at most {glue:text}`ug_used_max:.1e` USD per million tokens; on the
# unused ones the smallest reduced cost is {glue:text}`ug_unused_min:.2e`, so no user would
# gain by moving a token to a route it does not use. For the largest user, the marginal cost and
# the cost per token differ on its used routes by exactly $k_j f_{ij}$, its own congestion:

# %%
per_token = gc.cost + gc.slope * eq.loads
rows = []
for j in np.flatnonzero(eq.support[i0]):
    rows.append(
        (
            j,
            eq.flows[i0, j] / market.demand[i0],
            eq.marginal_costs[i0, j],
            per_token[i0, j],
            eq.multipliers[i0],
        )
    )
print(f"user {i0}: provider  share   marginal cost  cost per token  lambda_i   (USD / 1M)")
for j, share, mc, pt, lam in rows:
    print(f"{'':8}{j:>8}  {share:6.1%}  {mc:13.4f}  {pt:14.4f}  {lam:8.4f}")

# %% [markdown]
# ## Uniqueness: Rosen's theorem (Theorem 1)
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
# (with all weights $r_i = 1$ and uncoupled strategy sets) of {cite}`rosen1965`.
#
# ```{prf:theorem} Theorem 1 of the paper
# :label: thm-unique-ne
#
# For any prices $\mathcal P$, if $w_q > 0$ and every $\alpha_j > 0$, the user-side game has
# exactly one Nash equilibrium, and it is the unique minimiser of $\Phi$ in
# Eq. {eq}`ug-program`.
# ```
#
# ```{prf:proof}
# Each strategy set $\{\boldsymbol f_i \ge 0 : \sum_j f_{ij} = D_i\}$ is a scaled simplex:
# non-empty, compact and convex. $\mathcal C_i$ is a polynomial, hence continuous, and its
# Hessian in $\boldsymbol f_i$ is diagonal with entries $2 w_q/\alpha_j > 0$ (Eq. 8), so it is
# strictly convex in $\boldsymbol f_i$; Rosen's first part gives existence.
#
# For uniqueness, strict convexity of each $\mathcal C_i$ in its own variables is not enough by
# itself; Rosen's condition is about the joint pseudo-gradient. By Eq. {eq}`ug-gradient`, the
# pseudo-gradient is the gradient of the potential, $g = \nabla\Phi$. The Hessian of $\Phi$ is
# block diagonal over providers, with block $k_j (I_n + \mathbf 1 \mathbf 1^\top)$ for provider
# $j$; its eigenvalues are $k_j$ (multiplicity $n-1$) and $(n+1) k_j$, all positive. So $\Phi$ is
# strictly convex and $(x-y)^\top(\nabla\Phi(x) - \nabla\Phi(y)) > 0$ for $x \ne y$: the pseudo-
# gradient is strictly monotone, and the equilibrium is unique.
#
# Finally, $\boldsymbol f_i^*$ is a best response if and only if it satisfies user $i$'s own KKT
# conditions, which by Eq. {eq}`ug-gradient` are the rows of Eq. {eq}`ug-kkt`; so the
# equilibria are exactly the KKT points of Eq. {eq}`ug-program`, i.e. its minimisers (a convex
# program with linear constraints), and the strictly convex $\Phi$ has exactly one.
# ```
#
# The paper's proof sketch checks the strict convexity of each $\mathcal C_i$ in $\boldsymbol f_i$
# and then invokes Rosen; the step above that it leaves implicit is the monotonicity of the
# joint pseudo-gradient, which here follows from the potential. The Hessian of $\Phi$, built by
# differentiating the closed-form gradient numerically, has exactly the predicted spectrum:


# %%
def grad_potential(flat: np.ndarray) -> np.ndarray:
    """Eq. (12) as a function of the flattened flows."""
    flows = flat.reshape(n_users, n_providers)
    return (gc.cost + gc.slope * (flows.sum(axis=0) + flows)).ravel()


x0 = profile.ravel()
h = 1e-3 * float(market.demand.min())
hessian = np.column_stack(
    [(grad_potential(x0 + h * e) - grad_potential(x0 - h * e)) / (2 * h) for e in np.eye(x0.size)]
)
eigs = np.linalg.eigvalsh(0.5 * (hessian + hessian.T))
predicted = np.sort(np.concatenate([np.repeat(gc.slope, n_users - 1), (n_users + 1) * gc.slope]))
print(f"Hessian of Phi: {hessian.shape}, symmetric to {np.abs(hessian - hessian.T).max():.1e}")
print(f"smallest eigenvalue {eigs.min():.4e}  (min_j k_j = {gc.slope.min():.4e})")
largest_predicted = (n_users + 1) * gc.slope.max()
print(f"largest eigenvalue  {eigs.max():.4e}  ((n+1) max_j k_j = {largest_predicted:.4e})")
glue("ug_eig_err", float(np.abs(np.sort(eigs) - predicted).max() / predicted.max()), display=False)

# %% [markdown]
# All eigenvalues match the closed form to a relative {glue:text}`ug_eig_err:.1e`.
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
spread = max(float(np.abs(w.flows - eq.flows).max()) for w in warm) / market.demand.max()
iters = [w.iterations for w in warm]
print(f"{n_starts} random starting supports: max |f - f*| / max D = {spread:.1e}")
print(f"active-set iterations: cold start {eq.iterations}, random starts {min(iters)}-{max(iters)}")
glue("ug_warm_spread", float(spread), display=False)

# %% [markdown]
# `prillm.equilibrium.best_response_dynamics` plays the rounds: in each, every user in turn
# water-fills against the others' current loads (its marginal cost on $j$ is
# $c_{ij} + k_j F_{-i,j} + 2 k_j f_{ij}$, Eq. 12), and it records the profiles and their
# potential.

# %%
phi_star = potential(market, prefs, eq.flows)
sweeps = 30 if quick else 60
fig, ax = plt.subplots()
final_gaps = []
for _ in range(min(n_starts, 8)):
    start = rng.dirichlet(np.ones(n_providers), size=n_users) * market.demand[:, None]
    trajectory = best_response_dynamics(market, prefs, start, rounds=sweeps)
    history, final = trajectory.potential, trajectory.final
    final_gaps.append(float(np.abs(final - eq.flows).max() / market.demand.max()))
    gap = np.maximum(np.array(history) - phi_star, 1e-300) / abs(phi_star)
    ax.semilogy(gap, color="C0", alpha=0.7)
ax.set_xlabel("sweep (every user plays its best response once)")
ax.set_ylabel(r"$(\Phi - \Phi^*) / |\Phi^*|$")
ax.set_title("Best-response dynamics from random starts")
fig.tight_layout()
plt.show()
print(f"after {sweeps} sweeps: max |f - f*| / max D = {max(final_gaps):.1e}")
glue("ug_brd_gap", max(final_gaps), display=False)
glue("ug_brd_sweeps", sweeps, display=False)

# %% [markdown]
# From every random support the exact solver returns the same flows (largest difference
# {glue:text}`ug_warm_spread:.1e` of the largest demand), and best-response dynamics reach them
# too, after {glue:text}`ug_brd_sweeps` sweeps to within {glue:text}`ug_brd_gap:.1e`. Best-response
# dynamics converge only linearly; the exact solver needs a handful of linear solves.
#
# ## How the exact solver works
#
# **A fixed support gives a linear system.** Suppose we knew the support — which user uses which
# provider. Then Eq. {eq}`ug-kkt` is linear: on the support, $c_{ij} + k_j(F_j + f_{ij}) =
# \lambda_i$, so with $K_j = 1/k_j = \alpha_j / w_q$,
# $f_{ij} = K_j(\lambda_i - c_{ij}) - F_j$; summing over the $n_j$ users of provider $j$ gives
# $F_j = K_j \sum_{i \in U_j} (\lambda_i - c_{ij}) / (1 + n_j)$, and the demand constraints
# leave an $n \times n$ symmetric positive-definite system in $\lambda$ (or an $m \times m$ one in
# the loads $F$), solved by a Cholesky factorisation (`prillm.equilibrium.solve_support`). Given
# the support of the equilibrium, this one solve reproduces it to round-off:

# %%
lam, loads, flows = solve_support(gc.cost, 1.0 / gc.slope, market.demand, np.array(eq.support))
print(f"max |f - f*| / max D = {np.abs(flows - eq.flows).max() / market.demand.max():.1e}")
print(f"max |lambda - lambda*| = {np.abs(lam - eq.multipliers).max():.1e} USD / 1M tokens")

# %% [markdown]
# **Pivoting finds the support.** With a wrong support the same system still has a solution,
# but some flows come out negative (a route that should be dropped) or some unused route has a
# negative reduced cost $\mu_{ij} = c_{ij} + k_j F_j - \lambda_i$ (a route that should be
# added). Starting from the full support:

# %%
full = np.ones((n_users, n_providers), dtype=bool)
lam, loads, flows = solve_support(gc.cost, 1.0 / gc.slope, market.demand, full)
print(f"full support: {int((flows < 0).sum())} negative flows out of {flows.size}")
print(f"true support: {int(eq.support.sum())} routes used")

# %% [markdown]
# The solver's primal-dual active-set iteration {cite}`hintermuller2003` drops every route with
# a negative flow and adds every unused route with a negative reduced cost, all at once, and
# solves again, until neither happens; the final support satisfies all of Eq. {eq}`ug-kkt`, so
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
# its tolerance.

# %%
ref = equilibrium_reference(market, prefs)
# measured on the exact support: the interior-point solution leaves tiny flows everywhere
ref_cert = kkt_certificate(market, prefs, ref.flows, ref.multipliers, support=eq.support)
fields = ("primal", "stationarity", "dual", "complementarity", "nash_gap")
print(f"{'residual':>16}  {'exact solver':>12}  {'cvxpy/Clarabel':>14}")
for name in fields:
    ours, theirs = getattr(eq.certificate, name) + 0.0, getattr(ref_cert, name) + 0.0
    print(f"{name:>16}  {ours:12.1e}  {theirs:14.1e}")
print(f"{'certified':>16}  {eq.certificate.certified!s:>12}  {ref_cert.certified!s:>14}")
flow_diff = float(np.abs(ref.flows - eq.flows).max() / market.demand.max())
print(f"max |f_exact - f_cvxpy| / max D = {flow_diff:.1e}")
glue("ug_ref_diff", flow_diff, display=False)

# %% [markdown]
# The two solvers agree to {glue:text}`ug_ref_diff:.1e` of the largest demand. The reference's
# residuals are measured on the exact solver's support: the interior-point method stops at a
# tolerance and leaves tiny flows on routes that should be empty, so its residuals sit near its
# stopping tolerance rather than at round-off. Run times on this machine (they vary from run to
# run, unlike every other number in this book):


# %% tags=["timing"]
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
print(f"exact solver {t_exact * 1e3:.2f} ms, cvxpy reference {t_ref * 1e3:.1f} ms")

# %% [markdown]
# ## When small residuals are not enough: a bound on the flows
#
# The residuals above measure how well the flows satisfy Eq. {eq}`ug-kkt` — a *backward* error.
# How far can flows with tiny residuals be from the equilibrium itself? The potential answers.
#
# ```{prf:proposition} Residuals bound the flows, weakly
# :label: prop-ug-forward
#
# Let $f$ be feasible, $\lambda$ any multipliers and $\mu_{ij} = g_{ij}(f) - \lambda_i$ its reduced
# costs. Then the equilibrium $f^*$ satisfies
#
# $$
# \sum_j k_j \sum_i (f_{ij} - f^*_{ij})^2 \;\le\; \sum_{ij} \mu_{ij} f_{ij}
#   + \sum_i D_i \max_j\,(-\mu_{ij})^+ =: r ,
# $$ (ug-forward)
#
# so every flow is within $\sqrt{r / k_j} = \sqrt{r K_j}$ of the equilibrium's.
# ```
#
# ```{prf:proof}
# The Hessian of the potential is block-diagonal with blocks $k_j(\mathbf 1 \mathbf 1^\top + I)$,
# so $\langle g(f) - g(f^*), f - f^* \rangle \ge \sum_j k_j \lVert f_{\cdot j} - f^*_{\cdot j}
# \rVert^2$ (strong monotonicity). At the equilibrium $\langle g(f^*), f - f^* \rangle \ge 0$ for
# every feasible $f$ (the variational form of Eq. {eq}`ug-kkt`). Hence the left side of
# Eq. {eq}`ug-forward` is at most $\langle g(f), f - f^* \rangle$. Both $f$ and $f^*$ meet the
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
gap = Fraction(tie.price[1]) - Fraction(tie.price[0])  # the exact price difference
f1_exact = float(Fraction(D) / 2 + gap * Fraction(alpha) / 4)
tie_eq = solve_equilibrium(tie, tie_prefs)
# flows that move a thousandth of the demand to the dearer provider, same multiplier
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
#   {glue:text}`ug_tie_bound:.1e`). `certified` requires it below `tol` too; where it cannot be
#   shown the solver raises and says so rather than return a plausible wrong answer.
#
# Eq. {eq}`ug-forward` is the reason residuals alone do not suffice; the bound the library reports
# comes from the linear system on the verified support. The test suite checks both against an
# independent oracle that solves the KKT system in exact rational arithmetic, on markets whose
# capacities range from $10^{-3}$ to $10^{13}$ times the demand (`scripts/stress_equilibrium.py`).

# %% [markdown]
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
print(f"water level {level:.6f} = lambda {eq_one.multipliers[0]:.6f} USD / 1M tokens")

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} Two identical providers
# :label: ex-ug-identical
#
# Two providers have the same price, capacity, perceived value, and the same latency for every
# user. Without computing anything, show that at the equilibrium every user splits its demand
# evenly between them. Does the argument need uniqueness? Check it numerically.
# ```
#
# ```{solution-start} ex-ug-identical
# :class: dropdown
# ```
#
# Swapping the two providers' flows in any equilibrium gives a profile with the same costs for
# everyone — again an equilibrium. By {prf:ref}`thm-unique-ne` there is only one, so it is
# invariant under the swap: $f_{i1} = f_{i2}$ for every user, and each sends $D_i/2$ to each
# (if it uses them at all; a third, cheaper provider may take part of the demand). Without
# uniqueness the argument fails: a game with several equilibria can have asymmetric ones.

# %%
twin = Market(
    demand=market.demand[:4],
    price=[1.5, 1.5, 0.4],
    capacity=[2e9, 2e9, 1e9],
    latency=[0.6, 0.6, 1.2],
)
eq_twin = solve_equilibrium(twin, Preferences(w_q=2.0, w_d=0.5, b=[1.0, 1.0, 0.0]))
print("flows to the two twins (tokens):")
print(np.round(eq_twin.flows[:, :2], 1))
twin_err = np.max(np.abs(eq_twin.flows[:, 0] - eq_twin.flows[:, 1]) / twin.demand)
print(f"max |f_i1 - f_i2| / D_i = {twin_err:.1e}")

# %% [markdown]
# ```{solution-end}
# ```
#
# ```{exercise} The exact potential
# :label: ex-ug-potential
#
# Prove that $\Phi$ of Eq. {eq}`ug-potential` is an exact potential: if user $i$ alone changes
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
