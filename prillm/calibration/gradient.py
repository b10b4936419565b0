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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from prillm.calibration.lp_init import INIT_DAYS, default_start
from prillm.calibration.metrics import fit_metrics
from prillm.calibration.objective import CalibrationObjective
from prillm.calibration.panel import Panel
from prillm.calibration.params import FREE_NAMES, Parametrisation
from prillm.calibration.result import CalibrationError, CalibrationResult, predict_flows
from prillm.equilibrium import EquilibriumError
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
    bounds: Sequence[tuple[float | None, float | None]] | None = None,
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
        ``"adam"`` (torch Adam, ``steps`` steps of size ``lr``) or ``"lbfgs"``
        (``scipy.optimize.minimize(method="L-BFGS-B")``, at most ``steps`` iterations, within
        ``bounds``).
    tol
        Stop when the loss falls below ``tol``.
    bounds
        Box for each coordinate of ``u`` (L-BFGS-B only; Adam relies on the parametrisation's
        clipping).
    progress
        Called with ``(step, best loss)`` after each step.

    Returns
    -------
    u_best, history, evaluations
        The best point, the best loss seen after each step (first entry: the start), and the
        number of loss-and-gradient evaluations.

    Notes
    -----
    An evaluation at which the equilibrium solver fails (an extreme point such as a vanishing
    congestion weight) counts as an infinitely bad point with zero gradient: L-BFGS-B then
    backtracks, and the best point seen is still returned.
    """
    if optimizer not in ("adam", "lbfgs"):
        raise ValueError(f"optimizer: expected 'adam' or 'lbfgs', got {optimizer!r}")
    u_start = np.asarray(u0, dtype=float).copy()
    best: list[Any] = [np.inf, u_start.copy()]
    history: list[float] = []
    evals = 0

    def evaluate(u: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evals
        evals += 1
        try:
            loss, grad = fun(u)
        except EquilibriumError:
            return float("inf"), np.zeros_like(u)
        if loss < best[0]:
            best[0], best[1] = loss, np.array(u, dtype=float)
        return loss, grad

    if optimizer == "adam":
        u = torch.tensor(u_start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([u], lr=lr)
        for step in range(steps + 1):
            loss, grad = evaluate(u.detach().numpy())
            if step == 0:
                _check_start(loss)
                history.append(loss)
            else:
                history.append(best[0])
                if progress is not None:
                    progress(step, best[0])
            if step == steps or best[0] < tol or not np.isfinite(loss):
                break
            u.grad = torch.as_tensor(grad, dtype=torch.float64)
            opt.step()
        return best[1], history, evals

    history.append(evaluate(u_start)[0])
    _check_start(history[0])
    from scipy.optimize import minimize

    def callback(intermediate_result: Any) -> None:
        history.append(best[0])
        if progress is not None:
            progress(len(history) - 1, best[0])
        if best[0] < tol:
            raise StopIteration

    minimize(
        evaluate,
        u_start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        options={"maxiter": steps, "ftol": 1e-15, "gtol": 1e-12, "maxcor": 20},
    )
    return best[1], history, evals


def _check_start(loss: float) -> None:
    if not np.isfinite(loss):
        raise CalibrationError("the equilibrium cannot be computed at the starting point")


def calibrate(
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
        :mod:`prillm.calibration.lp_init`) on ``init_days`` evenly spaced training days
        (``None``: all of them), the paper's "representative days".
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

    Examples
    --------
    Noise-free days of a planted game give its weights back:

    >>> from prillm import Preferences
    >>> from prillm.calibration import synthetic_panel
    >>> truth = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0])
    >>> panel = synthetic_panel(4, 3, 8, truth, noise=0.0, rng=0)
    >>> res = calibrate(panel, optimizer="lbfgs", steps=100)
    >>> round(res.prefs.w_q, 2), round(res.prefs.w_d, 2), res.train.r2 > 0.999999
    (2.0, 0.5, True)
    """
    start = time.perf_counter()
    param = Parametrisation(panel.provider_ids, fit, fixed)
    init_time = 0.0
    if init is None:
        init, init_time = default_start(panel, init_days)
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
                bounds=param.bounds(),
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
