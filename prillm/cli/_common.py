"""Pieces shared by the sub-commands: exit codes, reading a market file, reports, tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prillm.market import Market, Preferences

#: Exit status for bad input (a missing or malformed file, a bad value or option).
EXIT_INPUT = 2
#: Exit status for a solver that cannot certify its answer.
EXIT_SOLVER = 3


def load_market_and_prefs(
    market_path: str, prefs_path: str | None
) -> tuple[Market, Preferences, str]:
    """Read a market file and the preferences to use with it.

    Preferences come from ``--prefs`` if given, else from the market file's ``preferences``
    section, else the defaults (``w_p = w_q = w_d = 1``, ``b = 0``). The third value says which.
    The file is read once; preferences that do not fit the market (``b`` for an unknown provider
    or none for a known one) are refused here, naming the file.
    """
    from prillm.io import read_json
    from prillm.market import Market, MarketError, Preferences

    data = read_json(market_path)  # read once: the market and its preferences section
    market = Market.from_dict(data, where=market_path)
    if prefs_path is not None:
        prefs, source, where = Preferences.from_json(prefs_path), f"from {prefs_path}", prefs_path
    elif isinstance(data, dict) and "preferences" in data:
        where = f"{market_path}: preferences"
        prefs, source = (
            Preferences.from_dict(data["preferences"], where=where),
            "from the market file",
        )
    else:
        return market, Preferences(), "defaults (w_p = w_q = w_d = 1, b = 0)"
    try:
        prefs.values_for(market)  # b must name exactly the market's providers
    except MarketError as exc:
        raise MarketError(f"{where}: {exc}") from None
    return market, prefs, source


def report(
    payload: dict[str, Any], source: str, text: str, as_json: bool, allow_nan: bool = True
) -> str:
    """What a sub-command prints: ``payload`` and the preferences' ``source`` as JSON, or ``text``.

    ``allow_nan=False`` refuses non-finite numbers (strict JSON) instead of writing ``NaN``.
    """
    import json

    if not as_json:
        return text
    return json.dumps({**payload, "preferences": source}, indent=2, allow_nan=allow_nan)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" if k == 0 else f"{{:>{w}}}" for k, w in enumerate(widths))
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out.extend(fmt.format(*r) for r in rows)
    return "\n".join(out)
