"""The README examples run: Python blocks execute, the market file parses, commands exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prillm import Market, Preferences
from prillm.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(language: str) -> list[str]:
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_python_examples_run(capsys: pytest.CaptureFixture[str]) -> None:
    code = blocks("python")
    assert code, "the README has no Python example"
    namespace: dict[str, object] = {}
    for block in code:
        exec(compile(block, str(README), "exec"), namespace)
    assert "USD per day" in capsys.readouterr().out


def test_market_file_example_parses() -> None:
    (example,) = blocks("json")
    data = json.loads(example)
    market = Market.from_dict(data)
    prefs = Preferences.from_dict(data["preferences"])
    assert market.shape == (1, 2)
    assert prefs.values_for(market)[3].tolist() == [4.0, 0.0]


def test_commands_in_the_readme_exist() -> None:
    parser = build_parser()
    commands = [
        line.split("#")[0].split()
        for block in blocks("bash")
        for line in block.splitlines()
        if line.startswith("prillm ")
    ]
    assert commands
    for words in commands:
        parser.parse_args(words[1:])  # raises SystemExit on an unknown sub-command or option


def test_make_targets_in_the_readme_exist() -> None:
    makefile = (README.parent / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", makefile, flags=re.MULTILINE))
    used = set(re.findall(r"make ([a-z-]+)", README.read_text()))
    assert used and used <= targets, used - targets
    ci = (README.parent / ".ci" / "run").read_text()
    assert "make test" in ci
