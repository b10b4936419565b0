"""Plain JSON from result objects: the shared base of the ``to_dict`` methods.

A result's ``to_dict`` lists which of its attributes go into the JSON and under which keys;
how a value becomes plain JSON (an array a list, a NumPy number a Python one, a nested result
its own ``to_dict``) is said once, in :func:`jsonable`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["id_rows", "json_fields", "jsonable"]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON (what :func:`json.dumps` writes without a ``default``).

    Arrays become (nested) lists, tuples lists, NumPy numbers Python numbers, an object with a
    ``to_dict`` method its ``to_dict()``; mappings and lists are converted entry by entry; any
    other value is returned as it is.

    Examples
    --------
    >>> jsonable({"a": (1, 2), "b": np.arange(2.0), "c": np.int64(3)})
    {'a': [1, 2], 'b': [0.0, 1.0], 'c': 3}
    """
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {key: jsonable(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


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
