"""The library's shape: imports run one way, private names stay home, modules stay small.

The layers, from the bottom (README "Layout"): the market model and the shared top-level helpers
(``prillm/_*.py``, ``market``, ``io``, ``water_filling``) -> ``equilibrium`` -> {``reference``,
``torch_equilibrium``, ``data``, ``synthetic``} -> {``pricing``, ``calibration``} ->
{``baselines``, ``abstraction``} -> ``experiments`` -> ``cli``; the package's ``__init__`` (the
public facade) sits above all. A module may import its own unit and anything strictly below it;
siblings of one layer do not import each other. Lazy imports count: imports inside functions, and
module paths written as strings (lazy exports, registries). The checks read the source with
:mod:`ast`, so they see every import, whether or not a test runs it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "prillm"

#: Layer of each unit (a sub-package or a top-level module); "_top" = the private top-level helpers.
LAYER = {
    "_top": 0,
    "market": 0,
    "io": 0,
    "water_filling": 0,
    "equilibrium": 1,
    "reference": 2,
    "torch_equilibrium": 2,
    "data": 2,
    "synthetic": 2,
    "pricing": 3,
    "calibration": 3,
    "baselines": 4,
    "abstraction": 4,
    "experiments": 5,
    "cli": 6,
    "__init__": 7,
}

#: The most lines a module may have (one idea per module).
MAX_LINES = 600

MODULE_STRING = re.compile(r"^prillm(\.[A-Za-z_][A-Za-z0-9_]*)+(:[A-Za-z_][A-Za-z0-9_]*)?$")


def unit(module: str) -> str:
    """The unit a dotted module name belongs to (``prillm.pricing.exact`` -> ``pricing``)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return "_top" if parts[1].startswith("_") else parts[1]


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the package, as (dotted name, path)."""
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) for every absolute import of ``prillm``, lazy ones
    included, and every string constant that spells a ``prillm`` module path."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "prillm":
                yield node.lineno, node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "prillm":
                    yield node.lineno, alias.name, []
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if MODULE_STRING.match(node.value):
                yield node.lineno, node.value.split(":")[0], []


def violations_of_layering(path: Path, module: str) -> list[str]:
    """The imports of ``module`` that run up (or sideways) through the layers."""
    me = unit(module)
    found = []
    for line, target, _ in imports(path):
        there = unit(target)
        if there not in LAYER:
            found.append(f"{module}:{line} imports {target}: unit {there!r} has no layer")
        elif LAYER[there] > LAYER[me] or (
            LAYER[there] == LAYER[me] and there != me and LAYER[me] > 0
        ):
            found.append(f"{module}:{line} imports {target} ({there} is not below {me})")
    return found


def private_crossings(path: Path, module: str) -> list[str]:
    """Private names (a ``_module`` or a ``_name``) imported from another sub-package."""
    home = module.split(".")[1] if "." in module else "__init__"
    found = []
    for line, target, names in imports(path):
        parts = target.split(".")
        if len(parts) < 2 or parts[1].startswith("_") or parts[1] == home:
            continue  # the top-level private helpers are the shared base; the own package is home
        private = [p for p in parts[2:] if p.startswith("_") and p != "__init__"]
        private += [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private:
            found.append(f"{module}:{line} takes {', '.join(private)} from {target}")
    return found


ALL = list(modules())


def test_every_unit_has_a_layer() -> None:
    units = {unit(name) for name, _ in ALL}
    assert units <= set(LAYER), sorted(units - set(LAYER))
    assert len(ALL) > 50  # the scan sees the package


def test_imports_run_down_the_layers() -> None:
    assert [v for name, path in ALL for v in violations_of_layering(path, name)] == []


def test_no_private_name_crosses_a_package() -> None:
    assert [c for name, path in ALL for c in private_crossings(path, name)] == []


def test_modules_stay_small() -> None:
    long = {
        name: n
        for name, path in ALL
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_checks_see_planted_violations(tmp_path: Path) -> None:
    """The scan must catch each kind of violation (a check that cannot fail checks nothing)."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from prillm.experiments import table1\n"
        "def late():\n"
        "    import prillm.cli\n"
        "    from prillm.calibration.params import _b_in_order\n"
        "EXPORTS = {'x': 'prillm.abstraction.core'}\n"
        "from prillm.torch_equilibrium._kernel import solve\n",
        encoding="utf-8",
    )
    layering = violations_of_layering(planted, "prillm.pricing.planted")
    # up to experiments, up to cli (lazily), sideways to calibration, up to abstraction (a string)
    assert sorted(int(v.split(":")[1].split()[0]) for v in layering) == [1, 3, 4, 5]
    crossings = private_crossings(planted, "prillm.pricing.planted")
    assert sorted(c.split(" takes ")[1].split()[0] for c in crossings) == ["_b_in_order", "_kernel"]
    # from the top layer every one of those imports runs down
    assert violations_of_layering(planted, "prillm.cli.planted") == []
