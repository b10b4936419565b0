"""Learning the preferences by gradient descent through the equilibrium (Eq. 6, Theorem 2).

:func:`calibrate` starts from Algorithm 1 (:func:`~prillm.calibration.lp_init.initial_preferences`,
``w_p = w_q = w_d = 1`` and the minimal ``b``) unless given a start, and minimises the scaled loss
of Eq. (6) (:class:`~prillm.calibration.objective.CalibrationObjective`) over
``u = (log w_q, log w_d, b)`` with Adam or L-BFGS, using the exact gradient of
:mod:`prillm.torch_equilibrium`. ``w_p`` stays 1 (Section 4's normalisation). The best point seen
is returned with the loss curve and the fit on training and held-out days.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import torch

from prillm.calibration.metrics import fit_metrics
from prillm.calibration.objective import CalibrationObjective
from prillm.calibration.panel import Panel
from prillm.calibration.params import FREE_NAMES, Parametrisation
from prillm.calibration.result import CalibrationResult, predict_flows
from prillm.market import Preferences
from prillm.torch_equilibrium import torch_threads

__all__ = ["calibrate", "run_optimiser"]

GradFn = Callable[[np.ndarray], tuple[float, np.ndarray]]


def run_optimiser(
    fun: GradFn,
    u0: np.ndarray,
    *,
    optimizer: str = "adam",
    steps: int = 200,
    lr: float = 0.05,
    tol: float = 1e-10,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, list[float], int]:
    """Minimise ``fun`` (returning loss and gradient) from ``u0``; keep the best point.

    Parameters
    ----------
    fun
        ``u -> (loss, gradient)``.
    u0
        Start.
    optimizer
        ``"adam"`` (``steps`` steps of size ``lr``) or ``"lbfgs"`` (torch L-BFGS with a
        strong-Wolfe line search, ``steps`` iterations).
    tol
        Stop when the loss falls below ``tol`` or (L-BFGS) progress stalls.
    progress
        Called with ``(step, loss)`` after each step.

    Returns
    -------
    u_best, history, evaluations
        The best point, the loss after each step (first entry: the start), and the number of
        loss-and-gradient evaluations.
    """
    u = torch.tensor(np.asarray(u0, dtype=float), dtype=torch.float64, requires_grad=True)
    best = (np.inf, np.asarray(u0, dtype=float).copy())
    history: list[float] = []
    evals = 0

    def closure() -> torch.Tensor:
        nonlocal evals, best
        loss, grad = fun(u.detach().numpy())
        evals += 1
        if loss < best[0]:
            best = (loss, u.detach().numpy().copy())
        u.grad = torch.as_tensor(grad, dtype=torch.float64)
        return torch.tensor(loss, dtype=torch.float64)

    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam([u], lr=lr)
    elif optimizer == "lbfgs":
        opt = torch.optim.LBFGS(
            [u],
            lr=1.0,
            max_iter=1,
            history_size=20,
            tolerance_grad=1e-14,
            tolerance_change=1e-16,
            line_search_fn="strong_wolfe",
        )
    else:
        raise ValueError(f"optimizer: expected 'adam' or 'lbfgs', got {optimizer!r}")
    history.append(float(closure()))
    for step in range(1, steps + 1):
        opt.zero_grad()
        before = best[0]
        opt.step(closure)
        history.append(best[0])
        if progress is not None:
            progress(step, history[-1])
        if best[0] < tol:
            break
        if optimizer == "lbfgs" and before - best[0] <= 1e-12 * max(before, 1e-300):
            break
    return best[1], history, evals


def calibrate(
    panel: Panel,
    *,
    test: Panel | None = None,
    init: Preferences | None = None,
    fit: Iterable[str] = FREE_NAMES,
    fixed: Mapping[str, Any] | None = None,
    optimizer: str = "adam",
    steps: int = 200,
    lr: float = 0.05,
    progress: Callable[[int, float], None] | None = None,
    method: str = "gradient",
) -> CalibrationResult:
    """Learn :math:`\\theta = (w_q, w_d, b)` from observed days by Eq. (6) (PriLLM's method).

    Parameters
    ----------
    panel
        Training days.
    test
        Held-out days for the reported R^2 / MAE (optional).
    init
        Starting preferences; default: Algorithm 1 (the L1-relaxed LP, see
        :mod:`prillm.calibration.lp_init`).
    fit, fixed
        Which parameters are learned and the values of the others (see
        :class:`~prillm.calibration.params.Parametrisation`).
    optimizer, steps, lr
        See :func:`run_optimiser`.
    progress
        Callback ``(step, loss)``.
    method
        Name recorded in the result.

    Returns
    -------
    CalibrationResult
        ``info`` has ``initial_loss``, ``final_loss``, ``evaluations``, ``init_time``.

    References
    ----------
    Eq. (6) the loss, Theorem 2 and Eq. (19-20) the gradient, Algorithm 1 the start.
    """
    start = time.perf_counter()
    param = Parametrisation(panel.provider_ids, fit, fixed)
    init_time = 0.0
    if init is None:
        from prillm.calibration.lp_init import initial_preferences

        lp = initial_preferences(panel, backend="scipy")
        init, init_time = lp.prefs, lp.wall_time
    objective = CalibrationObjective(panel, param)
    u0 = param.encode(init)
    if param.size == 0:
        loss0 = objective.value(u0)
        u_best, history, evals = u0, [loss0], 1
    else:
        with torch_threads(1):
            u_best, history, evals = run_optimiser(
                objective.value_and_grad,
                u0,
                optimizer=optimizer,
                steps=steps,
                lr=lr,
                progress=progress,
            )
    wall = time.perf_counter() - start
    prefs = param.decode(u_best)
    return finish(method, prefs, panel, test, history, wall, evals, init_time=init_time)


def finish(
    method: str,
    prefs: Preferences,
    panel: Panel,
    test: Panel | None,
    history: list[float],
    wall: float,
    evals: int,
    **info: Any,
) -> CalibrationResult:
    """Evaluate learned preferences on the training and held-out days and pack the result."""
    train = fit_metrics(predict_flows(panel, prefs), panel.flows)
    held = None if test is None else fit_metrics(predict_flows(test, prefs), test.flows)
    info = {
        "initial_loss": history[0],
        "final_loss": min(history),
        "evaluations": evals,
        **info,
    }
    return CalibrationResult(method, prefs, list(history), train, held, wall, info)
