"""One held-out scenario, one pricing method, one tidy record: the unit of Section 6's tables.

Table 1 and Table 3 of the paper (:mod:`~prillm.experiments.table1`,
:mod:`~prillm.experiments.table3`) are sweeps of :func:`run_method_task` over tasks built by
:func:`method_task`, run by :func:`prillm.experiments.run_sweep`. A task names a market family,
a seed and a method; the function rebuilds the scenario from the seed alone, so a task gives the
same market, target and price wherever it runs.

The scenario (:func:`held_out_scenario`)
----------------------------------------
1. The family's daily base markets come from the shipped planted panel
   (:func:`prillm.abstraction.base_markets`; the module docstring of
   :mod:`prillm.abstraction.dataset` says how each family is cut out of the panel).
2. A ``numpy.random.Generator`` seeded with the task's seed draws, in this order, a base day
   among the *test* days of the abstraction's split (days 85 to 99: the network was trained on
   days 0 to 69 and selected on 70 to 84, so every scenario is held out), the target (uniformly
   among the day's providers) and the rivals' perturbation (:func:`prillm.data.augment_scenarios`
   with its default ranges).

The record (:func:`run_method_task`)
------------------------------------
The exact path (:func:`prillm.optimal_price`, ``method="exact"``: the certified global optimum
of Problem 1, Eq. 2) is the reference of every record: ``share`` is the method's profit in the
*true* game over that optimum (the exact record's share is 1 exactly: it is the reference
itself). The brute force runs under a time budget: when the budget runs out the record's status
is ``"over_budget"``, its share is ``None``, and it says how many of the KKT branches it
enumerated and what the whole enumeration would take at that pace (``bf_extrapolated_s``).
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prillm.abstraction.dataset import FAMILIES, SPLIT_DAYS, base_markets
from prillm.data import augment_scenarios, load_panel
from prillm.market import Market, MarketError, Preferences
from prillm.pricing import METHODS, optimal_price

__all__ = [
    "RECORD_KEYS",
    "check_sweep",
    "failure_record",
    "held_out_days",
    "held_out_scenario",
    "method_task",
    "outcome_summary",
    "run_method_task",
    "sweep_records",
    "task_seed",
]

#: The keys of every record, in order (tidy: every record has all of them).
RECORD_KEYS = (
    "family",
    "scenario",
    "seed",
    "day",
    "date",
    "target",
    "users",
    "providers",
    "method",
    "K",
    "price",
    "profit",
    "exact_price",
    "exact_profit",
    "share",
    "time_s",
    "exact_time_s",
    "status",
    "reason",
    "bf_branches",
    "bf_enumerated",
    "bf_extrapolated_s",
)


def check_sweep(name: str, scenarios: Any, bf_budget: Any = None) -> None:
    """Check a sweep's scenario count (field ``name``) and, unless ``None``, its BF budget.

    Raises
    ------
    ValueError
        Naming the field and the value: ``scenarios`` not an integer >= 1, ``bf_budget`` not a
        positive number of seconds.
    """
    if isinstance(scenarios, bool) or not isinstance(scenarios, int) or scenarios < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {scenarios!r}")
    if bf_budget is not None and not bf_budget > 0:
        raise ValueError(f"bf_budget: expected a positive number of seconds, got {bf_budget!r}")


def task_seed(seed: int, family: str, scenario: int) -> int:
    """The seed of scenario ``scenario`` of ``family`` in an experiment seeded with ``seed``."""
    seq = np.random.SeedSequence([seed, FAMILIES.index(family), scenario])
    return int(seq.generate_state(1)[0])


def held_out_days(n_days: int = 100) -> list[int]:
    """The test days of the abstraction's split (``[85, 100)`` of the shipped 100)."""
    return list(range(round(n_days * SPLIT_DAYS[1] / 100), n_days))


@functools.cache
def _bases(family: str) -> tuple[tuple[Market, ...], Preferences, tuple[str, ...]]:
    panel = load_panel()
    markets, prefs = base_markets(panel, [family])[family]
    return tuple(markets), prefs, tuple(panel.dates)


def held_out_scenario(family: str, seed: int) -> dict[str, Any]:
    """The held-out scenario of ``family`` drawn from ``seed`` (see the module docstring).

    Returns
    -------
    dict
        ``market``, ``prefs``, ``target`` (provider id), ``day``, ``date``.

    Examples
    --------
    >>> a, b = held_out_scenario("Translation", 7), held_out_scenario("Translation", 7)
    >>> a["target"] == b["target"] and bool((a["market"].price == b["market"].price).all())
    True
    >>> a["day"] >= 85
    True
    """
    if family not in FAMILIES:
        raise MarketError(f"family: unknown market family {family!r}; choose from {FAMILIES}")
    markets, prefs, dates = _bases(family)
    gen = np.random.default_rng(seed)
    days = held_out_days(len(markets))
    day = days[int(gen.integers(len(days)))]
    base = markets[day]
    target = base.provider_ids[int(gen.integers(base.n_providers))]
    (market,) = augment_scenarios(base, target, 1, gen)
    return {"market": market, "prefs": prefs, "target": target, "day": day, "date": dates[day]}


def method_task(
    family: str,
    scenario: int,
    seed: int,
    method: str,
    *,
    pricing_method: str | None = None,
    options: Mapping[str, Any] | None = None,
    K: int | None = None,
) -> dict[str, Any]:
    """The task of one (family, scenario, method): plain data for :func:`run_method_task`.

    ``method`` is the record's label; ``pricing_method`` the :func:`prillm.optimal_price`
    method it runs (default: the label), with ``options``. ``K`` is recorded (abstractions).
    """
    pricing_method = method if pricing_method is None else pricing_method
    if pricing_method not in METHODS:
        raise MarketError(
            f"methods: unknown pricing method {pricing_method!r}; valid: {', '.join(METHODS)}"
        )
    if family not in FAMILIES:
        raise MarketError(f"family: unknown market family {family!r}; choose from {FAMILIES}")
    return {
        "family": family,
        "scenario": int(scenario),
        "seed": task_seed(seed, family, scenario),
        "method": method,
        "pricing_method": pricing_method,
        "options": dict(options or {}),
        "K": K,
    }


def run_method_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """The record of one task (top level, picklable: what :func:`run_sweep` maps).

    Raises whatever the method raises (the sweep turns it into a failure record).
    """
    sc = held_out_scenario(task["family"], task["seed"])
    market, prefs, target = sc["market"], sc["prefs"], sc["target"]
    exact = optimal_price(market, prefs, target, method="exact")
    pricing_method = task["pricing_method"]
    if pricing_method == "exact":
        res = exact
    else:
        res = optimal_price(market, prefs, target, method=pricing_method, **task["options"])
    diag = res.diagnostics
    status, reason, share = res.status, res.reason, _share(res.profit, exact.profit)
    bf_branches = bf_enumerated = bf_extrapolated = None
    if pricing_method == "bf":
        bf_branches, bf_enumerated = diag["branches"], diag["enumerated"]
        bf_extrapolated = (
            res.wall_time * (bf_branches / bf_enumerated) if bf_enumerated else math.inf
        )
        if diag["time_limit_reached"]:
            status, share = "over_budget", None
        bf_branches = float(bf_branches) if bf_branches > 2**53 else int(bf_branches)
    record = {
        "family": task["family"],
        "scenario": task["scenario"],
        "seed": task["seed"],
        "day": sc["day"],
        "date": sc["date"],
        "target": target,
        "users": market.n_users,
        "providers": market.n_providers,
        "method": task["method"],
        "K": task.get("K"),
        "price": float(res.price),
        "profit": float(res.profit),
        "exact_price": float(exact.price),
        "exact_profit": float(exact.profit),
        "share": share,
        "time_s": float(res.wall_time),
        "exact_time_s": float(exact.wall_time),
        "status": status,
        "reason": reason,
        "bf_branches": bf_branches,
        "bf_enumerated": bf_enumerated,
        "bf_extrapolated_s": bf_extrapolated,
    }
    return record


def outcome_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the records of one method on one market family say, as a row of Table 1 or 3.

    Returns
    -------
    dict
        ``scenarios`` (records), ``solved`` (records with a share), ``failed``, ``share_mean``,
        ``share_worst`` (over the solved; ``None`` if none), ``time_median_s`` (over the
        records with a time), ``bf_extrapolated_median_s`` (over the records with one: the
        brute force's, measured or extrapolated; else ``None``).
    """
    shares = [r["share"] for r in records if r["share"] is not None]
    times = [r["time_s"] for r in records if r["time_s"] is not None]
    extra = [r["bf_extrapolated_s"] for r in records if r["bf_extrapolated_s"] is not None]
    return {
        "scenarios": len(records),
        "solved": len(shares),
        "failed": sum(r["status"] == "failed" for r in records),
        "share_mean": statistics.fmean(shares) if shares else None,
        "share_worst": min(shares) if shares else None,
        "time_median_s": statistics.median(times) if times else None,
        "bf_extrapolated_median_s": statistics.median(extra) if extra else None,
    }


def failure_record(task: Mapping[str, Any], failure: Any) -> dict[str, Any]:
    """The record of a task that raised: its identity, ``status="failed"``, the error."""
    record: dict[str, Any] = dict.fromkeys(RECORD_KEYS)
    record.update(
        family=task["family"],
        scenario=task["scenario"],
        seed=task["seed"],
        method=task["method"],
        K=task.get("K"),
        status="failed",
        reason=f"{failure.error_type}: {failure.message}",
    )
    return record


def _share(profit: float, best: float) -> float:
    """Profit over the optimum (1 when the optimum is 0: every price is optimal)."""
    return float(profit / best) if best > 0 else 1.0


def sweep_records(
    tasks: list[dict[str, Any]], *, executor: Any, workers: int, progress: bool, label: str
) -> list[dict[str, Any]]:
    """:func:`run_method_task` over ``tasks``, failures as records, in task order."""
    from prillm.experiments.executor import TaskFailure, run_sweep

    out = run_sweep(
        run_method_task, tasks, executor=executor, workers=workers, progress=progress, label=label
    )
    return [
        failure_record(task, res) if isinstance(res, TaskFailure) else res
        for task, res in zip(tasks, out, strict=True)
    ]
