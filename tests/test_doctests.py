"""The Examples sections of the docstrings run (numpydoc examples are documentation and tests)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import prillm

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(prillm.__path__, prefix="prillm.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
