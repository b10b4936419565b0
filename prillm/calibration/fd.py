"""The FD baseline: the same optimiser, gradients by central finite differences.

The equilibrium is treated as a black box (the exact numpy solver): each gradient of the scaled
loss of Eq. (6) costs ``2 p`` loss evaluations (``p`` = number of free parameters), each one an
equilibrium per training day, against one forward and one adjoint solve per day for the exact
gradient of :mod:`prillm.calibration.gradient`. The step is ``h`` in the free coordinates
``(log w_q, log w_d, b)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from prillm.calibration.fitting import check_number, finish, prepare, run_optimiser
from prillm.calibration.lp_init import INIT_DAYS
from prillm.calibration.params import FREE_NAMES
from prillm.calibration.result import CalibrationResult
from prillm.data.panel import Panel
from prillm.market import Preferences
from prillm.torch_equilibrium import torch_threads

__all__ = ["calibrate_fd", "central_gradient"]


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


def calibrate_fd(
    panel: Panel,
    *,
    test: Panel | None = None,
    init: Preferences | None = None,
    init_days: int | None = INIT_DAYS,
    fit: Iterable[str] = FREE_NAMES,
    fixed: Mapping[str, Any] | None = None,
    optimizer: str = "adam",
    steps: int = 200,
    lr: float = 0.05,
    h: float = 1e-5,
    progress: Callable[[int, float], None] | None = None,
    check_identifiability: bool = True,
) -> CalibrationResult:
    """Eq. (6) by finite-difference gradients through the black-box equilibrium (FD).

    Parameters are those of :func:`prillm.calibration.gradient.calibrate`, plus the step ``h``.
    The start defaults to Algorithm 1, as for the gradient method.

    Returns
    -------
    CalibrationResult
        ``info["equilibrium_solves"]`` counts the daily equilibria computed.
    """
    start = time.perf_counter()
    check_number("h", h)
    setup = prepare(
        panel,
        init=init,
        init_days=init_days,
        fit=fit,
        fixed=fixed,
        check_identifiability=check_identifiability,
    )
    param, objective = setup.param, setup.objective
    with torch_threads(1):
        run = run_optimiser(
            lambda u: central_gradient(objective.value, u, h),
            param.encode(setup.init),
            optimizer=optimizer,
            steps=steps,
            lr=lr,
            bounds=param.bounds(),
            progress=progress,
        )
    wall = time.perf_counter() - start
    return finish(
        "fd",
        setup,
        run.u,
        run.loss,
        run.history,
        test,
        wall,
        run.evaluations,
        run.status,
        equilibrium_solves=objective.evaluations * panel.n_days,
    )
