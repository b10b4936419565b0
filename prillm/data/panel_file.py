"""The panel file: one JSON format for every :class:`~prillm.data.Panel`, gzip-compressed or not.

The format (``"format": "prillm-panel"``, ``"version": 2``)::

    {
      "format": "prillm-panel", "version": 2,
      "name": "full",                                   (optional)
      "provider_ids": ["openai/gpt-4.1", ...],          (m ids)
      "user_ids": ["cline", ...],                       (n ids)
      "dates": ["2025-04-15", ...],                     (optional, T ISO dates)
      "demand": [[...], ...],                           (T x n, tokens per period)
      "price": [[...], ...],                            (T x m, or m: USD per 1M tokens)
      "capacity": [[...], ...],                         (T x m, or m: tokens per period)
      "latency": T x n x m | n x m | m | a number
                 | {"base": m, "per_user": n, "per_day": T x m},   (seconds)
      "flows": [[[...]]],                               (T x n x m observed flows)
      "flow_totals": "match" | "noisy",                 (optional, default "match")
      "exact_flows": [[[...]]],                         (optional, T x n x m)
      "truth": <preferences object>,                    (optional, prillm-preferences)
      "noise": {...}, "segments": {...}, "segment_users": {...},
      "user_categories": {...}, "seed": 0, "info": {...},   (optional)
      "units": {...}                                    (optional, informational)
    }

Every number must be a JSON number (a string or ``true`` where a number belongs is refused,
naming the field and the index); unknown fields are refused. Floats are written with ``repr``
precision, so a round trip returns an equal panel. :func:`write_panel` compresses with gzip
(deterministic: no time stamp, no file name) when the path ends with ``.gz``; :func:`read_panel`
recognises a compressed file by its first bytes.

:func:`read_panel` also reads what earlier versions of prillm wrote or accepted, converting it:
a JSON list of market files (one ``prillm-market`` file with ``observed_flows`` per day, paths
relative to the list), a version-1 ``prillm-panel`` file (``"days"``: a list of market objects,
``"truth"``) and the planted-panel ``.npz`` files (:mod:`prillm.data.panel_legacy`). Nothing
writes those any more.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from prillm._validation import MarketError
from prillm.data.panel import PANEL_FIELDS, Panel, latency_from_factors
from prillm.io import atomic_write_bytes, read_json
from prillm.market import Market, Preferences

__all__ = [
    "PANEL_FORMAT",
    "PANEL_VERSION",
    "panel_from_dict",
    "panel_to_dict",
    "read_panel",
    "strict_array",
    "strict_preferences",
    "write_panel",
]

PANEL_FORMAT = "prillm-panel"
PANEL_VERSION = 2
UNITS = {
    "demand": "tokens per period",
    "price": "USD per 1M tokens",
    "capacity": "tokens per period",
    "latency": "seconds",
    "flows": "tokens per period",
}
#: Every top-level field of the format: the panel's fields (latency factors are stored in
#: ``latency``) and the header.
_KNOWN = {"format", "version", "units", *PANEL_FIELDS} - {"latency_factors"}
_DEMAND_MODES = ("check", "flows", "market")


# ---------------------------------------------------------------------- writing
def panel_to_dict(panel: Panel) -> dict[str, Any]:
    """The panel as the JSON object of the file format (see the module docstring)."""
    out: dict[str, Any] = {
        "format": PANEL_FORMAT,
        "version": PANEL_VERSION,
        "units": dict(UNITS),
        "name": panel.name,
        "provider_ids": list(panel.provider_ids),
        "user_ids": list(panel.user_ids),
    }
    if panel.dates is not None:
        out["dates"] = list(panel.dates)
    out["demand"] = panel.demand.tolist()
    out["price"] = panel.price.tolist()
    cap = panel.capacity
    out["capacity"] = cap[0].tolist() if (cap == cap[0]).all() else cap.tolist()
    lf = panel.latency_factors
    if lf is not None:
        out["latency"] = {
            "base": lf[0].tolist(),
            "per_user": lf[1].tolist(),
            "per_day": lf[2].tolist(),
        }
    else:
        out["latency"] = panel.latency.tolist()
    out["flows"] = panel.flows.tolist()
    out["flow_totals"] = panel.flow_totals
    if panel.exact_flows is not None:
        out["exact_flows"] = panel.exact_flows.tolist()
    if panel.truth is not None:
        out["truth"] = panel.truth.to_dict()
    for key in ("noise", "segments", "segment_users", "user_categories", "seed", "info"):
        value = getattr(panel, key)
        if value is not None:
            out[key] = (
                {k: list(v) for k, v in value.items()}
                if key in ("segments", "segment_users")
                else value
            )
    return out


def write_panel(panel: Panel, path: str | os.PathLike[str]) -> None:
    """Write ``panel`` to ``path`` atomically; gzip-compressed when the path ends with ``.gz``.

    One top-level field per line; the output depends only on the panel (compression without a
    time stamp), so writing the same panel twice gives the same bytes.
    """
    data = panel_to_dict(panel)
    lines = [
        f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'), allow_nan=False)}"
        for k, v in data.items()
    ]
    raw = ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")
    if str(path).endswith(".gz"):
        raw = gzip.compress(raw, compresslevel=9, mtime=0)
    atomic_write_bytes(path, raw)


# ---------------------------------------------------------------------- reading
def read_panel(path: str | os.PathLike[str], *, demand: str = "check") -> Panel:
    """Read a panel file (any of the forms of the module docstring).

    Parameters
    ----------
    path
        The file.
    demand
        ``"check"`` (default): the demand the file states, with the file's own ``flow_totals``
        (files made of market objects: the observed flows must add up to it); ``"flows"``: the
        observed totals become the demand; ``"market"``: the stated demand, with noisy totals
        allowed (``flow_totals="noisy"``).

    Raises
    ------
    prillm.MarketError
        One line naming the file and the offending field for a missing, unreadable or malformed
        file.
    """
    if demand not in _DEMAND_MODES:
        raise MarketError(f"demand: expected 'check', 'flows' or 'market', got {demand!r}")
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(4)
    except FileNotFoundError:
        raise MarketError(f"{p}: no such file") from None
    except OSError as exc:
        raise MarketError(f"{p}: cannot read the file ({exc})") from None
    if head == b"PK\x03\x04" or p.suffix == ".npz":
        from prillm.data.panel_legacy import read_npz_panel

        return _with_demand(read_npz_panel(p), demand, str(p))
    data = read_json(p)
    where = str(p)
    if isinstance(data, list):
        markets = _market_files(data, p.parent, where)
        return _wrap(where, lambda: Panel.from_markets(markets, demand=demand))
    if not isinstance(data, Mapping):
        raise MarketError(
            f"{where}: expected a prillm-panel object or a list of market files, got "
            f"{type(data).__name__}"
        )
    if data.get("format") != PANEL_FORMAT:
        raise MarketError(f"{where}: format: expected {PANEL_FORMAT!r}, got {data.get('format')!r}")
    version = data.get("version", 1)
    if version == 1 and type(version) is int:
        from prillm.data.panel_legacy import panel_from_days

        return panel_from_days(data, where, demand=demand)
    if version != PANEL_VERSION or type(version) is not int:
        raise MarketError(f"{where}: version: this prillm reads versions 1 and 2, got {version!r}")
    return _with_demand(panel_from_dict(data, where=where), demand, where)


def panel_from_dict(data: Mapping[str, Any], *, where: str = "panel") -> Panel:
    """Build a panel from the JSON object of the format (version 2), checking every field."""
    if not isinstance(data, Mapping):
        raise MarketError(f"{where}: expected a JSON object, got {type(data).__name__}")
    extra = sorted(set(data) - _KNOWN)
    if extra:
        raise MarketError(f"{where}: unknown field {extra[0]!r}")
    for key in ("provider_ids", "user_ids", "demand", "price", "capacity", "latency", "flows"):
        if key not in data:
            raise MarketError(f"{where}: missing field {key!r}")
    if "units" in data and not isinstance(data["units"], Mapping):
        raise MarketError(f"{where}: units: expected an object")
    fields: dict[str, Any] = {
        "provider_ids": _id_list(data["provider_ids"], f"{where}: provider_ids"),
        "user_ids": _id_list(data["user_ids"], f"{where}: user_ids"),
        "demand": strict_array(data["demand"], "demand", where, (2,)),
        "price": strict_array(data["price"], "price", where, (1, 2)),
        "capacity": strict_array(data["capacity"], "capacity", where, (1, 2)),
        "flows": strict_array(data["flows"], "flows", where, (3,)),
    }
    lat = data["latency"]
    if isinstance(lat, Mapping):
        parts = {"base": (1,), "per_user": (1,), "per_day": (2,)}
        unknown = sorted(set(lat) - set(parts))
        missing = sorted(set(parts) - set(lat))
        if unknown or missing:
            what = f"unknown field {unknown[0]!r}" if unknown else f"missing field {missing[0]!r}"
            raise MarketError(f"{where}: latency: {what} (expected base, per_user, per_day)")
        factors = tuple(strict_array(lat[k], f"latency.{k}", where, d) for k, d in parts.items())
        if (
            factors[0].size != factors[2].shape[-1]
            or factors[2].shape[0] != fields["flows"].shape[0]
        ):
            raise MarketError(f"{where}: latency: base, per_user and per_day do not fit together")
        fields["latency_factors"] = factors
        fields["latency"] = latency_from_factors(*factors)
    else:
        fields["latency"] = strict_array(lat, "latency", where, (0, 1, 2, 3))
    if "exact_flows" in data:
        fields["exact_flows"] = strict_array(data["exact_flows"], "exact_flows", where, (3,))
    if "truth" in data:
        fields["truth"] = strict_preferences(data["truth"], f"{where}: truth")
    for key in ("name", "dates", "flow_totals", "noise", "segments", "segment_users"):
        if key in data:
            fields[key] = data[key]
    for key in ("user_categories", "seed", "info"):
        if key in data:
            fields[key] = data[key]
    return _wrap(where, lambda: Panel(**fields))


# ---------------------------------------------------------------------- strict pieces
def strict_array(value: Any, name: str, where: str, ndims: tuple[int, ...]) -> np.ndarray:
    """A JSON value as a float array: nested lists of JSON numbers (never strings or booleans),
    regular, with one of the allowed numbers of dimensions. Errors name the field and index."""
    shape = _shape(value, name, where, max(ndims))
    if len(shape) not in ndims:
        dims = " or ".join(f"{d}-d" if d else "a number" for d in ndims)
        raise MarketError(f"{where}: {name}: expected {dims}, got {len(shape)}-d")
    return np.array(value, dtype=float)


def _shape(value: Any, name: str, where: str, depth: int) -> tuple[int, ...]:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, list))
        or (isinstance(value, list) and depth == 0)
    ):
        raise MarketError(f"{where}: {name}: expected a number, got {_short(value)}")
    if not isinstance(value, list):
        _finite_size(value, name, where)
        return ()
    if not value:
        return (0,)
    shapes = [_shape(v, f"{name}[{k}]", where, depth - 1) for k, v in enumerate(value)]
    for k, s in enumerate(shapes):
        if s != shapes[0]:
            raise MarketError(
                f"{where}: {name}[{k}]: expected {_describe(shapes[0])} like {name}[0], got "
                f"{_describe(s)}"
            )
    return (len(value), *shapes[0])


def _describe(shape: tuple[int, ...]) -> str:
    return "a number" if not shape else f"a list of shape {shape}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def strict_preferences(value: Any, where: str) -> Preferences:
    """Preferences from a JSON object whose numbers are JSON numbers (not strings or booleans)."""
    if not isinstance(value, Mapping):
        raise MarketError(f"{where}: expected a preferences object, got {_short(value)}")
    for key in ("w_p", "w_q", "w_d"):
        if key in value:
            _shape_scalar(value[key], key, where)
    b = value.get("b", 0.0)
    if isinstance(b, Mapping):
        for pid, v in b.items():
            _shape_scalar(v, f"b[{pid!r}]", where)
    else:
        strict_array(b, "b", where, (0, 1))
    return Preferences.from_dict(value, where=where)


def _shape_scalar(value: Any, name: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MarketError(f"{where}: {name}: expected a number, got {_short(value)}")
    _finite_size(value, name, where)


def _finite_size(value: int | float, name: str, where: str) -> None:
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            raise MarketError(f"{where}: {name}: an integer too large for a float") from None


def _id_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise MarketError(f"{where}: expected a list of ids, got {_short(value)}")
    return value


def strict_market(data: Any, where: str) -> Market:
    """A market object, with its latency and observed flows checked as JSON numbers first."""
    if isinstance(data, Mapping):
        if "latency" in data:
            strict_array(data["latency"], "latency", where, (0, 1, 2))
        if "observed_flows" in data:
            strict_array(data["observed_flows"], "observed_flows", where, (2,))
    return Market.from_dict(data, where=where)


def _market_files(items: list[Any], base: Path, where: str) -> list[Market]:
    if not items:
        raise MarketError(f"{where}: the list of market files is empty (a panel needs a day)")
    markets = []
    for k, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise MarketError(f"{where}[{k}]: expected a market file path, got {_short(item)}")
        try:
            path = base / item
            markets.append(strict_market(read_json(path), str(path)))
        except MarketError as exc:
            raise MarketError(f"{where}[{k}]: {exc}") from None
    return markets


def _with_demand(panel: Panel, demand: str, where: str) -> Panel:
    if demand == "flows":  # the exact flows add up to the stated demand: they no longer apply
        return _wrap(
            where,
            lambda: panel.replace(
                demand=panel.flows.sum(axis=2), flow_totals="match", exact_flows=None
            ),
        )
    if demand == "market" and panel.flow_totals != "noisy":
        return panel.replace(flow_totals="noisy")
    return panel


def _wrap(where: str, build: Any) -> Panel:
    try:
        return build()
    except MarketError as exc:
        raise MarketError(f"{where}: {exc}") from None
