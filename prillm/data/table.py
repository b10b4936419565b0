"""A small immutable column table and the commented-CSV format of the shipped data files.

The shipped tables are plain CSV files that start with ``#`` comment lines carrying metadata
(``# key: value``: the source, the date the figures refer to, the units), followed by a header
row and the data rows. :func:`read_table` parses such a file against a *schema* (column name ->
type) and returns a :class:`Table`; any malformed line raises :class:`prillm.MarketError` naming
the file, the line number and the column.

Column types of a schema
------------------------
``"str"``     non-empty text, stored as a tuple of ``str``
``"str?"``    text that may be empty
``"int"``     integer, stored as ``int64``
``"float"``   finite number, stored as ``float64``
``"float?"``  number or blank (unknown), blank stored as ``NaN``
``"date"``    ISO date ``YYYY-MM-DD``, stored as a tuple of ``str``
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from prillm._validation import MarketError

__all__ = ["COLUMN_TYPES", "Column", "Table", "read_table", "write_table"]

#: The column types a schema may use (see the module docstring).
COLUMN_TYPES = ("str", "str?", "int", "float", "float?", "date")

Column = np.ndarray | tuple[str, ...]


class Table:
    """An immutable table: a mapping of column name -> column, all columns of equal length.

    Numeric columns are read-only 1-d ``numpy`` arrays (``int64`` or ``float64``); text and date
    columns are tuples of ``str``. As with a data frame, ``len(table)`` is the number of *rows*
    and iterating over the table yields the column *names*.

    Parameters
    ----------
    columns
        Column name -> values (a sequence of numbers or strings).
    meta
        Free-form metadata (source, date, units), kept read-only in :attr:`meta`.

    Raises
    ------
    prillm.MarketError
        If the columns have different lengths or a numeric column is not 1-d.

    Examples
    --------
    >>> t = Table({"model": ("a", "b", "c"), "price": [1.0, 0.5, 2.0]})
    >>> len(t), t.columns
    (3, ('model', 'price'))
    >>> t.filter(t["price"] >= 1.0)["model"]
    ('a', 'c')
    >>> next(t.rows())
    {'model': 'a', 'price': 1.0}
    """

    __slots__ = ("_columns", "_meta", "_n")

    def __init__(self, columns: Mapping[str, Any], meta: Mapping[str, str] | None = None) -> None:
        cols: dict[str, Column] = {}
        n: int | None = None
        for name, values in columns.items():
            col = _freeze(name, values)
            if n is None:
                n = len(col)
            elif len(col) != n:
                raise MarketError(
                    f"column {name!r}: expected {n} values like the other columns, got {len(col)}"
                )
            cols[str(name)] = col
        self._columns = MappingProxyType(cols)
        self._meta = MappingProxyType(dict(meta or {}))
        self._n = 0 if n is None else n

    # ------------------------------------------------------------ mapping
    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, in file order."""
        return tuple(self._columns)

    @property
    def meta(self) -> Mapping[str, str]:
        """Read-only metadata (for shipped tables: ``source``, ``as_of``, ``units``, ...)."""
        return self._meta

    def __getitem__(self, name: str) -> Column:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are: {', '.join(self._columns)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def __len__(self) -> int:
        return self._n

    def keys(self) -> tuple[str, ...]:
        """The column names (as :attr:`columns`)."""
        return self.columns

    def values(self) -> tuple[Column, ...]:
        """The columns, in order."""
        return tuple(self._columns.values())

    def items(self) -> tuple[tuple[str, Column], ...]:
        """``(name, column)`` pairs, in order."""
        return tuple(self._columns.items())

    @property
    def n_rows(self) -> int:
        """Number of rows (``len(table)``)."""
        return self._n

    # ------------------------------------------------------------ row access
    def filter(self, mask: Any) -> Table:
        """Rows where the boolean ``mask`` (length ``len(self)``) is true, as a new table.

        Raises
        ------
        prillm.MarketError
            If ``mask`` is not boolean or has the wrong length.
        """
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.shape != (self._n,):
            raise MarketError(
                f"mask: expected {self._n} booleans, got dtype {m.dtype} and shape {m.shape}"
            )
        idx = np.flatnonzero(m)
        return self.take(idx)

    def take(self, indices: Sequence[int] | np.ndarray) -> Table:
        """Rows at the given positions (in that order), as a new table."""
        idx = np.asarray(indices, dtype=np.int64)
        out: dict[str, Any] = {}
        for name, col in self._columns.items():
            out[name] = col[idx] if isinstance(col, np.ndarray) else tuple(col[k] for k in idx)
        return Table(out, self._meta)

    def where(self, column: str, value: object) -> Table:
        """Rows whose ``column`` equals ``value``."""
        col = self[column]
        if isinstance(col, np.ndarray):
            return self.filter(col == value)
        return self.filter(np.array([v == value for v in col], dtype=bool))

    def rows(self) -> Iterator[dict[str, Any]]:
        """Iterate over the rows as ``{column: value}`` dicts of Python scalars."""
        names = self.columns
        cols = [
            col.tolist() if isinstance(col, np.ndarray) else col for col in self._columns.values()
        ]
        for k in range(self._n):
            yield {name: cols[c][k] for c, name in enumerate(names)}

    def unique(self, column: str) -> tuple[Any, ...]:
        """Distinct values of a column, in order of first appearance."""
        col = self[column]
        values = col.tolist() if isinstance(col, np.ndarray) else col
        return tuple(dict.fromkeys(values))

    def __repr__(self) -> str:
        return f"Table({self._n} rows; columns: {', '.join(self._columns)})"


def _freeze(name: str, values: Any) -> Column:
    if isinstance(values, tuple) and all(isinstance(v, str) for v in values):
        return values
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        arr = np.array(values)
    elif isinstance(values, (list, tuple)) and values and all(isinstance(v, str) for v in values):
        return tuple(values)
    else:
        try:
            arr = np.array(values)
        except (TypeError, ValueError) as exc:  # pragma: no cover - numpy accepts nearly anything
            raise MarketError(f"column {name!r}: cannot store {values!r}") from exc
        if arr.dtype.kind in "US":
            return tuple(str(v) for v in arr)
        if arr.dtype.kind == "b":
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iuf":
            raise MarketError(f"column {name!r}: expected numbers or strings, got {arr.dtype}")
    if arr.ndim != 1:
        raise MarketError(f"column {name!r}: expected a 1-d column, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


# ---------------------------------------------------------------------- file format
def read_table(path: str | Path, schema: Mapping[str, str]) -> Table:
    """Read a commented CSV file against a schema.

    Parameters
    ----------
    path
        The file.
    schema
        Column name -> type (one of :data:`COLUMN_TYPES`). The header must list exactly these
        columns, in this order.

    Returns
    -------
    Table
        With ``meta`` holding the ``# key: value`` comment lines and ``meta["path"]``.

    Raises
    ------
    prillm.MarketError
        ``"<file>, line <k>, column '<name>': ..."`` for a wrong header, a row with the wrong
        number of fields, a value that does not parse, a blank in a required column, or a
        non-finite number; ``"<file>: no such file"`` for a missing file.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MarketError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketError(f"{p}: cannot read the file ({exc})") from None
    lines = text.splitlines()
    meta: dict[str, str] = {}
    k = 0
    while k < len(lines) and lines[k].startswith("#"):
        key, sep, value = lines[k][1:].partition(":")
        if sep:
            meta[key.strip()] = value.strip()
        k += 1
    meta["path"] = str(p)
    first_data_line = k + 1  # 1-based number of the header line
    reader = csv.reader(lines[k:])
    try:
        header = next(reader)
    except StopIteration:
        raise MarketError(f"{p}, line {first_data_line}: missing header row") from None
    expected = list(schema)
    if header != expected:
        wrong = next(
            (c for c, (a, b) in enumerate(zip(header, expected, strict=False)) if a != b),
            min(len(header), len(expected)),
        )
        got = header[wrong] if wrong < len(header) else "<missing>"
        want = expected[wrong] if wrong < len(expected) else "<none>"
        raise MarketError(
            f"{p}, line {first_data_line}, column {wrong + 1}: header expected {want!r}, "
            f"got {got!r}"
        )
    raw: dict[str, list[Any]] = {name: [] for name in expected}
    for offset, fields in enumerate(reader, start=1):
        lineno = first_data_line + offset
        if not fields:
            continue
        if len(fields) != len(expected):
            raise MarketError(
                f"{p}, line {lineno}: expected {len(expected)} fields, got {len(fields)}"
            )
        for name, value in zip(expected, fields, strict=True):
            raw[name].append(_parse(value, schema[name], p, lineno, name))
    columns: dict[str, Any] = {}
    for name, kind in schema.items():
        if kind in ("int",):
            columns[name] = np.array(raw[name], dtype=np.int64)
        elif kind in ("float", "float?"):
            columns[name] = np.array(raw[name], dtype=np.float64)
        else:
            columns[name] = tuple(raw[name])
    return Table(columns, meta)


def _parse(value: str, kind: str, path: Path, lineno: int, name: str) -> Any:
    where = f"{path}, line {lineno}, column {name!r}"
    if kind == "str":
        if not value:
            raise MarketError(f"{where}: expected a non-empty value, got a blank")
        return value
    if kind == "str?":
        return value
    if kind == "date":
        try:
            _dt.date.fromisoformat(value)
        except ValueError:
            raise MarketError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from None
        return value
    if kind == "float?" and value == "":
        return math.nan
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise MarketError(f"{where}: expected an integer, got {value!r}") from None
    if kind in ("float", "float?"):
        try:
            number = float(value)
        except ValueError:
            raise MarketError(f"{where}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise MarketError(f"{where}: expected a finite number, got {value!r}")
        return number
    raise MarketError(f"schema: unknown column type {kind!r} for column {name!r}")


def write_table(
    path: str | Path,
    rows: Sequence[Mapping[str, Any]],
    schema: Mapping[str, str],
    meta: Mapping[str, str],
) -> None:
    """Write ``rows`` as a commented CSV that :func:`read_table` reads back with ``schema``.

    Floats are written with ``repr`` precision (they read back exactly); ``NaN`` or ``None`` in a
    ``float?`` column is written blank.
    """
    p = Path(path)
    with p.open("w", encoding="utf-8", newline="") as fh:
        for key, value in meta.items():
            fh.write(f"# {key}: {value}\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(list(schema))
        for row in rows:
            writer.writerow([_format(row[name], schema[name]) for name in schema])


def _format(value: Any, kind: str) -> str:
    if kind in ("float", "float?"):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if kind == "float":
                raise MarketError("write_table: blank value in a required float column")
            return ""
        return repr(float(value))
    if kind == "int":
        return str(int(value))
    return str(value)
