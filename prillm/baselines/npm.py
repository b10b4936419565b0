"""NPM: a market simulator with objective factors only (no perceived values ``b``).

The users' cost keeps price, congestion and latency (Eq. 1) but drops the provider-specific
perceived value: ``b_j = 0`` for every provider. Only ``w_q`` and ``w_d`` are fitted, by the same
exact-gradient method as PriLLM (:func:`prillm.calibration.calibrate`), from ``w_q = w_d = 1``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from prillm.calibration.gradient import calibrate
from prillm.calibration.result import CalibrationResult
from prillm.data.panel import Panel
from prillm.market import Preferences

__all__ = ["calibrate_npm"]


def calibrate_npm(
    panel: Panel,
    *,
    test: Panel | None = None,
    optimizer: str = "lbfgs",
    steps: int = 100,
    lr: float = 0.05,
    progress: Callable[[int, float], None] | None = None,
) -> CalibrationResult:
    """Fit the NPM simulator (``b = 0``; ``w_q``, ``w_d`` learned) to a panel.

    Parameters are those of :func:`prillm.calibration.calibrate`.
    """
    res = calibrate(
        panel,
        test=test,
        init=Preferences(w_q=1.0, w_d=1.0, b=0.0),
        fit=("w_q", "w_d"),
        fixed={"b": 0.0},
        optimizer=optimizer,
        steps=steps,
        lr=lr,
        progress=progress,
    )
    return dataclasses.replace(res, method="npm")
