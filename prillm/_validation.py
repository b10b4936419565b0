"""Input checks shared by the data model: every error names the field and the offending value."""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Sequence

import numpy as np

__all__ = [
    "MAX_PRICE",
    "MarketError",
    "as_float_array",
    "check_ids",
    "check_integer",
    "check_number",
    "check_price",
    "describe",
]

#: Largest price bound or marginal cost accepted, USD per million tokens (one USD per token: far
#: above any LLM price; larger values only reach the limits of floating point).
MAX_PRICE = 1e6


class MarketError(ValueError):
    """Raised for an invalid market, preference set or market file.

    The message always names the offending field (and, where there is one, the index and value),
    so that a user can find the mistake in their file.
    """


_SHORT = reprlib.Repr()
_SHORT.maxstring = 40
_SHORT.maxother = 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = 4
_SHORT.maxlevel = 2

#: Nesting beyond which an array-like input is refused without looking further (the model has
#: at most two dimensions).
_MAX_NESTING = 8


def describe(value: object) -> str:
    """A short description of a value for an error message (long values are abbreviated).

    Examples
    --------
    >>> describe(10**400)
    'an integer of 401 digits'
    >>> describe("fast"), describe(True), describe([1, 2, 3, 4, 5, 6])
    ("'fast'", 'True', '[1, 2, 3, 4, ...]')
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, float):
        return repr(value)
    return _SHORT.repr(value)


def _is_number(value: object) -> bool:
    t = type(value)
    if t is float or t is int:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _index(idx: Sequence[int]) -> str:
    return "" if not idx else "[" + ", ".join(str(k) for k in idx) + "]"


def _first_non_number(value: object) -> tuple[tuple[int, ...], object] | None:
    """Position and value of the first entry (row-major) that is not a real number, if any."""
    stack: list[tuple[tuple[int, ...], object]] = [((), value)]
    while stack:
        idx, item = stack.pop()
        if isinstance(item, (list, tuple)):
            if all(type(x) is float or type(x) is int for x in item):
                continue
            if len(idx) >= _MAX_NESTING:
                return idx, item
            stack.extend(((*idx, k), x) for k, x in reversed(list(enumerate(item))))
        elif isinstance(item, np.ndarray):
            if item.dtype.kind in "iuf":
                continue
            if item.dtype.kind != "O":
                return idx, item.reshape(-1)[0] if item.size else item
            stack.append((idx, item.tolist()))
        elif not _is_number(item):
            return idx, item
    return None


def _first_irregular(value: object) -> tuple[tuple[int, ...], object, int | None] | None:
    """The first entry (level by level) whose nesting or length differs from its level's first
    entry, with the length expected there (``None``: a number), if any."""
    level: list[tuple[tuple[int, ...], object]] = [((), value)]
    while level:
        first = level[0][1]
        is_row = isinstance(first, (list, tuple))
        size = len(first) if is_row else None  # type: ignore[arg-type]
        below: list[tuple[tuple[int, ...], object]] = []
        for idx, item in level:
            item_is_row = isinstance(item, (list, tuple))
            if item_is_row != is_row or (is_row and len(item) != size):  # type: ignore[arg-type]
                return idx, item, size
            if is_row:
                below.extend(((*idx, k), x) for k, x in enumerate(item))  # type: ignore[arg-type]
        level = below
    return None


def _first_overflow(value: object) -> tuple[tuple[int, ...], object] | None:
    """Position and value of the first integer too large for a float, if any."""
    stack: list[tuple[tuple[int, ...], object]] = [((), value)]
    while stack:
        idx, item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(((*idx, k), x) for k, x in reversed(list(enumerate(item))))
        elif isinstance(item, numbers.Integral):
            try:
                float(item)
            except OverflowError:
                return idx, item
    return None


def check_number(name: str, value: object) -> float:
    """A JSON or Python number (never a string or a boolean) that is a finite float.

    Raises
    ------
    MarketError
        For a string, a boolean or another non-number, a number too large for a float, or an
        infinite or NaN value; the message names ``name`` and the value.

    Examples
    --------
    >>> check_number("price", 2)
    2.0
    >>> check_number("price", "2")
    Traceback (most recent call last):
    ...
    prillm._validation.MarketError: price: expected a number, got '2'
    """
    if not _is_number(value):
        raise MarketError(f"{name}: expected a number, got {describe(value)}")
    try:
        out = float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise MarketError(
            f"{name}: too large for a floating-point number, got {describe(value)}"
        ) from None
    if not np.isfinite(out):
        raise MarketError(f"{name}: must be finite, got {describe(out)}")
    return out


def check_integer(name: str, value: object, minimum: int) -> None:
    """An integer (never a boolean or a float) that is at least ``minimum``.

    Raises
    ------
    MarketError
        For a boolean, a float or another non-integer, or a value below ``minimum``; the
        message names ``name`` and the value.

    Examples
    --------
    >>> check_integer("max_rounds", 0, 1)
    Traceback (most recent call last):
    ...
    prillm._validation.MarketError: max_rounds: must be >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise MarketError(f"{name}: expected an integer, got {value!r}")
    if value < minimum:
        raise MarketError(f"{name}: must be >= {minimum}, got {value!r}")


def check_price(name: str, value: object, *, positive: bool = False) -> float:
    """A price bound or marginal cost: a finite number in ``[0, MAX_PRICE]`` (``(0, ...]`` when
    ``positive``), USD per million tokens.

    Raises
    ------
    MarketError
        For a non-number (see :func:`check_number`) or a value outside the interval; the
        message names ``name``, the interval and the value.

    Examples
    --------
    >>> check_price("p_min", 0.5)
    0.5
    >>> check_price("p", 1e308)
    Traceback (most recent call last):
    ...
    prillm._validation.MarketError: p: expected a price in [0, 1e+06] USD per 1M tokens, got 1e+308
    """
    out = check_number(name, value)
    if not ((out > 0 if positive else out >= 0) and out <= MAX_PRICE):
        interval = f"{'(' if positive else '['}0, {MAX_PRICE:g}]"
        raise MarketError(
            f"{name}: expected a price in {interval} USD per 1M tokens, got {describe(out)}"
        )
    return out


def as_float_array(
    name: str,
    value: object,
    shape: tuple[int, ...] | None = None,
    *,
    allow_negative: bool = True,
    allow_zero: bool = True,
) -> np.ndarray:
    """Convert ``value`` to a read-only float64 array and check shape, finiteness and sign.

    Every entry must be a real number: strings, booleans, ``None`` and other objects are refused
    (``numpy`` would silently turn ``"1"`` or ``True`` into ``1.0``), and so are integers too
    large for a float.

    Parameters
    ----------
    name
        Field name used in error messages.
    value
        A number, a (nested) list of numbers, or a numeric array.
    shape
        Required shape (after broadcasting a scalar); ``None`` accepts any shape.
    allow_negative, allow_zero
        Sign constraints on every entry.

    Raises
    ------
    MarketError
        If the value is not numeric, has the wrong shape, or contains NaN/inf or a forbidden sign.

    Examples
    --------
    >>> as_float_array("latency", [0.5, 1]).tolist()
    [0.5, 1.0]
    >>> as_float_array("latency", [0.5, "1"])
    Traceback (most recent call last):
    ...
    prillm._validation.MarketError: latency[1]: expected a number, got '1'
    """
    if isinstance(value, (str, bytes)):
        raise MarketError(f"{name}: expected numbers, got the string {describe(value)}")
    if not isinstance(value, (list, tuple, np.ndarray)) and not _is_number(value):
        try:  # other array-likes (a pandas Series, a memoryview, a 0-d numpy scalar)
            value = np.asarray(value)
        except Exception:  # anything numpy cannot read is "not numbers"
            raise MarketError(f"{name}: expected numbers, got {describe(value)}") from None
    bad = _first_non_number(value)
    if bad is not None:
        idx, item = bad
        what = "numbers nested too deeply" if len(idx) >= _MAX_NESTING else "a number"
        raise MarketError(f"{name}{_index(idx)}: expected {what}, got {describe(item)}")
    try:
        arr = np.array(value, dtype=np.float64)
    except OverflowError:
        idx, item = _first_overflow(value) or ((), value)
        raise MarketError(
            f"{name}{_index(idx)}: too large for a floating-point number, got {describe(item)}"
        ) from None
    except (TypeError, ValueError):
        irregular = _first_irregular(value)
        if irregular is None:  # pragma: no cover - numpy refused a regular array of numbers
            raise MarketError(f"{name}: expected numbers, got {describe(value)}") from None
        idx, item, size = irregular
        what = "a number" if size is None else f"a row of {size} numbers"
        raise MarketError(
            f"{name}{_index(idx)}: expected {what} (rows of equal length), got {describe(item)}"
        ) from None
    if shape is not None:
        if arr.ndim == 0 and len(shape) > 0:
            arr = np.full(shape, float(arr))
        if arr.shape != shape:
            raise MarketError(f"{name}: expected shape {shape}, got shape {arr.shape}")
    nonfinite = ~np.isfinite(arr)
    if nonfinite.any():
        idx = tuple(int(k) for k in np.argwhere(nonfinite)[0])
        raise MarketError(f"{name}{_index(idx)}: must be finite, got {describe(arr[idx])}")
    if not allow_negative:
        bad = arr < 0 if allow_zero else arr <= 0
        if bad.any():
            idx = tuple(int(k) for k in np.argwhere(bad)[0])
            rule = ">= 0" if allow_zero else "> 0"
            raise MarketError(f"{name}{_index(idx)}: must be {rule}, got {describe(arr[idx])}")
    elif not allow_zero:
        zero = arr == 0
        if zero.any():
            idx = tuple(int(k) for k in np.argwhere(zero)[0])
            raise MarketError(f"{name}{_index(idx)}: must be non-zero, got {describe(arr[idx])}")
    arr.setflags(write=False)
    return arr


def check_ids(name: str, ids: Sequence[object] | None, count: int, prefix: str) -> tuple[str, ...]:
    """Return ``count`` unique string ids; generate ``prefix0..`` when ``ids`` is ``None``.

    Raises
    ------
    MarketError
        For a wrong count, an id that is not a non-empty string, or a duplicate.
    """
    if ids is None:
        return tuple(f"{prefix}{k}" for k in range(count))
    if isinstance(ids, str):
        raise MarketError(f"{name}: expected a list of ids, got the string {describe(ids)}")
    out = tuple(ids)
    if len(out) != count:
        raise MarketError(f"{name}: expected {count} ids, got {len(out)}")
    for k, ident in enumerate(out):
        if not isinstance(ident, str) or not ident.strip():
            raise MarketError(f"{name}[{k}]: ids must be non-empty strings, got {describe(ident)}")
    seen: dict[str, int] = {}
    for k, ident in enumerate(out):
        if ident in seen:
            raise MarketError(
                f"{name}: duplicate id {describe(ident)} at positions {seen[ident]} and {k}"
            )
        seen[ident] = k
    return out
