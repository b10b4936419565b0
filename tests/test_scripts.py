"""Every benchmark and script imports and parses its command line (they have no other tests).

A name removed from the library must not leave a script that fails on its first line; each
file is run with ``--help`` in a subprocess, which imports it and builds its parser.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("benchmarks/*.py"), *ROOT.glob("scripts/*.py")])


def test_there_are_scripts_to_check() -> None:
    names = {p.name for p in FILES}
    assert {"bench_competition.py", "bench_equilibrium.py", "build_book.py"} <= names


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_runs_with_help(path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(path), "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout
