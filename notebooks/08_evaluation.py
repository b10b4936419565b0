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
# # Evaluating the pricing methods
#
# Section 6 of the paper {cite}`prillm2026` measures every pricing method on four market
# segments (its Table 1), compares three ways of abstracting the rivals (its Table 3) and
# varies the number $K$ of rivals the abstraction keeps. Its headline: PriLLM, deep aggregation
# to $K = 2$ rivals followed by SPITER, reaches more than {glue:text}`paper_share:.0%` of the
# optimal profit in less than {glue:text}`paper_time:.0%` of the brute force's time, and beats
# pMPEC and Smooth, the best baselines, by {glue:text}`paper_pmpec_mean:.1%` and
# {glue:text}`paper_smooth_mean:.1%` on average.
#
# **This chapter** runs those three experiments on held-out scenarios of the shipped planted
# panel, shows the results as tables and a figure, puts the paper's written statements beside
# them, and discusses every difference. The per-cell figures of the paper's tables are typeset
# as images and are not in the text we have; only its statements can be compared.
#
# **What you need**: the pricing methods of {doc}`04_pricing_methods` (the exact price path,
# which is the reference here, SPITER, the brute force and the Pyomo baselines), the planted
# panel of {doc}`05_calibration` and the abstraction of {doc}`07_abstraction`. Every number
# below is computed by `prillm.experiments` (its `table1` and `table3` modules, run through
# `run_sweep`) when this page is built.

# %% tags=["parameters", "remove-cell"]
quick = True

# %% tags=["remove-cell"]
# Book plumbing: the figure style and the table and figure functions of notebooks/booktools.py.
import itertools
import re

import matplotlib.pyplot as plt
from booktools import glue_figure, glue_table, setup_book
from myst_nb import glue

from prillm.data import load_panel
from prillm.experiments import (
    PAPER_IMPROVEMENT,
    PAPER_K_GAP,
    PAPER_TABLE3,
    TABLE1_OPTIONS,
)
from prillm.experiments.scenario_runs import held_out_days

setup_book()

# The paper's own statements (abstract and Section 1, contribution 4(c)), quoted, not computed.
PAPER = {"share": 0.95, "time": 0.05}
for key, value in PAPER.items():
    glue(f"paper_{key}", value, display=False)
for base, claim in PAPER_IMPROVEMENT.items():
    glue(f"paper_{base}_mean", claim["mean"], display=False)
    glue(f"paper_{base}_max", claim["max"], display=False)
glue("paper_da_min", PAPER_TABLE3["da_share_min"], display=False)
glue("paper_gap_k1", PAPER_K_GAP[1], display=False)
glue("paper_gap_k4", PAPER_K_GAP[4], display=False)

LABEL = {
    "exact": "exact path",
    "spiter": "SPITER",
    "bf": "BF",
    "pmpec": "pMPEC",
    "smooth": "Smooth",
    "odca": "ODCA",
    "spgce": "SPGCE",
    "prillm": "PriLLM",
    "da": "DA",
    "min": "MIN",
    "avg": "AVG",
}


def pct(v):
    """A share of the optimum as a percentage."""
    return f"{100 * v:.2f} %"


def mean_worst(rows, key):
    """Rows of a summary as 'mean / worst' cells, method x group."""
    out = {}
    for r in rows:
        if r["share_mean"] is None:
            cell = "over budget" if r["method"] == "bf" else "failed"
        else:
            cell = f"{pct(r['share_mean'])} / {pct(r['share_worst'])}"
        out.setdefault(LABEL[r["method"]], {})[r[key]] = cell
    return out


# %%
import pandas as pd

from prillm.experiments import (
    K_SWEEP_QUICK,
    TABLE1_QUICK,
    TABLE3_QUICK,
    improvement_over,
    k_sweep,
    summarise_k_sweep,
    summarise_table1,
    summarise_table3,
    table1_records,
    table3_records,
)

# quick: the experiments' quick arguments (one scenario per segment, short
# budgets); full: their defaults (5 scenarios, BF for 5 s, Pyomo for 20 s)
table1_args = TABLE1_QUICK if quick else {}
table3_args = TABLE3_QUICK if quick else {}
sweep_args = K_SWEEP_QUICK if quick else {}
# in this process: worker processes would need a main-module guard
executor = "serial"

# %% [markdown]
# ## The four segments
#
# The paper cuts its OpenRouter market into four segments: Premium and Economy "delineated by
# API price points (e.g., above/below \$1 per million tokens)", Coding and Translation
# "formulated based on application-specific usage data" (paper Section 6.1). We cut the
# shipped planted panel ({glue:text}`ev_panel_models` models x {glue:text}`ev_panel_apps`
# apps x {glue:text}`ev_panel_days` days, the datasheet of `prillm.data`) the same way
# ({numref}`tbl-ev-segments`):
#
# - **Premium** and **Economy**: the models whose median list price is above (below) 1 USD
#   per million input tokens, with the apps that use them; each app's demand becomes its flow
#   to those models, which is an exact equilibrium of the smaller game;
# - **Coding** and **Translation**: the coding (translation) apps, with the models that carry
#   at least 2 % of their exact traffic; each model's capacity is scaled to the share of its
#   load these apps used, and every day is re-solved.
#
# A *scenario* (`prillm.experiments.scenario_runs`) takes one of the held-out days of the
# abstraction's split (days {glue:text}`ev_first_test` to {glue:text}`ev_last_test`: the
# aggregation network never saw them), a target drawn
# at random among that day's models, and the rivals perturbed as in the network's training
# data. Every method prices the same scenario; its profit is then evaluated in the true game
# and divided by the exact optimum. The reference is the exact price path, the certified
# global optimum, not the brute force (BF) as in the paper: on these markets BF cannot finish
# (below).

# %% tags=["remove-cell"]
panel = load_panel()
test_days = held_out_days(panel.shape[0])
for key, value in zip(("days", "apps", "models"), panel.shape, strict=True):
    glue(f"ev_panel_{key}", value, display=False)
glue("ev_first_test", test_days[0], display=False)
glue("ev_last_test", test_days[-1], display=False)
rules = {
    "Premium": "median list price above 1 USD per million input tokens",
    "Economy": "median list price below 1 USD per million input tokens",
    "Coding": "the coding apps; models with at least 2 % of their traffic",
    "Translation": "the translation apps; models with at least 2 % of their traffic",
}
segment_rows = []
for name, rule in rules.items():
    days, apps, models = panel.segment(name).shape
    segment_rows.append({"segment": name, "rule": rule, "models": models, "apps": apps})
    glue(f"ev_{name.lower()}_models", models, display=False)
glue_table(
    "tbl-ev-segments",
    pd.DataFrame(segment_rows),
    caption="The four segments of the planted panel: how each is delineated, and its size "
    "(models and apps; every segment spans the panel's days).",
)

# %% [markdown]
# ```{glue:md} tbl-ev-segments
# :format: myst
# ```
#
# ## Table 1: every method on every segment
#
# Eight methods price each scenario: the exact path, SPITER, BF, pMPEC, Smooth, ODCA, SPGCE
# and PriLLM. BF enumerates the KKT branches of the user-side game (every non-empty support of
# every user) within a time budget; the Pyomo methods pMPEC and Smooth run their homotopies
# within a wall-clock cap of {glue:text}`ev_cap:g` s.

# %%
records = table1_records(**table1_args, executor=executor)
summary = summarise_table1(records)
gains = improvement_over(records)

# %% tags=["remove-cell"]
segments = list(rules)
options = {**TABLE1_OPTIONS, **table1_args.get("options", {})}
cap = options["pmpec"]["time_limit"]
n_scen = table1_args.get("scenarios_per_segment", 5)
glue("ev_cap", cap, display=False)
glue("ev_scenarios", n_scen, display=False)
cells = mean_worst(summary, "segment")
bf_branches = {}
for r in records:
    if r["method"] == "bf" and r["bf_branches"] is not None:
        bf_branches.setdefault(r["family"], []).append(float(r["bf_branches"]))
table1 = pd.DataFrame(cells).T[segments]
table1.index.name = "method"
glue_table(
    "tbl-ev-table1",
    table1,
    caption="Table 1 on the planted panel: each method's profit in the true game as a "
    "share of the exact optimum, mean / worst over the held-out scenarios of each segment. "
    "BF never finished within its budget.",
    index=True,
)
by = {(r["segment"], r["method"]): r for r in summary}
prillm_worst = min(by[(s, "prillm")]["share_worst"] for s in segments)
prillm_mean = min(by[(s, "prillm")]["share_mean"] for s in segments)
bf_over = sum(by[(s, "bf")]["over_budget"] for s in segments)
bf_all = sum(by[(s, "bf")]["scenarios"] for s in segments)
glue("ev_prillm_worst", prillm_worst, display=False)
glue("ev_prillm_mean_low", prillm_mean, display=False)
glue("ev_bf_over", bf_over, display=False)
glue("ev_bf_all", bf_all, display=False)
glue("ev_bf_min_branches", min(min(v) for v in bf_branches.values()), display=False)
glue("ev_bf_max_branches", max(max(v) for v in bf_branches.values()), display=False)
exact_rivals = [s for s in segments if by[(s, "spiter")]["share_worst"] > 1 - 1e-6]
glue("ev_spiter_exact", ", ".join(exact_rivals) or "none", display=False)
if bf_over != bf_all:
    raise RuntimeError("the text assumes BF never finishes within its budget")

# %% [markdown]
# ```{glue:md} tbl-ev-table1
# :format: myst
# ```
#
# PriLLM reaches at least {glue:text}`ev_prillm_worst:.2%` of the optimum on every scenario
# ({numref}`tbl-ev-table1`; its lowest segment mean is
# {glue:text}`ev_prillm_mean_low:.2%`). SPITER on the full game is within round-off of the
# optimum on every scenario of: {glue:text}`ev_spiter_exact`. BF stopped at its budget on
# {glue:text}`ev_bf_over` of {glue:text}`ev_bf_all` scenarios: a scenario has
# $(2^m - 1)^n$ KKT branches for $n$ users and $m$ models ({ref}`ex-ev-branches`), from
# {glue:text}`ev_bf_min_branches:.3g` to {glue:text}`ev_bf_max_branches:.3g` here, so its
# reference role goes to the exact path. How far it got, and what every method cost, is
# machine-dependent and in the box below.

# %% tags=["remove-cell"]
times = {}
for r in summary:
    times.setdefault(LABEL[r["method"]], {})[r["segment"]] = r["time_median_s"]
time_table = pd.DataFrame(times).T[segments]
time_table.index.name = "method (median s)"
bf_rows = []
for s in segments:
    rs = [r for r in records if r["family"] == s and r["method"] == "bf"]
    done = [r["bf_enumerated"] / float(r["bf_branches"]) for r in rs]
    bf_rows.append(
        {
            "segment": s,
            "branches enumerated (median)": sorted(r["bf_enumerated"] for r in rs)[len(rs) // 2],
            "share of all branches": sorted(done)[len(done) // 2],
            "whole enumeration (s, extrapolated)": by[(s, "bf")]["bf_extrapolated_median_s"],
            "PriLLM's time over it": by[(s, "prillm")]["time_vs_bf"],
        }
    )
glue_table(
    "tbl-ev-table1-times",
    time_table,
    caption="Median wall time (s) of each method on each segment of {numref}`tbl-ev-table1`; "
    "for BF, its budget.",
    index=True,
    formats={s: ".3g" for s in segments},
)
glue_table(
    "tbl-ev-bf",
    pd.DataFrame(bf_rows),
    caption="How far BF got within its budget, the time its whole enumeration would take at "
    "that pace, and PriLLM's median time over that time (the paper's measure).",
    formats={
        "share of all branches": ".2e",
        "whole enumeration (s, extrapolated)": ".3g",
        "PriLLM's time over it": ".2e",
    },
)

# %% [markdown]
# ````{admonition} On this machine
# :class: note
#
# Wall times measured while this page was built, on a shared machine; they change from run
# to run. The Pyomo methods' cap covers their solver calls, not the building of their models,
# so a median can exceed it.
#
# ```{glue:md} tbl-ev-table1-times
# :format: myst
# ```
#
# ```{glue:md} tbl-ev-bf
# :format: myst
# ```
# ````
#
# ## PriLLM against pMPEC and Smooth
#
# The paper states its gain over the best baselines as "9.2 % and 14.3 % on average,
# respectively, up to 11.4 % and 17.3 %". We read it as the library does
# (`improvement_over`): on each segment, PriLLM's mean share of the optimum minus the
# baseline's, over the same scenarios; the mean over the four segments, and the largest
# ({numref}`tbl-ev-gain`).

# %% tags=["remove-cell"]
# one column per baseline (a row per segment, then the summaries), so the table fits the page
gain_rows = [
    {"segment": s, **{LABEL[g["base"]]: g["by_segment"].get(s) for g in gains}} for s in segments
]
for name, key in [
    ("mean", "mean"),
    ("largest", "max"),
    ("paper: mean", "paper_mean"),
    ("paper: largest", "paper_max"),
]:
    gain_rows.append({"segment": name, **{LABEL[g["base"]]: g[key] for g in gains}})


def gain(v):
    """A difference of shares, in percentage points."""
    return f"{100 * v:+.2f} %"


glue_table(
    "tbl-ev-gain",
    pd.DataFrame(gain_rows),
    caption="PriLLM's mean share of the optimum minus each baseline's (one column per "
    "baseline): on each segment, then its mean over the segments and its largest value, and "
    "the paper's mean and largest.",
    formats={LABEL[g["base"]]: gain for g in gains},
)
stage = re.compile(r"last stage: ([^)]+)\)")
for g in gains:
    base = g["base"]
    failed = [s for s in segments if by[(s, base)]["share_mean"] < PAPER["share"]]
    parts = []
    for s in failed:
        reasons = {
            m.group(1)
            for r in records
            if r["family"] == s and r["method"] == base
            for m in [stage.search(r["reason"] or "")]
            if m
        }
        why = ", ".join(sorted(reasons)) or "no stage"
        parts.append(f"{s} ({by[(s, base)]['share_mean']:.1%}; last stage: {why})")
    rest = [g["by_segment"][s] for s in segments if s not in failed]
    if not failed or not rest:
        raise RuntimeError("the text assumes the baselines fail on some segments, not all")
    glue(f"ev_{base}_mean", g["mean"], display=False)
    glue(f"ev_{base}_max", g["max"], display=False)
    glue(f"ev_{base}_max_segment", g["max_segment"], display=False)
    glue(f"ev_{base}_failed", "; ".join(parts), display=False)
    glue(f"ev_{base}_n_failed", len(failed), display=False)
    glue(f"ev_{base}_rest", max(abs(v) for v in rest), display=False)
    glue(f"ev_{base}_max_part", g["max"] / len(g["by_segment"]) / g["mean"], display=False)

# %% [markdown]
# ```{glue:md} tbl-ev-gain
# :format: myst
# ```
#
# Our averages, {glue:text}`ev_pmpec_mean:+.1%` over pMPEC and
# {glue:text}`ev_smooth_mean:+.1%` over Smooth (up to {glue:text}`ev_pmpec_max:+.1%` on
# {glue:text}`ev_pmpec_max_segment` and {glue:text}`ev_smooth_max:+.1%` on
# {glue:text}`ev_smooth_max_segment`), are larger than the paper's, and they mean something
# different. They are not a steady margin: they come from the segments where a baseline does
# not reach {glue:text}`paper_share:.0%` of the optimum, for pMPEC
# {glue:text}`ev_pmpec_failed`, and for Smooth {glue:text}`ev_smooth_failed` (mean share,
# and how the homotopies that did not finish stopped). The largest segment alone makes up
# {glue:text}`ev_pmpec_max_part:.0%` of pMPEC's average and
# {glue:text}`ev_smooth_max_part:.0%` of Smooth's. On those segments the homotopy stops
# before its last stage, at the {glue:text}`ev_cap:g` s cap ("time limit"), at the solver's
# iteration limit or at an internal error of the solver, and the method returns the last price
# it solved or its start price, the market price: a failure of the run, not a worse optimum.
# On the other segments both baselines land within {glue:text}`ev_pmpec_rest:.2%` (pMPEC) and
# {glue:text}`ev_smooth_rest:.2%` (Smooth) of PriLLM's share: on these games their local
# optimum is the global one. The averages therefore measure how often the Pyomo solves fail on
# these markets under this cap, which a longer cap or a better start would change, and so
# would a faster or a less loaded machine: two builds of this page can show different
# averages (the scorecard, {doc}`10_scorecard`, reruns the experiment). The
# paper's steady gain of {glue:text}`paper_pmpec_mean:.1%` to {glue:text}`paper_smooth_max:.1%`
# is not what we see.
#
# The same holds for the paper's other comparison, "less than 5 % of BF's time": BF's full
# enumeration is astronomically long on every segment ({numref}`tbl-ev-bf`), so the ratio is
# met by every method that finishes at all, and says more about BF than about PriLLM.
# {numref}`tbl-ev-claims1` sets the paper's statements about Table 1 beside ours.

# %% tags=["remove-cell"]
claims = [
    {
        "method": "PriLLM",
        "the paper": f"more than {PAPER['share']:.0%} of the optimum in less than "
        f"{PAPER['time']:.0%} of BF's time",
        "here": f"at least {pct(prillm_worst)} of the optimum; BF does not finish "
        "(time ratio: on this machine, above)",
    },
    {
        "method": "BF",
        "the paper": "the optimum (the reference)",
        "here": f"over budget on {bf_over} of {bf_all} scenarios; "
        "the exact path is the reference",
    },
]
for g in gains:
    claims.append(
        {
            "method": LABEL[g["base"]],
            "the paper": f"PriLLM beats it by {g['paper_mean']:.1%} on average, "
            f"up to {g['paper_max']:.1%}",
            "here": f"{gain(g['mean'])} on average, up to {gain(g['max'])} "
            f"({g['max_segment']}); near zero where it converges",
        }
    )
glue_table(
    "tbl-ev-claims1",
    pd.DataFrame(claims),
    caption="The paper's statements about its Table 1 and the same measures on the planted "
    "panel.",
)

# %% [markdown]
# ```{glue:md} tbl-ev-claims1
# :format: myst
# ```
#
# ## Table 3: how the rivals are abstracted
#
# The paper's Table 3 takes the Economy market cut down to 8 and to 6 models (7 and 5 rivals of
# the target), abstracts each scenario to $K = 2$ rivals in three ways and prices the small game
# with SPITER: **DA**, the deep aggregation network (keep the top-scored rival, merge the
# others); **MIN**, the $K$ cheapest rivals; **AVG**, $K$ identical rivals with averaged
# attributes. The exact path and BF run on the full game. Our `Economy-8` and `Economy-6`
# are the Economy models of the planted panel with the most exact traffic
# ({doc}`07_abstraction`).

# %%
records3 = table3_records(**table3_args, executor=executor)
summary3 = summarise_table3(records3)

# %% tags=["remove-cell"]
markets = []
for r in summary3:
    name = f"{r['market']} ({r['rivals']} rivals)"
    r["label"] = name
    if name not in markets:
        markets.append(name)
table3 = pd.DataFrame(mean_worst(summary3, "label")).T[markets]
table3.index.name = "method"
glue_table(
    "tbl-ev-table3",
    table3,
    caption="Table 3 on the planted panel: profit in the true game as a share of the exact "
    "optimum, mean / worst over the held-out scenarios, with $K = 2$ abstracted rivals priced "
    "by SPITER; the exact path and BF on the full game.",
    index=True,
)
by3 = {(r["market"], r["method"]): r for r in summary3}
families = sorted({r["market"] for r in summary3})
da_worst = min(by3[(f, "da")]["share_worst"] for f in families)
avg_worst = min(by3[(f, "avg")]["share_worst"] for f in families)
min_mean = max(by3[(f, "min")]["share_mean"] for f in families)
mins = [r for r in records3 if r["method"] == "min" and r["share"] is not None]
above = sum(r["price"] > r["exact_price"] for r in mins)
glue("ev_scen3", table3_args.get("scenarios", 5), display=False)
glue("ev_da_worst", da_worst, display=False)
glue("ev_avg_worst", avg_worst, display=False)
glue("ev_min_mean", min_mean, display=False)
glue("ev_min_above", above, display=False)
glue("ev_min_n", len(mins), display=False)
if da_worst < PAPER_TABLE3["da_share_min"] or above != len(mins):
    raise RuntimeError("the text assumes DA above the paper's 97 % and MIN's prices too high")

time3 = {}
for r in summary3:
    time3.setdefault(LABEL[r["method"]], {})[r["label"]] = r["time_median_s"]
bf3 = {r["label"]: r["bf_extrapolated_median_s"] for r in summary3 if r["method"] == "bf"}
time3["BF, whole enumeration (extrapolated)"] = bf3
time3_table = pd.DataFrame(time3).T[markets]
time3_table.index.name = "method (median s)"
glue_table(
    "tbl-ev-table3-times",
    time3_table,
    caption="Median wall time (s) of each method of {numref}`tbl-ev-table3` (for BF its "
    "budget, then the time its whole enumeration would take at the pace it reached).",
    index=True,
    formats={m: ".3g" for m in markets},
)

# %% [markdown]
# ```{glue:md} tbl-ev-table3
# :format: myst
# ```
#
# DA reaches at least {glue:text}`ev_da_worst:.2%` of the optimum on every scenario
# ({numref}`tbl-ev-table3`), above the paper's "over {glue:text}`paper_da_min:.0%`". AVG
# comes close (at worst {glue:text}`ev_avg_worst:.2%`). MIN fails outright, at most
# {glue:text}`ev_min_mean:.2%` of the optimum on average: keeping only the two cheapest
# rivals removes the capacity of all the others, so the small game overstates the demand left
# to the target, and its price is above the optimal one in {glue:text}`ev_min_above` of
# {glue:text}`ev_min_n` scenarios, high enough that the target sells almost nothing in the
# true game. The paper's text says only that DA reaches over
# {glue:text}`paper_da_min:.0%`; its figures for MIN and AVG are in its Table 3, which we do
# not have.
#
# ````{admonition} On this machine
# :class: note
#
# Measured while this page was built, on a shared machine:
#
# ```{glue:md} tbl-ev-table3-times
# :format: myst
# ```
# ````
#
# ## How many rivals to keep: the $K$ sweep
#
# The paper varies $K$ from 1 to 4 on the 8-model market and reports that the *profit gap*,
#
# $$
# \mathrm{gap}(K) = 100\,\Bigl(1 - \frac{\Psi_s(\hat p_K)}{\Psi_s(p^*)}\Bigr)\ \%,
# $$ (ev-gap)
#
# with $\hat p_K$ the price found in the game abstracted to $K$ rivals and $p^*$ the optimum,
# falls "from {glue:text}`paper_gap_k1` % to a near-zero {glue:text}`paper_gap_k4` %". We run
# the same sweep on the same scenarios as Table 3.

# %%
sweep = k_sweep(**sweep_args, executor=executor)
summary_k = [r for r in summarise_k_sweep(sweep) if r["method"] == "da"]

# %% tags=["remove-cell"]
exact_ms = 1e3 * min(r["time_median_s"] for r in summarise_k_sweep(sweep) if r["K"] is None)
ks = [r["K"] for r in summary_k]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7, 3.2), sharex=True)
floor = 1e-4
ax1.semilogy(ks, [max(r["gap_mean_pct"], floor) for r in summary_k], "o-", label="mean")
ax1.semilogy(ks, [max(r["gap_worst_pct"], floor) for r in summary_k], "s--", label="worst")
paper_k = sorted(PAPER_K_GAP)
ax1.semilogy(paper_k, [PAPER_K_GAP[k] for k in paper_k], "X", color="C3", ms=9, label="paper")
ax1.set_ylabel("profit gap (% of the optimum)")
ax1.legend(loc="upper right")
ax2.plot(ks, [1e3 * r["time_median_s"] for r in summary_k], "o-", label="DA + SPITER")
ax2.axhline(exact_ms, color="grey", ls=":", label="exact path, full game")
ax2.set_ylabel("median time (ms)")
ax2.set_ylim(bottom=0)
ax2.legend(loc="lower right")
for ax, title in ((ax1, "(a) profit gap"), (ax2, "(b) time, this machine")):
    ax.set_xlabel("rivals kept $K$")
    ax.set_xticks(ks)
    ax.set_title(title, loc="left")
glue_figure("fig-ev-k", fig)
k_rows = [
    {
        "$K$": r["K"],
        "mean gap (%)": r["gap_mean_pct"],
        "worst gap (%)": r["gap_worst_pct"],
        "paper (%)": r["paper_gap_pct"],
    }
    for r in summary_k
]
glue_table(
    "tbl-ev-k",
    pd.DataFrame(k_rows),
    caption="The profit gap {eq}`ev-gap` of DA + SPITER on the 8-model market for each $K$, "
    "mean and worst over the held-out scenarios, beside the paper's two values.",
    formats={"mean gap (%)": ".3f", "worst gap (%)": ".3f", "paper (%)": ".2f"},
)
gap = {r["K"]: r["gap_mean_pct"] for r in summary_k}
glue("ev_k_scen", sweep_args.get("scenarios", 5), display=False)
glue("ev_gap_k1", gap[1], display=False)
glue("ev_gap_k4", gap[4], display=False)
glue("ev_gap_k2", gap[2], display=False)
glue("ev_gap_ratio", PAPER_K_GAP[1] / gap[1], display=False)
monotone = all(gap[a] >= gap[b] for a, b in itertools.pairwise(ks))
trend = "falls at every step" if monotone else "does not fall at every step"
glue("ev_gap_monotone", trend, display=False)
slower = all(r["time_median_s"] * 1e3 > exact_ms for r in summary_k)
faster = all(r["time_median_s"] * 1e3 < exact_ms for r in summary_k)
speed = "slower than" if slower else "faster than" if faster else "about as fast as"
glue("ev_k_speed", speed, display=False)

# %% [markdown]
# ```{glue:figure} fig-ev-k
# ---
# name: fig-ev-k
# alt: >-
#   Two panels sharing the K axis from 1 to 4. Left, on a logarithmic scale, the mean and
#   worst profit gap of deep aggregation, both far below the paper's two red crosses at K
#   equal to 1 and 4. Right, the median time of the pipeline for each K, with a dotted
#   horizontal line for the exact path on the full game.
# ---
# The $K$ sweep on the 8-model market: (a) the profit gap {eq}`ev-gap`, mean and worst over
# the held-out scenarios, with the paper's values at $K = 1$ and $K = 4$ (red crosses; gaps
# of zero are drawn at $10^{-4}$ %); (b) the median time of DA + SPITER, abstraction
# included, and of the exact path on the full game, measured on the machine that built this
# page.
# ```
#
# ```{glue:md} tbl-ev-k
# :format: myst
# ```
#
# Our gap is small from the start: {glue:text}`ev_gap_k1:.3f` % at $K = 1$, against the
# paper's {glue:text}`paper_gap_k1` %, about {glue:text}`ev_gap_ratio:.0f` times less, and
# {glue:text}`ev_gap_k4:.3f` % at $K = 4$ against {glue:text}`paper_gap_k4` %; across the
# sweep it {glue:text}`ev_gap_monotone` ({numref}`fig-ev-k`, {numref}`tbl-ev-k`). The
# direction is the paper's, the size is not: on the planted Economy markets even one merged
# rival keeps the target's profit curve close to the true one. The paper's text does not say
# why its $K = 1$ loses so much more; its real rivals may differ from each other more than
# the planted ones. Beyond $K = 2$ the gap need not fall further: $K = 4$ lies outside the
# mixture of $K = 1, 2, 3$ the network was trained on ({doc}`07_abstraction`), and with few
# scenarios one scenario moves a mean. In this build DA + SPITER is
# {glue:text}`ev_k_speed` the exact path on the full game at every $K$ (panel b, measured on
# this machine): on markets of 8 models the exact path is fast, and the abstraction saves
# time against BF, not against it ({doc}`07_abstraction` measures where it does).
#
# ## Where we differ from the paper, and why
#
# - **Data.** The paper's markets come from OpenRouter data that were never released; ours
#   are the planted panel's, built from public figures with known preferences. Shares and
#   gaps can be compared as orders of magnitude and rankings, not digit for digit.
# - **The reference.** The paper uses BF as the optimum. BF cannot finish on any of our
#   scenarios within its budget ({numref}`tbl-ev-bf`), so we use the exact price path, which
#   is certified globally optimal; where BF does finish (small games, {doc}`04_pricing_methods`)
#   the two agree.
# - **PriLLM's share.** Reproduced: above {glue:text}`paper_share:.0%` on every scenario.
# - **The time ratio.** "Less than {glue:text}`paper_time:.0%` of BF's time" holds by many
#   orders of magnitude, for every method that finishes, because BF is exponential; it does
#   not show that the abstraction is fast, and the exact path is faster still on these sizes.
# - **The gain over pMPEC and Smooth.** Not reproduced as a steady margin: on the segments
#   where the Pyomo homotopies converge they match PriLLM; the averages of
#   {numref}`tbl-ev-gain` come from runs that stopped early (under a
#   {glue:text}`ev_cap:g` s cap in this build).
# - **Table 3.** DA above {glue:text}`paper_da_min:.0%`: reproduced. The paper's text gives
#   no figure for MIN and AVG; here MIN fails outright and AVG comes close to DA.
# - **The $K$ sweep.** The gap falls with $K$ as in the paper, but from a much smaller start.
# - **Sample size.** This build priced {glue:text}`ev_scenarios` scenario(s) per segment for
#   Table 1 and {glue:text}`ev_scen3` per market for Table 3; the paper does not say how many
#   it used.
#
# ## Summary
#
# - On held-out scenarios of four segments of the planted panel, PriLLM (DA to $K = 2$, then
#   SPITER) reaches at least {glue:text}`ev_prillm_worst:.2%` of the certified optimum
#   ({numref}`tbl-ev-table1`), as the paper states; BF, the paper's reference, finishes on
#   none of them, so the "< 5 % of BF's time" is met trivially.
# - PriLLM's gain over pMPEC and Smooth, {glue:text}`ev_pmpec_mean:+.1%` and
#   {glue:text}`ev_smooth_mean:+.1%` on average, comes from the segments where their
#   homotopies stop early; elsewhere they match it ({numref}`tbl-ev-gain`).
# - DA keeps at least {glue:text}`ev_da_worst:.2%` of the optimum on the 6- and 8-model
#   Economy markets, AVG nearly as much, MIN almost nothing ({numref}`tbl-ev-table3`).
# - The profit gap falls from {glue:text}`ev_gap_k1:.3f` % at $K = 1$ to
#   {glue:text}`ev_gap_k4:.3f` % at $K = 4$ ({numref}`fig-ev-k`), far below the paper's
#   {glue:text}`paper_gap_k1` % and {glue:text}`paper_gap_k4` %.
#
# ## Exercise
#
# ```{exercise} How many KKT branches?
# :label: ex-ev-branches
#
# BF fixes, for every user, the set of models it uses (its support), solves the KKT system of
# that branch and keeps the best price over all branches. Show that a game of $n$ users with
# positive demand and $m$ models has $(2^m - 1)^n$ branches, and check the count against the
# records of Table 1.
# ```
#
# ```{solution-start} ex-ev-branches
# :class: dropdown
# ```
#
# A user with positive demand uses at least one model, so its support is one of the $2^m - 1$
# non-empty subsets of the models; the users choose independently, which gives
# $(2^m - 1)^n$ combinations; a user without demand has no choice to make. Each scenario can
# be rebuilt from its seed, and its users with demand counted:

# %%
from prillm.experiments import held_out_scenario

for r in records:
    if r["method"] == "bf":
        market = held_out_scenario(r["family"], r["seed"])["market"]
        n, m = int((market.demand > 0).sum()), market.n_providers
        count = (2**m - 1) ** n
        assert float(count) == float(r["bf_branches"])
        print(f"{r['family']}: {n} users with demand, {m} models,", end=" ")
        print(f"{float(count):.3g} branches")

# %% [markdown]
# ```{solution-end}
# ```
