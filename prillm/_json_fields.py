"""Field checks of the JSON market and preferences files (every error names the field)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prillm._validation import MarketError, check_number, describe

__all__ = ["check_format", "check_units", "entries", "ident", "json_type", "number"]


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type (for error messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def check_format(data: Mapping[str, Any], expected: str, where: str, version: int) -> None:
    """``format`` (if given) must be ``expected``; ``version`` (if given) ``version``."""
    fmt = data.get("format", expected)
    if fmt != expected:
        raise MarketError(f"{where}: format: expected {expected!r}, got {describe(fmt)}")
    given = data.get("version", version)
    if type(given) is not int or given != version:
        raise MarketError(
            f"{where}: version: this prillm reads version {version}, got {describe(given)}"
        )


def check_units(data: Mapping[str, Any], units: Mapping[str, str], where: str, sep: str) -> None:
    """``units`` is informational, but it must not claim other units than prillm's."""
    if "units" not in data:
        return
    given = data["units"]
    if not isinstance(given, Mapping):
        raise MarketError(f"{where}{sep}units: expected a JSON object, got {json_type(given)}")
    for key, value in given.items():
        if key not in units:
            raise MarketError(f"{where}{sep}units: unknown field {key!r}")
        if value != units[key]:
            raise MarketError(
                f"{where}{sep}units.{key}: prillm's unit is {units[key]!r}, got {describe(value)}"
            )


def entries(data: Mapping[str, Any], key: str, where: str, fields: set[str]) -> list[Mapping]:
    """The list ``data[key]`` of JSON objects, each with exactly ``fields`` (``id`` optional)."""
    if key not in data:
        raise MarketError(f"{where}: missing field {key!r}")
    entries = data[key]
    if not isinstance(entries, list):
        raise MarketError(f"{where}: {key}: expected a list, got {json_type(entries)}")
    if not entries:
        what = "provider" if key == "providers" else "user"
        raise MarketError(f"{where}: {key}: the market needs at least one {what}")
    for k, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise MarketError(
                f"{where}: {key}[{k}]: expected an object, got {json_type(entry)} {describe(entry)}"
            )
        extra = sorted(set(entry) - fields)
        if extra:
            raise MarketError(f"{where}: {key}[{k}]: unknown field {extra[0]!r}")
        missing = sorted(fields - set(entry) - {"id"})
        if missing:
            raise MarketError(f"{where}: {key}[{k}]: missing field {missing[0]!r}")
    return entries


def number(entry: Mapping[str, Any], key: str, where: str, lower: int) -> float:
    """A finite JSON number, >= 0 (``lower=0``) or > 0 (``lower=1``)."""
    value = check_number(f"{where}.{key}", entry[key])
    if value < 0 or (lower and value == 0):
        rule = "> 0" if lower else ">= 0"
        raise MarketError(f"{where}.{key}: must be {rule}, got {describe(value)}")
    return value


def ident(entry: Mapping[str, Any], where: str) -> str:
    """A non-empty string ``id`` of a JSON object."""
    if "id" not in entry:
        raise MarketError(f"{where}: missing field 'id'")
    ident = entry["id"]
    if not isinstance(ident, str) or not ident.strip():
        raise MarketError(f"{where}.id: ids must be non-empty strings, got {describe(ident)}")
    return ident
