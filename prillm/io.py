"""Reading and writing the project's files: clear errors on read, atomic writes.

Every file prillm writes (market, preferences and panel files, figures of the command line) goes
through :func:`atomic_write` (or :func:`atomic_write_json`): the content is written to a
temporary file in the target's folder and renamed into place, so a failure never leaves a
half-written file behind, and several files can be written all-or-nothing. A new file gets the
mode a plain ``open(path, "w")`` would give (``0o666`` less the umask); a replaced file keeps its
mode. Every JSON file it reads goes through :func:`read_json`, whose errors are
:class:`~prillm.MarketError` naming the file: a missing or unreadable file, malformed JSON, a
file larger than :data:`MAX_JSON_BYTES`, nesting deeper than the parser allows, or a key given
twice in one object.
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import stat
import zlib
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Any

from prillm._validation import MarketError

__all__ = [
    "MAX_JSON_BYTES",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "dump_json",
    "read_json",
]

#: Largest JSON file :func:`read_json` reads by default (256 MiB: a market of a few million
#: numbers; parsing takes several times the file's size in memory).
MAX_JSON_BYTES = 256 * 2**20


class _DuplicateKeyError(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def read_json(path: str | os.PathLike[str], *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse a JSON file.

    Parameters
    ----------
    path
        The file.
    max_bytes
        Larger files are refused before they are parsed.

    Raises
    ------
    prillm.MarketError
        Naming the file: missing, unreadable (a folder, no permission, not UTF-8), larger than
        ``max_bytes``, not valid JSON, nested too deeply, an integer of more digits than Python
        converts, or a key repeated within one object.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.json")
    >>> with open(path, "w") as fh:
    ...     _ = fh.write('{"a": 1, "a": 2}')
    >>> read_json(path)
    Traceback (most recent call last):
    ...
    prillm._validation.MarketError: ...x.json: duplicate key 'a' in a JSON object
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            too_large = os.fstat(fh.fileno()).st_size > max_bytes
            raw = b"" if too_large else fh.read(max_bytes + 1)  # + 1: a pipe has no size
    except FileNotFoundError:
        raise MarketError(f"{p}: no such file") from None
    except OSError as exc:
        raise MarketError(f"{p}: cannot read the file ({exc.strerror or exc})") from None
    if too_large or len(raw) > max_bytes:
        raise MarketError(f"{p}: file larger than {max_bytes} bytes; refusing to parse it")
    if raw[:2] == b"\x1f\x8b":  # gzip-compressed (e.g. ``panel.json.gz``)
        try:
            with gzip.GzipFile(fileobj=BytesIO(raw)) as gz:
                raw = gz.read(max_bytes + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise MarketError(f"{p}: cannot read the file (corrupt gzip data: {exc})") from None
        if len(raw) > max_bytes:
            raise MarketError(f"{p}: file larger than {max_bytes} bytes; refusing to parse it")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MarketError(f"{p}: not a UTF-8 text file (byte {exc.start}: {exc.reason})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise MarketError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise MarketError(f"{p}: JSON nested too deeply to read") from None
    except _DuplicateKeyError as exc:
        raise MarketError(f"{p}: duplicate key {exc.args[0]!r} in a JSON object") from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit for conversion
        raise MarketError(f"{p}: not valid JSON ({str(exc).split(';')[0]})") from None


def dump_json(payload: Any) -> str:
    """The indented JSON text prillm writes (strict JSON: NaN and infinity are refused).

    Raises
    ------
    ValueError
        For NaN or infinite values (JSON has none); nothing is written.
    """
    return json.dumps(payload, indent=2, allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``path`` atomically (temporary file + rename)."""
    atomic_write({path: dump_json(payload)})


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write({path: data})


def atomic_write(files: Mapping[str | os.PathLike[str], str | bytes]) -> None:
    """Write several files all-or-nothing: each to a temporary file, then all renamed.

    Text is written as UTF-8. A new file gets mode ``0o666`` less the umask, a replaced file
    keeps its mode; a symbolic link is followed (its target is replaced). If anything fails
    before the renames, every temporary file is removed and no target is touched.

    Examples
    --------
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> atomic_write({os.path.join(folder, "a.txt"): "one", os.path.join(folder, "b.bin"): b"2"})
    >>> sorted(os.listdir(folder))
    ['a.txt', 'b.bin']
    """
    staged: list[tuple[str, str]] = []
    try:
        for path, content in files.items():
            target = os.path.realpath(os.fspath(path))
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            staged.append((_stage(target, data), target))
        for tmp, target in staged:
            os.replace(tmp, target)
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def _stage(target: str, data: bytes) -> str:
    """Write ``data`` to a new temporary file beside ``target``; return its path."""
    folder, name = os.path.split(target)
    try:
        mode: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None
    for _ in range(100):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
        except FileExistsError:
            continue
        break
    else:  # pragma: no cover - 100 random names taken
        raise FileExistsError(f"{folder}: cannot create a temporary file")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp
