"""Loaders of the shipped public OpenRouter figures (facts, see ``DATASHEET.md``).

Every table is a compact selection made by ``scripts/build_data.py`` from public copies of
OpenRouter's own rankings and model list. Source: OpenRouter (openrouter.ai/rankings), CC BY 4.0;
the date each table refers to is in its header and in ``table.meta["as_of"]``.

Units: tokens are token counts (per day, or over the snapshot window for app flows), prices are
USD per million tokens (headline list prices), throughput is tokens per second and latency is
seconds.
"""

from __future__ import annotations

import math
from pathlib import Path

from prillm.data.table import Table, read_table

__all__ = [
    "APP_FLOWS_FILE",
    "APP_FLOWS_SCHEMA",
    "DATA_DIR",
    "MODELS_DAILY_FILE",
    "MODELS_DAILY_SCHEMA",
    "PERFORMANCE_FILE",
    "PERFORMANCE_SCHEMA",
    "PRICE_HISTORY_FILE",
    "PRICE_HISTORY_SCHEMA",
    "SOURCE",
    "load_app_flows",
    "load_models_daily",
    "load_performance",
    "load_price_history",
    "price_on",
]

#: Folder of the shipped data files.
DATA_DIR = Path(__file__).resolve().parent
#: The attribution OpenRouter asks for (followed by ", as of <date>").
SOURCE = "OpenRouter (openrouter.ai/rankings)"

MODELS_DAILY_FILE = DATA_DIR / "models_daily_2025.csv"
PRICE_HISTORY_FILE = DATA_DIR / "price_history.csv"
APP_FLOWS_FILE = DATA_DIR / "app_flows_2026.csv"
PERFORMANCE_FILE = DATA_DIR / "performance_2026.csv"

MODELS_DAILY_SCHEMA = {
    "date": "date",
    "model_id": "str",
    "model_permaslug": "str",
    "variant": "str",
    "tokens": "int",
    "day_complete": "int",
    "input_price_usd_per_mtok": "float?",
    "output_price_usd_per_mtok": "float?",
}
PRICE_HISTORY_SCHEMA = {
    "model_id": "str",
    "change_date": "date",
    "input_price_usd_per_mtok": "float",
    "output_price_usd_per_mtok": "float",
    "first_seen": "date",
    "last_seen": "date",
}
APP_FLOWS_SCHEMA = {
    "app": "str",
    "app_id": "int",
    "app_categories": "str?",
    "model_id": "str",
    "variant": "str",
    "rank_on_model": "int",
    "tokens": "int",
    "requests": "int",
}
PERFORMANCE_SCHEMA = {
    "model_id": "str",
    "fastest_provider": "str",
    "n_snapshots": "int",
    "first_date": "date",
    "last_date": "date",
    "throughput_tok_s_median": "float",
    "throughput_tok_s_min": "float",
    "throughput_tok_s_max": "float",
    "latency_s_median": "float",
    "price_usd_per_mtok_median": "float",
}


def load_models_daily(path: str | Path | None = None) -> Table:
    """Daily total tokens of the most-used models, 2025-04-01..2025-05-08, with list prices.

    One row per (day, model variant): the 50 most-used model variants over the window (free,
    paid and self-moderated variants are separate rows, as on OpenRouter).

    Parameters
    ----------
    path
        Another file in the same format (default: the shipped ``models_daily_2025.csv``).

    Returns
    -------
    Table
        ``date`` (ISO), ``model_id`` (API id incl. variant suffix), ``model_permaslug``,
        ``variant`` (``standard``/``free``/``beta``/``thinking``), ``tokens`` (int, prompt +
        completion tokens that day), ``day_complete`` (1 if the source had the full top-50 that
        day), ``input_price_usd_per_mtok`` / ``output_price_usd_per_mtok`` (list price in effect
        that day, USD per 1M tokens; ``NaN`` when unknown).

    Raises
    ------
    prillm.MarketError
        If the file is missing or malformed (the message names the file, line and column).

    Examples
    --------
    >>> t = load_models_daily()
    >>> t["tokens"].dtype.name, t.meta["as_of"]
    ('int64', '2025-05-08')
    """
    return read_table(path or MODELS_DAILY_FILE, MODELS_DAILY_SCHEMA)


def load_price_history(path: str | Path | None = None) -> Table:
    """Every list-price change of the shipped models (2024-09-21..2026-08-22).

    Returns
    -------
    Table
        ``model_id``, ``change_date`` (the first snapshot showing the new price; a change may show
        up to a day late), ``input_price_usd_per_mtok``, ``output_price_usd_per_mtok`` (USD per
        1M tokens), ``first_seen`` / ``last_seen`` (the model's listing window in the source).
        Rows are in source order: when one day has two rows, the later one is the price in
        effect at the end of that day. Use :func:`prillm.data.price_on` to look a price up.

    Raises
    ------
    prillm.MarketError
        If the file is missing or malformed.
    """
    return read_table(path or PRICE_HISTORY_FILE, PRICE_HISTORY_SCHEMA)


def load_app_flows(path: str | Path | None = None) -> Table:
    """The one public app x model flow snapshot (~2026-09): top public apps of the top models.

    Returns
    -------
    Table
        ``app`` (name), ``app_id`` (OpenRouter's id), ``app_categories`` (``|``-separated, may be
        blank), ``model_id``, ``variant``, ``rank_on_model`` (rank of the app among the model's
        apps; gaps are private apps), ``tokens`` and ``requests`` (int, over OpenRouter's
        trailing window for that page).

    Raises
    ------
    prillm.MarketError
        If the file is missing or malformed.
    """
    return read_table(path or APP_FLOWS_FILE, APP_FLOWS_SCHEMA)


def load_performance(path: str | Path | None = None) -> Table:
    """Throughput and latency of the fastest endpoints, summarised per model (2026-03..05).

    Returns
    -------
    Table
        ``model_id``, ``fastest_provider`` (the provider most often fastest), ``n_snapshots``
        (daily snapshots in which the model was in the fastest-30 list), ``first_date``,
        ``last_date``, ``throughput_tok_s_median`` / ``_min`` / ``_max`` (tokens per second),
        ``latency_s_median`` (p50 latency, seconds), ``price_usd_per_mtok_median``.

    Raises
    ------
    prillm.MarketError
        If the file is missing or malformed.
    """
    return read_table(path or PERFORMANCE_FILE, PERFORMANCE_SCHEMA)


def price_on(history: Table, model_id: str, date: str) -> tuple[float, float]:
    """The list price ``(input, output)`` of a model in effect on a date, from the price history.

    The price in effect on ``date`` is the last change on or before it. Before the model's first
    listing, or after its ``last_seen`` date, the price is unknown (``NaN``).

    Parameters
    ----------
    history
        A table from :func:`load_price_history`.
    model_id
        The API model id (with its variant suffix, e.g. ``":free"``).
    date
        ISO date ``YYYY-MM-DD``.

    Returns
    -------
    tuple of float
        USD per 1M input and output tokens.

    Examples
    --------
    >>> price_on(load_price_history(), "anthropic/claude-3.7-sonnet", "2025-04-10")
    (3.0, 15.0)
    """
    rows = history.where("model_id", model_id)
    found = (math.nan, math.nan)
    for row in rows.rows():
        if row["change_date"] <= date <= row["last_seen"]:
            found = (row["input_price_usd_per_mtok"], row["output_price_usd_per_mtok"])
    return found
