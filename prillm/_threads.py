"""One thread policy for the whole library: a re-entrant limiter for BLAS and torch threads.

The linear algebra of the library is many small dense solves (a few dozen to a few thousand
unknowns). A multi-threaded BLAS runs those several times slower on a few shared cores (measured
here: about 10x at 200 x 100 on 2 cores), and so does torch's intra-op pool on the tiny tensors
of calibration. :func:`limit_threads` holds both to ``n`` threads (default one) for a block and
restores them afterwards; it is re-entrant: an inner ``limit_threads`` inside an outer one does
nothing at all (no threadpoolctl call), so a loop of many solves pays the limiter once.

Each solve of the core enters :func:`blas_limited` with its size: inside an outer
``limit_threads`` that is free; outside it limits BLAS for the mid-sized solves only (tiny ones
never thread, huge ones profit from threads).

torch is touched only if it is already imported (``sys.modules``): the core never imports it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

__all__ = ["blas_limited", "limit_threads", "threads_limited"]

#: Problems of this many users or providers (or more) are solved with BLAS held to one thread.
SINGLE_THREAD_MIN = 32
#: ... up to this size; above it BLAS threads pay for themselves.
SINGLE_THREAD_MAX = 2000

_lock = threading.RLock()
_depth = 0
_controller: Any = None


def threads_limited() -> bool:
    """Whether a :func:`limit_threads` block is active (in any thread of the process)."""
    return _depth > 0


@contextmanager
def limit_threads(n: int = 1) -> Iterator[None]:
    """Hold BLAS (threadpoolctl) and torch intra-op threads to ``n`` for a block of code.

    Re-entrant: only the outermost block sets and restores the limits; nested blocks (and every
    solve inside) cost nothing. Thread counts are process-wide, so the limiter is too.

    Parameters
    ----------
    n
        Number of threads (>= 1).

    Examples
    --------
    >>> import numpy as np
    >>> from prillm import solve_equilibrium
    >>> from prillm._threads import limit_threads
    >>> from prillm.synthetic import random_market
    >>> market, prefs = random_market(np.random.default_rng(0), 40, 30)
    >>> with limit_threads():
    ...     loads = [solve_equilibrium(market.with_price(0, p), prefs).loads[0] for p in (1, 2)]
    >>> threads_limited()
    False
    """
    global _depth, _controller
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a whole number of threads >= 1, got {n!r}")
    with _lock:
        outer = _depth == 0
        _depth += 1
    if not outer:
        try:
            yield
        finally:
            with _lock:
                _depth -= 1
        return
    torch = sys.modules.get("torch")
    previous = None
    saved: list[tuple[Any, int]] = []
    try:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            # the BLAS libraries loaded now (numpy's, and torch's when imported first)
            _controller = ThreadpoolController().select(user_api="blas")
        if torch is not None:
            previous = torch.get_num_threads()
            torch.set_num_threads(n)
        # each library's own get/set (threadpoolctl's ``limit`` does the same through a
        # few layers of bookkeeping that cost about three times as much per block)
        for lib in _controller.lib_controllers:
            count = lib.get_num_threads()
            if count is not None:  # a library that cannot say is left alone
                saved.append((lib, count))
                lib.set_num_threads(n)
        yield
    finally:
        for lib, count in reversed(saved):
            lib.set_num_threads(count)
        if previous is not None:
            torch.set_num_threads(previous)
        with _lock:
            _depth -= 1


def blas_limited(size: int) -> Any:
    """The limiter a solve of ``size`` unknowns enters: free inside :func:`limit_threads`.

    Returns a context manager: ``limit_threads()`` for ``32 <= size <= 2000`` outside any
    limiter, a no-op otherwise.
    """
    if _depth > 0 or size < SINGLE_THREAD_MIN or size > SINGLE_THREAD_MAX:
        return nullcontext()
    return limit_threads()
