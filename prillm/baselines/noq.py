"""PriLLM-noQ: the calibrated game without the congestion term.

With ``w_q = 0`` the potential (Eq. 4-5) is linear: every user sends all its demand to its
cheapest provider, ties make the equilibrium non-unique, and the flows are a step function of
``theta`` with zero gradient almost everywhere. We keep the model well posed by fixing ``w_q``
at the tiny value :data:`NOQ_W_Q` (USD per 1M tokens per unit of congestion, about 1/1000 of the
planted and learned values): the equilibrium is unique again, almost all-or-nothing, and the
remaining ``w_d`` and ``b`` are learned exactly as in PriLLM (start: Algorithm 1 with the same
tiny ``w_q``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from prillm.calibration.gradient import calibrate
from prillm.calibration.lp_init import initial_preferences, representative_days
from prillm.calibration.result import CalibrationResult
from prillm.data.panel import Panel

__all__ = ["NOQ_W_Q", "calibrate_noq"]

#: The fixed, tiny congestion weight of the noQ variant.
NOQ_W_Q = 1e-3


def calibrate_noq(
    panel: Panel,
    *,
    test: Panel | None = None,
    w_q: float = NOQ_W_Q,
    optimizer: str = "adam",
    steps: int = 200,
    lr: float = 0.05,
    progress: Callable[[int, float], None] | None = None,
) -> CalibrationResult:
    """Fit PriLLM-noQ (``w_q`` fixed tiny; ``w_d`` and ``b`` learned) to a panel.

    Adam is the default: on the nearly piecewise-constant loss of this variant L-BFGS stops
    after a few evaluations, while Adam keeps stepping through its budget.
    """
    init = initial_preferences(representative_days(panel), backend="scipy", w_q=w_q).prefs
    res = calibrate(
        panel,
        test=test,
        init=init,
        fit=("w_d", "b"),
        fixed={"w_q": w_q},
        optimizer=optimizer,
        steps=steps,
        lr=lr,
        progress=progress,
    )
    return dataclasses.replace(res, method="noq")
