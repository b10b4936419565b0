"""Plain JSON from result objects: the shared base of the ``to_dict`` methods.

A result's ``to_dict`` lists which of its attributes go into the JSON and under which keys;
how a value becomes plain JSON (an array a list, a NumPy number a Python one, a nested result
its own ``to_dict``) is said once, in :func:`jsonable`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["id_rows", "json_fields", "jsonable"]


def jsonable(value: Any, *, strict: bool = False) -> Any:
    """``value`` as plain JSON (what :func:`json.dumps` writes without a ``default``).

    Arrays become (nested) lists, tuples lists, NumPy numbers Python numbers, an object with a
    ``to_dict`` method its ``to_dict()``; mappings and lists are converted entry by entry; any
    other value is returned as it is.

    With ``strict``, the value is also valid strict JSON, as free-form solver diagnostics need:
    mapping keys become strings, so do non-finite numbers (``"inf"``, ``"nan"``) and any other
    object (its ``str``).

    Examples
    --------
    >>> jsonable({"a": (1, 2), "b": np.arange(2.0), "c": np.int64(3)})
    {'a': [1, 2], 'b': [0.0, 1.0], 'c': 3}
    >>> jsonable({1: np.inf, "f": float, "x": None}, strict=True)
    {'1': 'inf', 'f': "<class 'float'>", 'x': None}
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Mapping):
        return {(str(k) if strict else k): jsonable(v, strict=strict) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, strict=strict) for v in value]
    if not strict:
        return value.to_dict() if hasattr(value, "to_dict") else value
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def json_fields(obj: object, *names: str, **renamed: str) -> dict[str, Any]:
    """The attributes ``names`` of ``obj`` as plain JSON, then ``renamed`` (``key=attribute``).

    Keys keep the order given: ``names`` first, then ``renamed``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> json_fields(SimpleNamespace(a=(1,), t=0.5), "a", time_s="t")
    {'a': [1], 'time_s': 0.5}
    """
    out = {name: jsonable(getattr(obj, name)) for name in names}
    out.update({key: jsonable(getattr(obj, attr)) for key, attr in renamed.items()})
    return out


def id_rows(ids: Sequence[str], **columns: Any) -> list[dict[str, Any]]:
    """One JSON object per id: ``{"id": ids[k], key: float(column[k]), ...}``.

    Each column holds one number per id (an array or a sequence); keys keep the order given.

    Examples
    --------
    >>> id_rows(["a", "b"], price=np.array([1.0, 2.0]), load=[3, 4])
    [{'id': 'a', 'price': 1.0, 'load': 3.0}, {'id': 'b', 'price': 2.0, 'load': 4.0}]
    """
    for key, column in columns.items():
        if len(column) != len(ids):
            raise ValueError(f"{key}: expected {len(ids)} values (one per id), got {len(column)}")
    return [
        {"id": pid, **{key: float(column[k]) for key, column in columns.items()}}
        for k, pid in enumerate(ids)
    ]
