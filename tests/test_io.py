"""``prillm.io``: atomic, all-or-nothing writes with a plain write's mode; guarded reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prillm import MarketError
from prillm.io import atomic_write, atomic_write_json, read_json


def test_all_or_nothing(tmp_path: Path) -> None:
    good = tmp_path / "a.json"
    good.write_text("old")
    with pytest.raises(OSError):
        atomic_write({good: "new", tmp_path / "missing" / "b.json": "x"})
    assert good.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]  # no temporary file left


def test_unserialisable_payload_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "x.json", {"w_q": float("nan")})
    assert list(tmp_path.iterdir()) == []


def test_a_symbolic_link_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text("{}")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_json(link, {"a": 1})
    assert link.is_symlink() and read_json(link) == {"a": 1} == read_json(target)
    assert target.stat().st_mode & 0o777 == 0o640


def test_modes(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        atomic_write({tmp_path / "new.bin": b"\x00"})
    finally:
        os.umask(old)
    assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o664
    (tmp_path / "kept.txt").write_text("x")
    (tmp_path / "kept.txt").chmod(0o600)
    atomic_write({tmp_path / "kept.txt": "y"})
    assert (tmp_path / "kept.txt").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "kept.txt").read_text() == "y"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ('{"a": {"b": 1, "b": 2}}', "duplicate key 'b'"),
        ("1" * 5000, "not valid JSON (Exceeds the limit (4300 digits)"),
        ("\ufeff{}", None),  # a byte-order mark is accepted
    ],
)
def test_read_json_refusals(tmp_path: Path, text: str, message: str | None) -> None:
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    if message is None:
        assert read_json(path) == {}
        return
    with pytest.raises(MarketError) as info:
        read_json(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
