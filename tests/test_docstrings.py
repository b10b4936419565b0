"""The shared docstring sections."""

from __future__ import annotations

import doctest

from prillm import _validation
from prillm._docstrings import raises


def test_raises_goes_before_the_examples():
    @raises("KeyError", "For an unknown key.")
    def f() -> None:
        """Summary.

        Parameters
        ----------
        none

        Examples
        --------
        >>> f()
        """

    doc = f.__doc__
    assert doc.index("Parameters") < doc.index("Raises") < doc.index("Examples")
    assert "Raises\n------\nKeyError\n    For an unknown key.\n\nExamples\n--------\n>>> f()" in doc


def test_the_checks_document_their_error_and_their_examples_still_run():
    names = ("check_number", "check_integer", "check_price")
    for name in names:
        doc = getattr(_validation, name).__doc__
        assert "Raises\n------\nMarketError\n    Naming ``name`` and the value." in doc
        assert doc.index("Raises") < doc.index("Examples")
    finder = doctest.DocTestFinder()
    tests = [t for t in finder.find(_validation) if t.name.split(".")[-1] in names]
    assert len(tests) == 3 and all(t.examples for t in tests)
    runner = doctest.DocTestRunner()
    for t in tests:
        runner.run(t)
    assert runner.summarize(verbose=False).failed == 0
