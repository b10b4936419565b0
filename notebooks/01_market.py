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
# paper {cite}`prillm2026` models this market as a game: this chapter introduces its players and
# its units, solves a first small market, and tours the data shipped with `prillm`.

# %% tags=["parameters"]
quick = True

# %%
import matplotlib.pyplot as plt
import numpy as np
from myst_nb import glue

from prillm import data as prillm_data
from prillm import solve_equilibrium
from prillm.market import PREFERENCE_UNITS, UNITS
from prillm.synthetic import demo_market

plt.rcParams.update({"figure.dpi": 100, "svg.hashsalt": "prillm", "figure.figsize": (7, 3.6)})
print("quick mode" if quick else "full mode")

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
#   latency, and $b_j$ is the value users perceive in provider $j$ (quality, brand). A token sent
#   to $j$ costs user $i$ the generalised price $w_p p_j + w_q Q_j + w_d d_{ij} - b_j$ (Eq. 1).
#
# One provider, the **target**, chooses its price to maximise its profit while the others'
# prices are fixed; the users then settle into an equilibrium ({doc}`02_user_game`), and the
# target's profit is its price times the load it receives ({doc}`03_stackelberg_pricing`).
#
# ### Units
#
# `prillm` fixes one unit per quantity (the `prillm.market` module docstring); with them a
# generalised price is in USD per million tokens and `price * flow / 1e6` is money in USD.

# %%
print(f"{'quantity':<16}unit")
for name, unit in {**UNITS, **PREFERENCE_UNITS}.items():
    print(f"{name:<16}{unit}")

# %% [markdown]
# ## A first market
#
# The market of `prillm demo`: four applications and three providers — an expensive premium
# model, a mid-range one and a budget one — with preferences that value the premium model most.

# %%
market, prefs = demo_market()
print(f"{'provider':<13}{'price $/1M':>11}{'capacity':>12}{'value b':>9}")
_, _, _, b = prefs.values_for(market)
for j, pid in enumerate(market.provider_ids):
    print(f"{pid:<13}{market.price[j]:>11.2f}{market.capacity[j]:>12.2e}{b[j]:>9.2f}")
print(f"\n{'app':<14}{'demand (tokens/day)':>20}")
for i, uid in enumerate(market.user_ids):
    print(f"{uid:<14}{market.demand[i]:>20.2e}")

# %% [markdown]
# The same market as a file (`Market.to_json` writes this; `prillm solve FILE` solves it):

# %%
spec = market.to_dict(prefs)
print("providers:", spec["providers"])
print("users:    ", spec["users"])
print("latency:  ", spec["latency"])
print("preferences:", {k: spec["preferences"][k] for k in ("w_p", "w_q", "w_d", "b")})

# %% [markdown]
# At the equilibrium each application splits its tokens; the premium model keeps a large share
# despite its price because users value it, and congestion spreads the load:

# %%
eq = solve_equilibrium(market, prefs)
print(f"{'provider':<13}{'share':>7}{'congestion Q':>14}{'revenue $/day':>15}")
for j, pid in enumerate(market.provider_ids):
    print(f"{pid:<13}{eq.shares[j]:>7.1%}{eq.congestion[j]:>14.2f}{eq.revenue(j):>15,.0f}")
print("\nshare of each app's tokens per provider:")
print(np.round(eq.flows / market.demand[:, None], 3))

# %% [markdown]
# What if the premium provider cut its price from {glue:text}`mk_old_price:.0f` to
# {glue:text}`mk_new_price:.0f` USD per million tokens? The users re-route, and the cut pays
# only if the extra load makes up for the lower price — the question of
# {doc}`03_stackelberg_pricing`.

# %%
new_price = 2.0
cut = solve_equilibrium(market.with_price("premium-llm", new_price), prefs, warm_start=eq)
glue("mk_old_price", float(market.price[0]), display=False)
glue("mk_new_price", new_price, display=False)
print(f"premium share {eq.shares[0]:.1%} -> {cut.shares[0]:.1%}")
print(f"premium revenue {eq.revenue(0):,.0f} -> {cut.revenue(0):,.0f} USD/day")

# %% [markdown]
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
# ({glue:text}`mk_daily_selection`) over {glue:text}`mk_daily_period`. Variants (free,
# thinking, ...) are folded into their model here.

# %%
daily = prillm_data.load_models_daily()
glue("mk_daily_selection", daily.meta["selection"], display=False)
glue("mk_daily_period", daily.meta["period"], display=False)
complete = daily.filter(daily["day_complete"] == 1)
base_ids = np.array([mid.split(":")[0] for mid in complete["model_id"]])
dates = sorted(set(complete["date"]))
models = sorted(set(base_ids))
tokens = np.zeros((len(dates), len(models)))
day_index = {d: k for k, d in enumerate(dates)}
model_index = {m: k for k, m in enumerate(models)}
for d, mid, t in zip(complete["date"], base_ids, complete["tokens"], strict=True):
    tokens[day_index[d], model_index[mid]] += t
top = np.argsort(-tokens.sum(axis=0))[:8]
shares = tokens / tokens.sum(axis=1, keepdims=True)
print(f"{len(dates)} complete days, {len(models)} models; {daily.meta['attribution']}")
print(f"tokens per day (top-50 variants): {tokens.sum(axis=1).mean():.2e} on average")

fig, ax = plt.subplots(figsize=(8, 3.8))
ax.stackplot(
    np.arange(len(dates)),
    shares[:, top].T,
    labels=[models[k] for k in top],
    alpha=0.85,
)
ax.set_xticks(np.arange(0, len(dates), 7), [dates[k][5:] for k in range(0, len(dates), 7)])
ax.set_ylabel("share of daily tokens")
ax.set_title("The eight largest models' share of the top-50 tokens (rest: white)")
ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
fig.tight_layout()
plt.show()
glue("mk_n_days", len(dates), display=False)
glue("mk_top_share", float(shares[:, top[0]].mean()), display=False)
glue("mk_top_model", str(models[top[0]]), display=False)

# %% [markdown]
# Over these {glue:text}`mk_n_days` days the largest model, {glue:text}`mk_top_model`, carried
# {glue:text}`mk_top_share:.0%` of the tokens on average. No model dominates: applications
# spread their traffic, which is what the routing game describes.
#
# ### Prices over time
#
# `load_price_history()` records every change of list price (input and output prices, USD per
# million tokens) of those models and of the models in the 2026 app snapshot below. Prices move
# in steps, often, and not only downwards — a provider re-prices against its rivals, which is the
# decision this book is about:

# %%
history = prillm_data.load_price_history()
ids, counts = np.unique(history["model_id"], return_counts=True)
busiest = ids[np.argsort(-counts, kind="stable")[:6]]
fig, ax = plt.subplots(figsize=(8, 3.6))
for mid in busiest:
    rows = history.where("model_id", mid)
    days = np.array(rows["change_date"], dtype="datetime64[D]")
    last = np.datetime64(rows["last_seen"][-1], "D")
    price = np.asarray(rows["input_price_usd_per_mtok"], dtype=float)
    ax.step(np.append(days, last), np.append(price, price[-1]), where="post", label=mid)
ax.set_yscale("log")
ax.set_ylabel("input price (USD / 1M tokens)")
ax.set_title("List-price history of the six most re-priced models")
ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
fig.autofmt_xdate()
fig.tight_layout()
plt.show()
print(f"{len(history)} price changes of {len(ids)} models; {history.meta['period']}")

# %% [markdown]
# ### Flows between apps and models
#
# `load_app_flows()` is one public snapshot of which applications send how many tokens to which
# models — the observed counterpart of the flows $f_{ij}$. Only the top public apps of each model
# are listed, so the matrix is sparse and partial.

# %%
flows_table = prillm_data.load_app_flows()
apps = np.array(flows_table["app"])
mids = np.array([m.split(":")[0] for m in flows_table["model_id"]])
vol = np.asarray(flows_table["tokens"], dtype=float)
app_names = sorted(set(apps))
model_names = sorted(set(mids))
mat = np.zeros((len(app_names), len(model_names)))
for a, mname, v in zip(apps, mids, vol, strict=True):
    mat[app_names.index(a), model_names.index(mname)] += v
n_show = 12 if quick else 20
rows_top = np.argsort(-mat.sum(axis=1), kind="stable")[:n_show]
cols_top = np.argsort(-mat.sum(axis=0), kind="stable")[:n_show]
sub = mat[np.ix_(rows_top, cols_top)]
fig, ax = plt.subplots(figsize=(8, 5))
with np.errstate(divide="ignore"):
    image = ax.imshow(np.where(sub > 0, np.log10(sub), np.nan), cmap="viridis", aspect="auto")
ax.set_xticks(range(len(cols_top)), [model_names[k] for k in cols_top], rotation=75, fontsize=7)
ax.set_yticks(range(len(rows_top)), [app_names[k] for k in rows_top], fontsize=7)
fig.colorbar(image, ax=ax, label="log10 tokens in the snapshot window")
ax.set_title(f"Top {n_show} apps x top {n_show} models (blank: not listed)")
fig.tight_layout()
plt.show()
print(f"{len(app_names)} apps, {len(model_names)} models, {int((mat > 0).sum())} listed pairs")
print(flows_table.meta["attribution"])

# %% [markdown]
# ### Throughput and latency
#
# `load_performance()` summarises, per model, the fastest endpoint's throughput (tokens per
# second) and median latency. The paper estimates a provider's capacity as its token volume
# divided by its throughput, $\alpha_j = T_j / v_j$, and uses latency for $d_{ij}$.

# %%
perf = prillm_data.load_performance()
thr = np.asarray(perf["throughput_tok_s_median"], dtype=float)
lat = np.asarray(perf["latency_s_median"], dtype=float)
price = np.asarray(perf["price_usd_per_mtok_median"], dtype=float)
fig, ax = plt.subplots()
points = ax.scatter(thr, lat, c=np.log10(np.maximum(price, 1e-3)), cmap="plasma", s=18)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("throughput (tokens / s, median)")
ax.set_ylabel("latency (s, median)")
fig.colorbar(points, ax=ax, label="log10 price (USD / 1M tokens)")
ax.set_title(f"{len(perf)} models: {perf.meta['period']}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ### The generated calibration panel
#
# `load_panel()` returns a panel of daily markets (its size is printed below), built from the
# facts above, whose flows are the exact equilibria of planted preferences, then multiplied by
# log-normal noise. The price each app pays in it is the list price above times a generated
# day-to-day factor of mean one: OpenRouter's list prices are headline prices, while the
# effective price moves with routing, cache discounts and promotions, and without such moves
# the preferences could not be told apart from a multiple of them (see the calibration
# chapter). `panel.list_price` keeps the list prices. Because the truth is known, the
# calibration chapter can measure how well the preferences are recovered. Everything in the
# panel except its list prices and the facts it was built from is **generated**, not observed.

# %%
panel = prillm_data.load_panel()
t_days, n_apps, n_models = panel.shape
print(f"{t_days} days x {n_apps} apps x {n_models} models, {panel.dates[0]}..{panel.dates[-1]}")
print("noise:", panel.noise["formula"])
truth = panel.truth
print(f"planted preferences: w_p={truth.w_p}, w_q={truth.w_q}, w_d={truth.w_d}")
print("segments:", {name: len(ids) for name, ids in panel.segments.items()})
ratio = panel.price / panel.list_price
print(
    f"effective / list price: 5-95 % range {np.quantile(ratio, 0.05):.2f}-"
    f"{np.quantile(ratio, 0.95):.2f} (generated, sigma {panel.info['parameters']['price_sigma']})"
)
day0 = panel.markets[0]
exact0 = panel.exact_flows[0]
check = solve_equilibrium(day0, truth)
print(
    f"day 0 re-solved with the planted preferences: max |f - f_exact| / max D = "
    f"{np.abs(check.flows - exact0).max() / day0.demand.max():.1e}"
)

fig, ax = plt.subplots(figsize=(4.8, 4.2))
used = exact0 > 0
ax.loglog(exact0[used], day0.observed_flows[used], ".", ms=4)
lims = [exact0[used].min(), exact0[used].max()]
ax.plot(lims, lims, color="grey", lw=0.8)
ax.set_xlabel("equilibrium flow (tokens / day)")
ax.set_ylabel("observed flow (tokens / day)")
ax.set_title(f"Day {panel.dates[0]}: noise on the planted equilibrium", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# The shipped panel's day-0 flows are reproduced by solving that day's market with the planted
# preferences; the observed flows scatter around them by the stated noise. The next chapter
# turns to the game that produced them.
