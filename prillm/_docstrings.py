"""Docstring sections shared by several functions: written once, added where they apply."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

__all__ = ["raises"]

_F = TypeVar("_F", bound=Callable[..., object])

_EXAMPLES = "\nExamples\n--------\n"


def raises(error: str, when: str) -> Callable[[_F], _F]:
    """Add the numpydoc section ``Raises`` (``error``, then ``when``) to a function's docstring.

    The section goes before ``Examples`` when the docstring has them, else at the end, so that
    the sections keep numpydoc's order. The function itself is returned unchanged otherwise.

    Examples
    --------
    >>> @raises("ValueError", "For a negative ``x``.")
    ... def root(x: float) -> float:
    ...     '''The square root.'''
    ...     return x**0.5
    >>> print(root.__doc__)
    The square root.
    <BLANKLINE>
    Raises
    ------
    ValueError
        For a negative ``x``.
    <BLANKLINE>
    """
    section = f"Raises\n------\n{error}\n    {when}\n"

    def add(fn: _F) -> _F:
        doc = inspect.cleandoc(fn.__doc__ or "")
        head, examples, tail = doc.partition(_EXAMPLES)
        doc = f"{head.rstrip()}\n\n{section}"
        if examples:
            doc += f"{examples}{tail}\n"
        fn.__doc__ = doc
        return fn

    return add
