"""Reading and writing the project's JSON files: clear errors on read, atomic writes.

Every file prillm writes (market, preferences and panel files) goes through
:func:`atomic_write_json`: the text is written to a temporary file in the target's folder and
renamed into place, so a failure never leaves a half-written file behind. Every file it reads
goes through :func:`read_json`, whose errors are :class:`~prillm.MarketError` naming the file.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prillm._validation import MarketError

__all__ = ["atomic_write_bytes", "atomic_write_json", "read_json"]


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file raises ``MarketError``.

    A gzip-compressed file (recognised by its first bytes, e.g. ``panel.json.gz``) is read
    decompressed.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise MarketError(f"{p}: no such file") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise MarketError(f"{p}: cannot read the file ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MarketError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def atomic_write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``path`` atomically (temporary file + rename)."""
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder + rename).

    The file gets the mode a plain write would give it: an existing file's own mode, else
    ``0o666`` less the umask.
    """
    target = Path(path)
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
