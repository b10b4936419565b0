"""Thread policy for the small tensors of the differentiable equilibrium.

The tensors of calibration and of the single-market layers are tiny (a few hundred entries): on
a few shared cores a multi-threaded torch runs them several times slower than one thread. The
limiter is the library-wide one, :func:`prillm._threads.limit_threads` (BLAS and torch threads,
re-entrant); :func:`torch_threads` is its name in this package.
"""

from __future__ import annotations

from prillm._threads import limit_threads as torch_threads

__all__ = ["torch_threads"]
