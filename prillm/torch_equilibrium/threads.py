"""Thread policy for the small tensors of the differentiable equilibrium.

The tensors of calibration and of the single-market layers are tiny (a few hundred entries): on
a few shared cores a multi-threaded torch runs them several times slower than one thread. Every
module of this package takes its limiter from here, so that moving to a library-wide limiter is
a change of this one module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run a block with ``n`` torch intra-op threads, restoring the previous number after.

    Parameters
    ----------
    n
        Number of intra-op threads inside the block (>= 1).

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    previous = torch.get_num_threads()
    if previous == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
