"""Build the shipped data of ``prillm.data`` (see ``prillm/data/DATASHEET.md``).

Two steps:

1. ``facts``: derive compact tables from public copies of OpenRouter's rankings (a folder of CSV
   files, by default ``/work/shared/data/openrouter``; pass ``--source``). Rows and columns are
   selected; no figure is changed, interpolated or invented. Skipped with a message when the
   folder is absent (the shipped tables stay as they are).
2. ``panel``: generate the planted calibration panel from the shipped tables with a fixed seed
   and write ``panel_seed0.json.gz`` (the panel file format of ``prillm.data.panel_file``,
   compressed without a time stamp: the same code and tables give the same bytes). Needs
   nothing but the package.

Usage::

    python scripts/build_data.py [--source DIR] [--only facts|panel]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from prillm.data.openrouter import (
    APP_FLOWS_FILE,
    APP_FLOWS_SCHEMA,
    MODELS_DAILY_FILE,
    MODELS_DAILY_SCHEMA,
    PERFORMANCE_FILE,
    PERFORMANCE_SCHEMA,
    PRICE_HISTORY_FILE,
    PRICE_HISTORY_SCHEMA,
    SOURCE,
)
from prillm.data.table import write_table

DEFAULT_SOURCE = Path("/work/shared/data/openrouter")
LICENCE = "CC BY 4.0 (OpenRouter rankings data)"
BUILT_BY = "scripts/build_data.py (prillm); see prillm/data/DATASHEET.md"
VARIANTS = (":free", ":beta", ":thinking", ":extended")
#: How many model variants of the daily 2025 series are kept (by total tokens over the window).
N_DAILY_MODELS = 50
#: How many models of the 2026 app snapshot are kept (by total app tokens), with all their apps.
N_FLOW_MODELS = 40


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _split_variant(slug: str) -> tuple[str, str]:
    """``("base", ":variant")`` for a permaslug or model id (``""`` for the standard variant)."""
    for suffix in VARIANTS:
        if slug.endswith(suffix):
            base, _ = _split_variant(slug[: -len(suffix)])
            return base, suffix
    return slug, ""


def _variant_name(suffix: str) -> str:
    return suffix[1:] if suffix else "standard"


class Ledger:
    """The list-price ledger: change points per model id."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.rows = rows
        self.by_id: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in rows:
            self.by_id[row["model_id"]].append(row)

    def price(self, model_id: str, date: str) -> tuple[str, str]:
        """Input and output price (as text) in effect on ``date``; blanks when unknown."""
        found = ("", "")
        for row in self.by_id.get(model_id, []):
            if row["change_date"] <= date <= row["last_seen"]:
                found = (row["input_price_usd_per_mtok"], row["output_price_usd_per_mtok"])
        return found


def map_permaslug(slug: str, dates: list[str], mapping: dict[str, str], ledger: Ledger) -> str:
    """API model id of a rankings permaslug seen on ``dates``.

    The variant comes from the permaslug's suffix (a permaslug without suffix is taken as the
    standard, paid variant). The base id is either the permaslug's base itself or the upstream
    mapping of the base (or of the full permaslug) with its variant suffix removed; of these, the
    one whose ledger listing window covers most of ``dates`` wins (ties: the permaslug's own
    base). The upstream table maps some standard permaslugs to the ``:free`` id; stripping and
    re-attaching the permaslug's own suffix corrects that.
    """
    base, suffix = _split_variant(slug)
    candidates = [base]
    mapped = mapping.get(base) or mapping.get(slug)
    if mapped and _split_variant(mapped)[0] != base:
        candidates.append(_split_variant(mapped)[0])

    def coverage(candidate: str) -> int:
        rows = ledger.by_id.get(candidate + suffix) or ledger.by_id.get(candidate, [])
        if not rows:
            return -1
        first, last = rows[0]["first_seen"], rows[0]["last_seen"]
        return sum(first <= d <= last for d in dates)

    best = max(candidates, key=lambda c: (coverage(c), c == base))
    return best + suffix


def build_models_daily(src: Path, ledger: Ledger, out: Path) -> list[str]:
    rows = [r for r in _read(src / "models_daily_2025.csv") if r["model_permaslug"] != "other"]
    mapping = {
        r["model_permaslug"]: r["model_id"]
        for r in _read(src / "mapping_permaslug_to_model_id.csv")
    }
    total: Counter[str] = Counter()
    for r in rows:
        total[r["model_permaslug"]] += int(r["tokens"])
    keep = [slug for slug, _ in total.most_common(N_DAILY_MODELS)]
    order = {slug: k for k, slug in enumerate(keep)}
    selected = sorted(
        (r for r in rows if r["model_permaslug"] in order),
        key=lambda r: (r["date"], order[r["model_permaslug"]]),
    )
    seen: dict[str, list[str]] = defaultdict(list)
    for r in selected:
        seen[r["model_permaslug"]].append(r["date"])
    ids = {slug: map_permaslug(slug, seen[slug], mapping, ledger) for slug in keep}
    table = []
    for r in selected:
        model_id = ids[r["model_permaslug"]]
        p_in, p_out = ledger.price(model_id, r["date"])
        table.append(
            {
                "date": r["date"],
                "model_id": model_id,
                "model_permaslug": r["model_permaslug"],
                "variant": _variant_name(_split_variant(r["model_permaslug"])[1]),
                "tokens": int(r["tokens"]),
                "day_complete": int(r["day_complete_in_excerpt"]),
                "input_price_usd_per_mtok": float(p_in) if p_in else None,
                "output_price_usd_per_mtok": float(p_out) if p_out else None,
            }
        )
    dates = sorted({r["date"] for r in table})
    write_table(
        out / MODELS_DAILY_FILE.name,
        table,
        MODELS_DAILY_SCHEMA,
        {
            "table": "models_daily_2025",
            "source": SOURCE,
            "as_of": dates[-1],
            "attribution": f"Source: {SOURCE}, as of {dates[-1]}",
            "licence": LICENCE,
            "period": f"{dates[0]}..{dates[-1]} (daily)",
            "selection": f"the {N_DAILY_MODELS} model variants with most tokens over the period",
            "units": "tokens per day; prices USD per 1M tokens (list price in effect that day)",
            "derived_from": "models_daily_2025.csv + prices_ledger.csv (public copies; SOURCES)",
            "built_by": BUILT_BY,
        },
    )
    return sorted({r["model_id"] for r in table})


def snapshot_ledger_ids(flow_ids: list[str], ledger: Ledger) -> list[str]:
    """The model ids of the app snapshot that the ledger lists, matched exactly.

    The snapshot gives each row's API model id (variant suffix ``:free`` included) beside its
    dated permaslug (``deepseek/deepseek-v4-flash-20260423`` is ``deepseek/deepseek-v4-flash``);
    where the upstream mapping table knows the permaslug it gives the same id. Dated API ids such
    as ``deepseek/deepseek-v4-flash-0731`` are models of their own in the ledger. So the id is
    looked up as it stands: a ``:free`` id is not priced by its paid sibling, and an id the
    ledger does not list (released after its last day, or never in the model list) stays
    unpriced.
    """
    return sorted(m for m in set(flow_ids) if m in ledger.by_id)


def build_price_history(
    ledger: Ledger, model_ids: list[str], flow_ids: list[str], out: Path
) -> None:
    keep = set(model_ids) | set(snapshot_ledger_ids(flow_ids, ledger))
    table = [
        {
            "model_id": r["model_id"],
            "change_date": r["change_date"],
            "input_price_usd_per_mtok": float(r["input_price_usd_per_mtok"]),
            "output_price_usd_per_mtok": float(r["output_price_usd_per_mtok"]),
            "first_seen": r["first_seen"],
            "last_seen": r["last_seen"],
        }
        for r in ledger.rows
        if r["model_id"] in keep
    ]
    last = max(r["last_seen"] for r in table)
    write_table(
        out / PRICE_HISTORY_FILE.name,
        table,
        PRICE_HISTORY_SCHEMA,
        {
            "table": "price_history",
            "source": f"{SOURCE}; model list /api/v1/models as archived by jvrck/openrouterlist",
            "as_of": last,
            "attribution": f"Source: {SOURCE}, as of {last}",
            "licence": LICENCE + "; archive MIT",
            "period": f"{min(r['change_date'] for r in table)}..{last}",
            "selection": (
                "every price change of the model ids of models_daily_2025.csv and of "
                "app_flows_2026.csv (snapshot ids matched exactly, variant suffix included)"
            ),
            "units": "USD per 1M tokens (headline list price, not cache-discounted)",
            "derived_from": "prices_ledger.csv (public copy; SOURCES)",
            "built_by": BUILT_BY,
        },
    )


def build_app_flows(src: Path, out: Path) -> list[str]:
    rows = _read(src / "app_model_flows.csv")
    total: Counter[str] = Counter()
    for r in rows:
        total[r["model_id"]] += int(r["tokens"])
    keep = {m for m, _ in total.most_common(N_FLOW_MODELS)}
    table = [
        {
            "app": r["app"],
            "app_id": int(r["app_id"]),
            "app_categories": r["app_categories"],
            "model_id": r["model_id"],
            "variant": r["variant"],
            "rank_on_model": int(r["rank_on_model"]),
            "tokens": int(r["tokens"]),
            "requests": int(r["requests"]),
        }
        for r in rows
        if r["model_id"] in keep or "translat" in r["app"].lower()
    ]
    write_table(
        out / APP_FLOWS_FILE.name,
        table,
        APP_FLOWS_SCHEMA,
        {
            "table": "app_flows_2026",
            "source": f"{SOURCE}; top-apps-for-model pages as archived by pacell/openrouter-stats",
            "as_of": "2026-09 (snapshot; exact pull date not in the source)",
            "attribution": f"Source: {SOURCE}, as of 2026-09",
            "licence": LICENCE,
            "period": "one snapshot, OpenRouter's trailing window of each model page",
            "selection": (
                f"all public top apps of the {N_FLOW_MODELS} models with most app tokens, plus "
                "every row of an app whose name contains 'translat'"
            ),
            "units": "tokens and requests over the snapshot window",
            "derived_from": "app_model_flows.csv (public copy; SOURCES)",
            "built_by": BUILT_BY,
        },
    )
    return sorted({r["model_id"] for r in table})


def build_performance(src: Path, out: Path) -> None:
    rows = _read(src / "performance_fastest_2026_daily.csv")
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        groups[r["model_id"]].append(r)
    table = []
    for model_id, rs in groups.items():
        tps = [float(r["throughput_tok_s"]) for r in rs]
        lat = [float(r["latency_ms_p50"]) / 1000.0 for r in rs]
        price = [float(r["price_usd_per_mtok"]) for r in rs]
        dates = sorted(r["snapshot_date"] for r in rs)
        table.append(
            {
                "model_id": model_id,
                "fastest_provider": Counter(r["fastest_provider"] for r in rs).most_common(1)[0][0],
                "n_snapshots": len(rs),
                "first_date": dates[0],
                "last_date": dates[-1],
                "throughput_tok_s_median": statistics.median(tps),
                "throughput_tok_s_min": min(tps),
                "throughput_tok_s_max": max(tps),
                "latency_s_median": statistics.median(lat),
                "price_usd_per_mtok_median": statistics.median(price),
            }
        )
    table.sort(key=lambda r: (-r["throughput_tok_s_median"], r["model_id"]))
    first = min(r["first_date"] for r in table)
    last = max(r["last_date"] for r in table)
    write_table(
        out / PERFORMANCE_FILE.name,
        table,
        PERFORMANCE_SCHEMA,
        {
            "table": "performance_2026",
            "source": f"{SOURCE}; 'fastest' list of the rankings page (jampongsathorn archive)",
            "as_of": last,
            "attribution": f"Source: {SOURCE}, as of {last}",
            "licence": LICENCE,
            "period": f"{first}..{last} (44 daily snapshots)",
            "selection": "per model: summary over the days it was among the 30 fastest endpoints",
            "units": "throughput tokens per second; latency p50 seconds; price USD per 1M tokens",
            "derived_from": "performance_fastest_2026_daily.csv (public copy; SOURCES)",
            "built_by": BUILT_BY,
        },
    )


def build_facts(src: Path, out: Path) -> None:
    """Step 1: the compact tables of public figures."""
    ledger = Ledger(_read(src / "prices_ledger.csv"))
    model_ids = build_models_daily(src, ledger, out)
    flow_ids = build_app_flows(src, out)
    build_price_history(ledger, model_ids, flow_ids, out)
    build_performance(src, out)


def build_panel(out: Path) -> dict[str, Any]:
    """Step 2: the planted calibration panel (default seed), from the shipped tables."""
    from prillm.data import DEFAULT_PANEL_FILE, DEFAULT_PANEL_SEED, generate_planted_panel

    panel = generate_planted_panel(seed=DEFAULT_PANEL_SEED)
    panel.to_json(out / DEFAULT_PANEL_FILE.name)
    return panel.summary()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out", type=Path, default=MODELS_DAILY_FILE.parent)
    parser.add_argument("--only", choices=("facts", "panel"))
    args = parser.parse_args(argv)
    if args.only in (None, "facts"):
        if args.source.is_dir():
            build_facts(args.source, args.out)
            print(f"facts: tables written to {args.out}")
        else:
            print(f"facts: skipped ({args.source} not found; shipped tables kept)")
    if args.only in (None, "panel"):
        summary = build_panel(args.out)
        print(f"panel: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
