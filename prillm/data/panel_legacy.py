"""Readers of the panel files of earlier prillm versions, converted to :class:`~prillm.data.Panel`.

Nothing writes these forms any more (:func:`prillm.data.panel_file.write_panel` writes the one
current format); they are read so that old files keep working:

- a ``prillm-panel`` JSON file of version 1: ``"days"``, a list of ``prillm-market`` objects
  with ``observed_flows`` (same ids every day), and an optional ``"truth"``;
- a planted-panel ``.npz`` file (``meta.format == "prillm-planted-panel"``, version 1): arrays
  ``demand``, ``price``, ``capacity``, ``exact_flows``, ``observed_flows`` and the latency (or
  its three factors), with a JSON ``meta`` string holding ids, dates, preferences, noise,
  segments, categories, seed and provenance. Its observed flows are noisy while its demand is
  noise-free, so it reads as ``flow_totals="noisy"``.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from prillm._validation import MarketError
from prillm.data.panel import Panel, latency_from_factors
from prillm.data.panel_file import strict_market, strict_preferences

__all__ = ["NPZ_FORMAT", "panel_from_days", "read_npz_panel"]

NPZ_FORMAT = "prillm-planted-panel"
_NPZ_ARRAYS = ("meta", "demand", "price", "capacity", "exact_flows", "observed_flows")
_NPZ_META = (
    "name",
    "seed",
    "provider_ids",
    "user_ids",
    "dates",
    "true_preferences",
    "noise",
    "segments",
    "segment_users",
    "user_categories",
    "info",
)


def panel_from_days(data: Mapping[str, Any], where: str, *, demand: str = "check") -> Panel:
    """A version-1 ``prillm-panel`` object (``days`` of market objects, optional ``truth``)."""
    extra = sorted(set(data) - {"format", "version", "days", "truth", "units", "notes"})
    if extra:
        raise MarketError(f"{where}: unknown field {extra[0]!r}")
    days = data.get("days")
    if not isinstance(days, list):
        raise MarketError(f"{where}: days: expected a list of market objects")
    markets = [strict_market(d, f"{where}: days[{k}]") for k, d in enumerate(days)]
    truth = strict_preferences(data["truth"], f"{where}: truth") if "truth" in data else None
    try:
        return Panel.from_markets(markets, truth=truth, demand=demand)
    except MarketError as exc:
        raise MarketError(f"{where}: {exc}") from None


def read_npz_panel(path: str | Path) -> Panel:
    """A planted-panel ``.npz`` file of prillm 0.1 (see the module docstring).

    Raises
    ------
    prillm.MarketError
        Naming the file and the field: not a zip file, a missing array, meta that is not JSON
        or lacks a field, a field of the wrong type (e.g. a seed that is not an integer), or
        arrays that do not fit together.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise MarketError(f"{p}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MarketError(f"{p}: not a readable .npz panel file ({exc})") from None
    missing = [k for k in _NPZ_ARRAYS if k not in arrays]
    if missing:
        raise MarketError(f"{p}: missing array {missing[0]!r}")
    for key, arr in arrays.items():
        if key != "meta" and arr.dtype.kind not in "fiu":
            raise MarketError(f"{p}: {key}: expected numbers, got an array of {arr.dtype}")
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise MarketError(f"{p}: meta: not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != NPZ_FORMAT:
        raise MarketError(f"{p}: meta.format: expected {NPZ_FORMAT!r}")
    if meta.get("version") != 1 or type(meta.get("version")) is not int:
        raise MarketError(
            f"{p}: meta.version: this prillm reads version 1, got {meta.get('version')!r}"
        )
    absent = [k for k in _NPZ_META if k not in meta]
    if absent:
        raise MarketError(f"{p}: meta.{absent[0]}: missing")
    factors = None
    if "latency" in arrays:
        latency = arrays["latency"]
    else:
        parts = ("latency_base", "latency_per_app", "latency_per_day")
        if any(k not in arrays for k in parts):
            raise MarketError(f"{p}: missing array 'latency' (or its three factors)")
        factors = tuple(arrays[k] for k in parts)
        try:
            latency = latency_from_factors(*factors)
        except ValueError as exc:
            raise MarketError(f"{p}: latency factors do not fit together ({exc})") from None
    for key in ("segments", "segment_users", "noise", "info", "user_categories"):
        if not isinstance(meta[key], dict):
            raise MarketError(f"{p}: meta.{key}: expected an object, got {meta[key]!r}")
    noise = meta["noise"]
    try:
        sigma = float(noise.get("sigma", 0.0))
    except (TypeError, ValueError):
        raise MarketError(
            f"{p}: meta.noise.sigma: expected a number, got {noise['sigma']!r}"
        ) from None
    try:
        return Panel(
            price=arrays["price"],
            capacity=arrays["capacity"],
            latency=latency,
            demand=arrays["demand"],
            flows=arrays["observed_flows"],
            provider_ids=meta["provider_ids"],
            user_ids=meta["user_ids"],
            truth=strict_preferences(meta["true_preferences"], "meta.true_preferences"),
            exact_flows=arrays["exact_flows"],
            dates=meta["dates"],
            flow_totals="noisy" if sigma > 0 else "match",
            noise=noise,
            segments=meta["segments"],
            segment_users=meta["segment_users"],
            user_categories=meta["user_categories"],
            seed=meta["seed"],
            info=meta["info"],
            name=meta["name"],
            latency_factors=factors,
        )
    except MarketError as exc:
        raise MarketError(f"{p}: {exc}") from None
