"""Reading and writing the project's JSON files: clear errors on read, atomic writes.

Every file prillm writes (market, preferences and panel files) goes through
:func:`atomic_write_json`: the text is written to a temporary file in the target's folder and
renamed into place, so a failure never leaves a half-written file behind. Every file it reads
goes through :func:`read_json`, whose errors are :class:`~prillm.MarketError` naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prillm._validation import MarketError

__all__ = ["atomic_write_json", "read_json"]


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; a missing, unreadable or malformed file raises ``MarketError``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MarketError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketError(f"{p}: cannot read the file ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MarketError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def atomic_write_json(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> None:
    """Write ``payload`` as indented JSON to ``path`` atomically (temporary file + rename)."""
    target = Path(path)
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
