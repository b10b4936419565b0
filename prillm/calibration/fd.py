"""The FD baseline: the same optimiser as PriLLM's, gradients by central finite differences.

The equilibrium is treated as a black box (the exact numpy solver): each gradient of the scaled
loss of Eq. (6) costs ``2 p`` loss evaluations (``p`` = number of free parameters), each one an
equilibrium per training day, against one forward and one adjoint solve per day for the exact
gradient. The step is ``h`` in the free coordinates ``(log w_q, log w_d, b)``. The method is
:func:`prillm.calibration.calibrate` with ``gradient="fd"``, the registry's ``"fd"``
(``run_method("fd", panel, ...)``); this module holds its gradient, :func:`central_gradient`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["central_gradient"]


def central_gradient(
    value: Callable[[np.ndarray], float], u: np.ndarray, h: float = 1e-5
) -> tuple[float, np.ndarray]:
    """Loss at ``u`` and its central-difference gradient (``2 len(u) + 1`` evaluations)."""
    u = np.asarray(u, dtype=float)
    grad = np.zeros_like(u)
    for k in range(u.size):
        e = np.zeros_like(u)
        e[k] = h
        grad[k] = (value(u + e) - value(u - e)) / (2 * h)
    return value(u), grad
