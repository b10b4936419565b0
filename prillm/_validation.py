"""Input checks shared by the data model: every error names the field and the offending value."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MarketError(ValueError):
    """Raised for an invalid market, preference set or market file.

    The message always names the offending field (and, where there is one, the index and value),
    so that a user can find the mistake in their file.
    """


def _describe(value: float) -> str:
    return repr(float(value))


def as_float_array(
    name: str,
    value: object,
    shape: tuple[int, ...] | None = None,
    *,
    allow_negative: bool = True,
    allow_zero: bool = True,
) -> np.ndarray:
    """Convert ``value`` to a read-only float64 array and check shape, finiteness and sign.

    Parameters
    ----------
    name
        Field name used in error messages.
    value
        Anything ``numpy.asarray`` accepts.
    shape
        Required shape (after broadcasting a scalar); ``None`` accepts any shape.
    allow_negative, allow_zero
        Sign constraints on every entry.

    Raises
    ------
    MarketError
        If the value is not numeric, has the wrong shape, or contains NaN/inf or a forbidden sign.
    """
    if isinstance(value, (str, bytes)):
        raise MarketError(f"{name}: expected numbers, got the string {value!r}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MarketError(f"{name}: expected numbers, got {value!r}") from exc
    if shape is not None:
        if arr.ndim == 0 and len(shape) > 0:
            arr = np.full(shape, float(arr))
        if arr.shape != shape:
            raise MarketError(f"{name}: expected shape {shape}, got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(k) for k in np.argwhere(bad)[0])
        raise MarketError(f"{name}{_index(idx)}: must be finite, got {_describe(arr[idx])}")
    if not allow_negative:
        neg = arr < 0
        if neg.any():
            idx = tuple(int(k) for k in np.argwhere(neg)[0])
            raise MarketError(f"{name}{_index(idx)}: must be >= 0, got {_describe(arr[idx])}")
    if not allow_zero:
        zero = arr <= 0 if not allow_negative else arr == 0
        if zero.any():
            idx = tuple(int(k) for k in np.argwhere(zero)[0])
            raise MarketError(f"{name}{_index(idx)}: must be > 0, got {_describe(arr[idx])}")
    arr.setflags(write=False)
    return arr


def _index(idx: tuple[int, ...]) -> str:
    return "" if not idx else "[" + ", ".join(str(k) for k in idx) + "]"


def check_ids(name: str, ids: Sequence[object] | None, count: int, prefix: str) -> tuple[str, ...]:
    """Return ``count`` unique string ids; generate ``prefix0..`` when ``ids`` is ``None``."""
    if ids is None:
        return tuple(f"{prefix}{k}" for k in range(count))
    if isinstance(ids, str):
        raise MarketError(f"{name}: expected a list of ids, got the string {ids!r}")
    out = tuple(ids)
    if len(out) != count:
        raise MarketError(f"{name}: expected {count} ids, got {len(out)}")
    for k, ident in enumerate(out):
        if not isinstance(ident, str) or not ident:
            raise MarketError(f"{name}[{k}]: ids must be non-empty strings, got {ident!r}")
    seen: dict[str, int] = {}
    for k, ident in enumerate(out):
        if ident in seen:
            raise MarketError(f"{name}: duplicate id {ident!r} at positions {seen[ident]} and {k}")
        seen[ident] = k
    return out
