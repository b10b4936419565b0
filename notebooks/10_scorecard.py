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
# # Scorecard
#
# **This chapter** lists every number the paper {cite}`prillm2026` states in its text, puts
# beside it the same quantity computed by `prillm` when this page is built, and says for each
# whether it is reproduced, differs (and why), or cannot be reproduced because it rests on data
# that were never released. It is a summary of the book: each row names the chapter where the
# measurement is made and discussed.
#
# **What you need**: nothing beyond the chapters it summarises: the calibration of
# {doc}`05_calibration` and {doc}`06_real_data`, the abstraction of {doc}`07_abstraction` and
# the evaluation of {doc}`08_evaluation`. The computations below call the same functions of
# `prillm.experiments` with the same arguments as those chapters, in the mode this book was
# built in.

# %% tags=["parameters", "remove-cell"]
quick = True

# %% tags=["remove-cell"]
# Book plumbing: the table functions of notebooks/booktools.py.
from booktools import glue_table, setup_book
from myst_nb import glue

from prillm.abstraction import load_weights
from prillm.experiments import PAPER_IMPROVEMENT, PAPER_K_GAP, PAPER_TABLE3

setup_book()

# The paper's numbers that the library does not already quote (abstract, Sections 1, 6 and
# Appendix 9.1), quoted, not computed.
PAPER = {
    "r2": 0.8982,
    "mae_M": 3.56,
    "mse_drop": 45.73,
    "mse_time_s": 25.88,
    "share": 0.95,
    "time": 0.05,
    "scenarios": 2000,
    "models": 20,
    "apps": 20,
    "coding_models": 13,
    "coding_apps": 8,
    "table3_rivals": (5, 7),
    "first_day": "2025-04-13",
    "last_day": "2025-07-23",
}
#: a profit gap below this many percent counts as the paper's "near zero"
NEAR_ZERO_PCT = 0.5


def pct(v, digits=2):
    """A share as a percentage."""
    return f"{100 * v:.{digits}f} %"


# %%
import pandas as pd

from prillm.calibration import evaluate
from prillm.data import load_panel
from prillm.experiments import (
    compare_calibration_methods,
    daily_volume_panel,
    fit_daily_volumes,
    method_table,
)

# the arguments of chapters 5, 6 and 8 in each mode
n_days, a2c_budget = (40, 400) if quick else (100, 2000)
learners = ("gradient", "a2c") if quick else ("gradient", "fd", "a2c")
steps = 60 if quick else 200

# %% [markdown]
# The calibration claims: the planted coding market of {doc}`05_calibration` (its first
# {glue:text}`sc_days` days, the last 20 % held out) and the public daily model volumes of
# {doc}`06_real_data`. In quick mode FD, much the slowest learner, is left out, as
# {doc}`05_calibration` runs it.

# %%
panel = load_panel()
coding = panel.segment("Coding").subset(range(n_days))
train, test = coding.split(0.2)
ceiling = evaluate(test, coding.truth)
learned = compare_calibration_methods(
    train, test, learners, a2c_evaluations=a2c_budget, seed=0
)
table2 = {r["method"]: r for r in method_table(learned, coding.truth)}
daily = daily_volume_panel(15, train_fraction=0.75)
daily_fit = fit_daily_volumes(daily, steps=steps, window=7)

# %% [markdown]
# The pricing claims: Table 1, Table 3 and the $K$ sweep of {doc}`08_evaluation`, in this
# process.

# %%
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

table1_args = TABLE1_QUICK if quick else {}
table3_args = TABLE3_QUICK if quick else {}
sweep_args = K_SWEEP_QUICK if quick else {}
records = table1_records(**table1_args)
summary1 = summarise_table1(records)
gains = {g["base"]: g for g in improvement_over(records)}
summary3 = summarise_table3(table3_records(**table3_args))
summary_k = summarise_k_sweep(k_sweep(**sweep_args))

# %% tags=["remove-cell"]
weights = load_weights().meta
glue("sc_days", n_days, display=False)
daily_test = daily_fit.metrics["fit"]["test"]
segments = sorted({r["segment"] for r in summary1})
by1 = {(r["segment"], r["method"]): r for r in summary1}
prillm_worst = min(by1[(s, "prillm")]["share_worst"] for s in segments)
time_vs_bf = max(by1[(s, "prillm")]["time_vs_bf"] for s in segments)
bf_finished = sum(by1[(s, "bf")]["solved"] for s in segments)
bf_all = sum(by1[(s, "bf")]["scenarios"] for s in segments)
by3 = {(r["market"], r["method"]): r for r in summary3}
markets3 = sorted({r["market"] for r in summary3})
da_worst = min(by3[(m, "da")]["share_worst"] for m in markets3)
rivals3 = tuple(sorted(by3[(m, "da")]["rivals"] for m in markets3))
da_vs_bf = max(
    by3[(m, "da")]["time_median_s"] / by3[(m, "bf")]["bf_extrapolated_median_s"] for m in markets3
)
gap = {r["K"]: r for r in summary_k if r["method"] == "da"}
grad = table2["gradient"]
a2c_ratio = table2["a2c"]["train_mse_M2"] / grad["train_mse_M2"]
_, coding_apps, coding_models = panel.segment("Coding").shape
days, apps, models = panel.shape


def status(ok, yes="reproduced", no="differs"):
    """The status of a claim, from the comparison that decides it."""
    return yes if ok else no


NOT_REP = "not reproducible: unreleased data"
rows = [
    {
        "claim (paper section)": "$R^2$ of the calibrated flows, coding market (6.1, Fig. 3b)",
        "paper": f"{PAPER['r2']}",
        "here": f"{grad['test_r2']:.4f} held out on the planted coding market (noise "
        f"ceiling {ceiling.r2:.4f}); {daily_test['r2']:.4f} held out on the public daily "
        "volumes ({doc}`05_calibration`, {doc}`06_real_data`)",
        "status": f"{NOT_REP}; ours on other data",
    },
    {
        "claim (paper section)": "MAE of the calibrated flows (6.1)",
        "paper": f"{PAPER['mae_M']} M tokens",
        "here": f"{grad['test_mae_M']:,.0f} M tokens (planted coding market); "
        f"{daily_test['mae_M']:,.0f} M tokens a day (daily volumes)",
        "status": f"{NOT_REP}; MAE scales with the market's volumes",
    },
    {
        "claim (paper section)": "training MSE reduced by the gradient method (6.2, Table 2)",
        "paper": f"{PAPER['mse_drop']}",
        "here": f"{grad['mse_reduction_M2']:,.0f} M tokens² on the planted coding market",
        "status": "differs: units and scale of the data (the paper gives none)",
    },
    {
        "claim (paper section)": "time of that reduction (6.2, Table 2)",
        "paper": f"{PAPER['mse_time_s']} s",
        "here": "on this machine: {numref}`tbl-sc-times`",
        "status": "machine-dependent; not comparable",
    },
    {
        "claim (paper section)": "A2C fails to calibrate (6.2, Table 2)",
        "paper": "consistently failed",
        "here": f"training MSE {a2c_ratio:.2f} times the gradient method's",
        "status": status(a2c_ratio > 1, "reproduced: worse fit", "differs"),
    },
    {
        "claim (paper section)": "FD fails to calibrate (6.2, Table 2)",
        "paper": "consistently failed",
        "here": (
            f"training MSE {table2['fd']['train_mse_M2'] / grad['train_mse_M2']:.4f} times "
            "the gradient method's"
            if "fd" in table2
            else "not run in quick mode; {doc}`05_calibration`: the same fit, slower"
        ),
        "status": "differs: FD converges (the equilibrium is exact), only slower",
    },
    {
        "claim (paper section)": "PriLLM's share of the optimal profit (abstract, 1, 6.1)",
        "paper": f"more than {PAPER['share']:.0%}",
        "here": f"at least {pct(prillm_worst)} on every scenario of Table 1 "
        "({doc}`08_evaluation`)",
        "status": status(prillm_worst > PAPER["share"]),
    },
    {
        "claim (paper section)": "PriLLM's time over BF's (abstract, 1, 6.1)",
        "paper": f"less than {PAPER['time']:.0%}",
        "here": f"BF finished {bf_finished} of {bf_all} scenarios; "
        "ratio to its extrapolated time: {numref}`tbl-sc-times`",
        "status": status(
            time_vs_bf < PAPER["time"], "reproduced, trivially: BF is exponential"
        ),
    },
]
for base, name in (("pmpec", "pMPEC"), ("smooth", "Smooth")):
    g, claim = gains[base], PAPER_IMPROVEMENT[base]
    rows.append(
        {
            "claim (paper section)": f"PriLLM's gain over {name}: mean, largest (1)",
            "paper": f"{claim['mean']:.1%}, {claim['max']:.1%}",
            "here": f"{g['mean']:+.1%}, {g['max']:+.1%} ({g['max_segment']})",
            "status": f"differs: {name} stops early on some segments and matches PriLLM on "
            "the others; capped in time, so it varies from run to run ({doc}`08_evaluation`)",
        }
    )
rows += [
    {
        "claim (paper section)": "DA's share of the optimum, $K = 2$ (6.2, Table 3)",
        "paper": f"more than {PAPER_TABLE3['da_share_min']:.0%}",
        "here": f"at least {pct(da_worst)} on the 6- and 8-model Economy markets",
        "status": status(da_worst > PAPER_TABLE3["da_share_min"]),
    },
    {
        "claim (paper section)": "DA's time against BF on the full game (6.2, Table 3)",
        "paper": "drastically reduced",
        "here": "on this machine: {numref}`tbl-sc-times`",
        "status": status(da_vs_bf < PAPER["time"], "reproduced, trivially: BF is exponential"),
    },
    {
        "claim (paper section)": "profit gap at $K = 1$, 8-model market (6.2)",
        "paper": f"{PAPER_K_GAP[1]} %",
        "here": f"{gap[1]['gap_mean_pct']:.3f} % (mean)",
        "status": status(
            abs(gap[1]["gap_mean_pct"] - PAPER_K_GAP[1]) < 1,
            no="differs: much smaller; one merged rival already fits the planted markets",
        ),
    },
    {
        "claim (paper section)": "profit gap at $K = 4$ (6.2)",
        "paper": f"{PAPER_K_GAP[4]} %",
        "here": f"{gap[4]['gap_mean_pct']:.3f} % (mean)",
        "status": status(gap[4]["gap_mean_pct"] < NEAR_ZERO_PCT, "reproduced: near zero"),
    },
    {
        "claim (paper section)": "$K = 2$ gains profit over $K = 1$ (6.2)",
        "paper": "a profit improvement",
        "here": f"gap {gap[2]['gap_mean_pct']:.3f} % against {gap[1]['gap_mean_pct']:.3f} %",
        "status": status(gap[2]["gap_mean_pct"] < gap[1]["gap_mean_pct"]),
    },
    {
        "claim (paper section)": "training scenarios of the network (6, Dataset)",
        "paper": f"over {PAPER['scenarios']:,}",
        "here": f"{weights['scenarios']:,} (the shipped weights, " + "{doc}`07_abstraction`)",
        "status": status(weights["scenarios"] > PAPER["scenarios"], "reproduced (planted data)"),
    },
    {
        "claim (paper section)": "models x apps of the data set (6, Dataset)",
        "paper": f"{PAPER['models']} x {PAPER['apps']}, three months",
        "here": f"{models} x {apps}, {days} days, {panel.dates[0]} to {panel.dates[-1]} "
        "(planted from public figures)",
        "status": status(
            (models, apps) == (PAPER["models"], PAPER["apps"]),
            "same size; generated flows",
        ),
    },
    {
        "claim (paper section)": "the data's dates (Appendix 9.1, Table 5)",
        "paper": f"{PAPER['first_day']} to {PAPER['last_day']}",
        "here": f"{panel.dates[0]} to {panel.dates[-1]}",
        "status": status(
            (panel.dates[0], panel.dates[-1]) == (PAPER["first_day"], PAPER["last_day"]),
            no=f"differs: {days} days that end where the paper's window ends",
        ),
    },
    {
        "claim (paper section)": "the coding market: models x apps (6.1)",
        "paper": f"{PAPER['coding_models']} x {PAPER['coding_apps']}",
        "here": f"{coding_models} x {coding_apps} (the Coding segment)",
        "status": status(
            (coding_models, coding_apps) == (PAPER["coding_models"], PAPER["coding_apps"]),
            no="differs: our segment's rule keeps fewer models",
        ),
    },
    {
        "claim (paper section)": "rivals in the markets of Table 3 (6.2)",
        "paper": f"{PAPER['table3_rivals'][0]} and {PAPER['table3_rivals'][1]}",
        "here": f"{rivals3[0]} and {rivals3[1]}",
        "status": status(rivals3 == PAPER["table3_rivals"]),
    },
    {
        "claim (paper section)": "Table 2's data: 4 models, 19 days (6.2)",
        "paper": "4 x 19 days",
        "here": "—",
        "status": NOT_REP,
    },
]
scorecard = pd.DataFrame(rows)
glue_table(
    "tbl-sc-claims",
    scorecard,
    caption="Every number stated in the paper's text, the same quantity computed here, and "
    "whether it is reproduced.",
    widths="3 2 4 3",
)
counts = scorecard["status"].str.split(r"[:;, ]", regex=True).str[0].value_counts()
glue("sc_rows", len(scorecard), display=False)
glue("sc_reproduced", int(counts.get("reproduced", 0)), display=False)
glue("sc_differs", int(counts.get("differs", 0)), display=False)
glue("sc_unavailable", int(scorecard["status"].str.contains(NOT_REP).sum()), display=False)
# the summary below says these hold
held = [prillm_worst > PAPER["share"], da_worst > PAPER_TABLE3["da_share_min"], a2c_ratio > 1]
held += [
    by3[(m, "da")]["share_mean"] > max(by3[(m, "min")]["share_mean"], by3[(m, "avg")]["share_mean"])
    for m in markets3
]
if not all(held):
    raise RuntimeError("the summary assumes PriLLM's and DA's shares and A2C hold")

times = [
    {
        "claim": "the gradient calibration (Table 2)",
        "paper": f"{PAPER['mse_time_s']} s",
        "here": f"{grad['wall_time_s']:.1f} s",
    },
    {
        "claim": "PriLLM's time over BF's, largest over the segments",
        "paper": f"less than {PAPER['time']:.0%}",
        "here": f"{time_vs_bf:.1e}",
    },
    {
        "claim": "DA + SPITER's time over BF's, Table 3, largest",
        "paper": "drastically reduced",
        "here": f"{da_vs_bf:.1e}",
    },
    {
        "claim": "time of $K = 2$ over $K = 1$",
        "paper": "an increase",
        "here": f"{gap[2]['time_median_s'] / gap[1]['time_median_s']:.2f}",
    },
]
glue_table(
    "tbl-sc-times",
    pd.DataFrame(times),
    caption="The paper's statements about time and the same measures here (BF's time "
    "extrapolated from the branches it enumerated within its budget).",
)

# %% [markdown]
# ```{glue:md} tbl-sc-claims
# :format: myst
# ```
#
# Of the {glue:text}`sc_rows` rows of {numref}`tbl-sc-claims`, {glue:text}`sc_reproduced`
# are reproduced, {glue:text}`sc_differs` differ, and {glue:text}`sc_unavailable` cannot be
# checked at all because they rest on the paper's unreleased OpenRouter data; the others
# state the machine-dependent figures in the box below, or compare sizes of data sets.
#
# ````{admonition} On this machine
# :class: note
#
# Times and ratios of times measured while this page was built, on a shared machine; they
# change from run to run, and the paper's were measured on its own (an Intel i7-8550U).
#
# ```{glue:md} tbl-sc-times
# :format: myst
# ```
# ````
#
# ## Summary
#
# - What can be checked without the paper's data mostly holds in kind: PriLLM's share of the
#   optimum, DA's advantage over MIN and AVG, and A2C's failure to calibrate.
# - What differs does so for stated reasons: the gains over pMPEC and Smooth come from their
#   early stops; the $K = 1$ gap is far smaller on the planted markets, so small that whether it
#   still falls from one $K$ to the next is decided by a few scenarios (the table above says
#   which way it went in this build); FD does not fail when the equilibrium is exact; and our
#   data sets are not the paper's.
# - The calibration figures ($R^2$, MAE, the MSE reduction of Table 2) rest on data that were
#   never released; ours are measured on the planted and the public data instead.
