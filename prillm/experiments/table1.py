"""Table 1 of the paper: every pricing method on held-out scenarios of the four market segments.

:func:`table1_records` prices a random target on ``scenarios_per_segment`` held-out scenarios of
each segment with every method and returns one record per (segment, scenario, method): profit
as a share of the exact optimum, wall time and status (:mod:`~prillm.experiments.scenario_runs`
says how a scenario is drawn and what a record holds). :func:`summarise_table1` reduces them to
one row per segment and method with the paper's statements beside; :func:`improvement_over` is
PriLLM's improvement over pMPEC and Smooth, the paper's headline comparison.

The segments
------------
Cut out of the shipped planted panel (20 models x 20 apps x 100 days,
:meth:`prillm.data.Panel.segment`), as the paper delineates them (Section 6.1):

* ``Premium`` — the models whose median list price is above 1 USD per million input tokens
  and the apps that use them (each app's demand becomes its exact flow to those models, which
  stays an exact equilibrium; 3 models x 19 apps);
* ``Economy`` — the models below 1 USD per million input tokens, all apps, the same way (17 x
  20);
* ``Coding`` — the 8 coding apps and the models that carry at least 2 % of their exact traffic,
  with the share of each model's capacity their traffic used, every day re-solved (9 x 8);
* ``Translation`` — the same for the 3 translation apps (7 x 3).

(``prillm/data/DATASHEET.md``, Segments.)

The methods
-----------
``exact`` (the certified optimum: the reference), ``spiter``, ``bf`` (the brute force, within
``bf_budget`` seconds), ``pmpec``, ``smooth``, ``odca``, ``spgce`` and ``prillm`` (deep
aggregation to ``K = 2`` rivals, then SPITER: the paper's pipeline, Section 6.1).

What the paper reports
----------------------
The per-cell figures of the paper's Table 1 are not in the text of the paper we have (the table
is typeset as an image); only its statements are, and :data:`PAPER_TABLE1` and
:data:`PAPER_IMPROVEMENT` quote those. Its markets are its own (unreleased OpenRouter data, BF as
the optimum); ours are the planted panel's, with the exact path as the optimum, so the
comparison is of orders of magnitude and of rankings, not of digits.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from prillm.experiments.pricing_methods import check_methods
from prillm.experiments.scenario_runs import (
    check_sweep,
    method_task,
    outcome_summary,
    sweep_records,
)
from prillm.experiments.tables import group_records
from prillm.market import MarketError

__all__ = [
    "PAPER_IMPROVEMENT",
    "PAPER_TABLE1",
    "SEGMENTS",
    "TABLE1_METHODS",
    "TABLE1_OPTIONS",
    "TABLE1_QUICK",
    "improvement_over",
    "summarise_table1",
    "table1_records",
    "table1_tasks",
]

#: The four markets of Table 1.
SEGMENTS = ("Premium", "Economy", "Coding", "Translation")
#: The methods of Table 1 (paper Section 6, Baselines, and PriLLM).
TABLE1_METHODS = ("exact", "spiter", "bf", "pmpec", "smooth", "odca", "spgce", "prillm")
#: Default options per method: PriLLM as in the paper (K = 2, SPITER); a wall-clock cap for the
#: Pyomo methods.
TABLE1_OPTIONS: dict[str, dict[str, Any]] = {
    "prillm": {"K": 2, "solver": "spiter"},
    "pmpec": {"time_limit": 20.0},
    "smooth": {"time_limit": 20.0},
}

#: Keyword arguments of :func:`table1_records` for a quick run (the book's quick mode): one
#: scenario per segment, every method, the brute force for 0.2 s, the Pyomo methods for 2 s.
TABLE1_QUICK: dict[str, Any] = {
    "scenarios_per_segment": 1,
    "bf_budget": 0.2,
    "options": {"pmpec": {"time_limit": 2.0}, "smooth": {"time_limit": 2.0}},
}

#: What the paper states about Table 1 (abstract and Section 1, contribution 4(c); Section 6.1):
#: PriLLM reaches more than 95 % of the optimal profit in less than 5 % of the brute force's
#: computation time. Per method, the statement quoted beside its rows.
PAPER_TABLE1: dict[str, str] = {
    "prillm": "> 95 % of the optimum in < 5 % of BF's time",
    "bf": "the optimum (the paper's reference)",
    "pmpec": "PriLLM beats it by 9.2 % on average, up to 11.4 %",
    "smooth": "PriLLM beats it by 14.3 % on average, up to 17.3 %",
}
#: PriLLM's improvement over the best baselines (paper Section 1, contribution 4(b)): on
#: average and at most over the markets of Table 1, as fractions of the optimal profit.
PAPER_IMPROVEMENT: dict[str, dict[str, float]] = {
    "pmpec": {"mean": 0.092, "max": 0.114},
    "smooth": {"mean": 0.143, "max": 0.173},
}


def table1_tasks(
    segments: Sequence[str] = SEGMENTS,
    scenarios_per_segment: int = 5,
    methods: Sequence[str] = TABLE1_METHODS,
    bf_budget: float = 5.0,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The tasks of :func:`table1_records` (one per segment, scenario and method), in order.

    Raises
    ------
    prillm.MarketError
        For an unknown segment or method.
    ValueError
        For ``scenarios_per_segment < 1`` or ``bf_budget <= 0``.
    """
    check_sweep("scenarios_per_segment", scenarios_per_segment, bf_budget)
    for seg in segments:
        if seg not in SEGMENTS:
            raise MarketError(f"segments: unknown segment {seg!r}; choose from {SEGMENTS}")
    check_methods(methods, options or {})
    opts = {**TABLE1_OPTIONS, **{k: dict(v) for k, v in (options or {}).items()}}
    opts["bf"] = {"max_branches": None, "time_limit": float(bf_budget), **opts.get("bf", {})}
    return [
        method_task(
            seg,
            k,
            seed,
            method,
            options=opts.get(method),
            K=opts.get(method, {}).get("K") if method == "prillm" else None,
        )
        for seg in segments
        for k in range(scenarios_per_segment)
        for method in methods
    ]


def table1_records(
    segments: Sequence[str] = SEGMENTS,
    scenarios_per_segment: int = 5,
    methods: Sequence[str] = TABLE1_METHODS,
    bf_budget: float = 5.0,
    seed: int = 0,
    *,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    executor: Any = "serial",
    workers: int = 2,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Table 1: every method on held-out scenarios of each segment (see the module docstring).

    Parameters
    ----------
    segments
        Among :data:`SEGMENTS`.
    scenarios_per_segment
        Held-out scenarios per segment (each a random target in a perturbed test-day market).
    methods
        Pricing methods (:data:`TABLE1_METHODS` by default).
    bf_budget
        Seconds the brute force may enumerate per scenario; beyond it the record is
        ``"over_budget"`` with the branches enumerated and the extrapolated full time.
    seed
        Seeds every scenario (scenario ``k`` of a segment is the same for every method).
    options
        Method -> options for :func:`prillm.optimal_price`, over :data:`TABLE1_OPTIONS`.
    executor, workers, progress
        As for :func:`prillm.experiments.run_sweep`.

    Returns
    -------
    list of dict
        One record per (segment, scenario, method), keys
        :data:`~prillm.experiments.scenario_runs.RECORD_KEYS` (``family`` is the segment);
        ``share`` is the profit in the true game over the exact optimum (``None`` when over
        budget or failed), ``time_s`` the method's wall time, ``status`` the method's status,
        ``"over_budget"`` or ``"failed"`` (then ``reason`` holds the error).

    Examples
    --------
    >>> rows = table1_records(["Translation"], 1, ["exact", "spgce"])
    >>> [(r["method"], r["share"] <= 1 + 1e-9) for r in rows]
    [('exact', True), ('spgce', True)]
    """
    tasks = table1_tasks(segments, scenarios_per_segment, methods, bf_budget, seed, options)
    return sweep_records(
        tasks, executor=executor, workers=workers, progress=progress, label="Table 1"
    )


def summarise_table1(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (segment, method), in the order met.

    Returns
    -------
    list of dict
        ``segment``, ``method``, ``scenarios``, ``solved`` (records with a share), ``failed``,
        ``share_mean``, ``share_worst`` (over the solved; ``None`` if none), ``time_median_s``
        (over the records with a time; for BF over budget that is the budget),
        ``bf_extrapolated_median_s`` (BF only: the median time the whole enumeration takes,
        measured or extrapolated from the branches enumerated), ``over_budget``,
        ``time_vs_bf`` (the median time over the segment's ``bf_extrapolated_median_s``: the
        paper's "< 5 % of BF's time"; ``None`` without BF), ``paper`` (the paper's statement
        about the method, :data:`PAPER_TABLE1`, or ``None``).
    """
    rows = [
        {
            "segment": segment,
            "method": method,
            **outcome_summary(rs),
            "over_budget": sum(r["status"] == "over_budget" for r in rs),
            "time_vs_bf": None,
            "paper": PAPER_TABLE1.get(method),
        }
        for (segment, method), rs in group_records(records, "family", "method").items()
    ]
    bf_time = {
        r["segment"]: r["bf_extrapolated_median_s"]
        for r in rows
        if r["method"] == "bf" and r["bf_extrapolated_median_s"]
    }
    for r in rows:
        if r["segment"] in bf_time and r["time_median_s"] is not None:
            r["time_vs_bf"] = r["time_median_s"] / bf_time[r["segment"]]
    return rows


def improvement_over(
    records: Sequence[Mapping[str, Any]],
    base: Sequence[str] = ("pmpec", "smooth"),
    method: str = "prillm",
) -> list[dict[str, Any]]:
    """PriLLM's improvement over each base method, as the paper states it (Section 1, 4(b)).

    On each segment the improvement is PriLLM's mean share of the optimum minus the base's, over
    the scenarios where both have a share (a difference of fractions of the optimal profit:
    0.092 is the paper's "9.2 %"); ``mean`` averages it over the segments, ``max`` is the
    largest. ``relative_*`` are the same for the ratio of the mean shares minus one.

    Returns
    -------
    list of dict
        One row per base: ``base``, ``method``, ``segments`` (with at least one pair),
        ``pairs``, ``mean``, ``max``, ``max_segment``, ``relative_mean``, ``relative_max``,
        ``by_segment`` (segment -> improvement), ``paper_mean``, ``paper_max``
        (:data:`PAPER_IMPROVEMENT`, ``None`` for another base).
    """
    shares: dict[tuple[str, str, int], float] = {}
    order: list[str] = []
    for r in records:
        if r["share"] is not None:
            shares[(r["method"], r["family"], r["scenario"])] = float(r["share"])
            if r["family"] not in order:
                order.append(r["family"])
    rows = []
    for b in base:
        by_segment: dict[str, float] = {}
        relative: dict[str, float] = {}
        pairs = 0
        for seg in order:
            ks = sorted(
                k for (m, s, k) in shares if m == method and s == seg and (b, seg, k) in shares
            )
            if not ks:
                continue
            pairs += len(ks)
            mine = statistics.fmean(shares[(method, seg, k)] for k in ks)
            theirs = statistics.fmean(shares[(b, seg, k)] for k in ks)
            by_segment[seg] = mine - theirs
            relative[seg] = mine / theirs - 1.0 if theirs > 0 else float("inf")
        paper = PAPER_IMPROVEMENT.get(b, {})
        best = max(by_segment, key=by_segment.__getitem__) if by_segment else None
        rows.append(
            {
                "base": b,
                "method": method,
                "segments": len(by_segment),
                "pairs": pairs,
                "mean": statistics.fmean(by_segment.values()) if by_segment else None,
                "max": by_segment[best] if best is not None else None,
                "max_segment": best,
                "relative_mean": statistics.fmean(relative.values()) if relative else None,
                "relative_max": max(relative.values()) if relative else None,
                "by_segment": by_segment,
                "paper_mean": paper.get("mean"),
                "paper_max": paper.get("max"),
            }
        )
    return rows
