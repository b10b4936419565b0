"""Learning the preferences by gradient descent through the equilibrium (Eq. 6, Theorem 2).

:func:`calibrate` starts from Algorithm 1 (:func:`~prillm.calibration.lp_init.initial_preferences`,
``w_p = w_q = w_d = 1`` and the minimal ``b``) unless given a start, and minimises the scaled loss
of Eq. (6) (:class:`~prillm.calibration.objective.CalibrationObjective`) over
``u = (log w_q, log w_d, b)`` with Adam or L-BFGS-B, using the exact gradient of
:mod:`prillm.torch_equilibrium` — or, for the FD baseline (``gradient="fd"``, the registry's
``"fd"``), central finite differences of the black-box equilibrium
(:func:`~prillm.calibration.fd.central_gradient`). ``w_p`` stays 1 (Section 4's
normalisation). Optionally a derivative-free Powell search refines the result (the loss has
kinks where a route enters or leaves the support, at which L-BFGS-B may stop). The lowest-loss
point evaluated is returned with the raw loss curve, the fit on training and held-out days, and
what the data cannot identify.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from prillm.calibration.fd import central_gradient
from prillm.calibration.fitting import check_number, finish, prepare, run_optimiser
from prillm.calibration.lp_init import INIT_DAYS
from prillm.calibration.params import FREE_NAMES
from prillm.calibration.registry import checked_options
from prillm.calibration.result import CalibrationResult
from prillm.data.panel import Panel
from prillm.market import MarketError, Preferences
from prillm.torch_equilibrium import torch_threads

__all__ = ["GRADIENTS", "REFINERS", "calibrate"]

#: Refinements :func:`calibrate` can run after the gradient steps.
REFINERS = ("powell",)
#: How :func:`calibrate` computes the gradient: exactly (Theorem 2) or by finite differences (FD).
GRADIENTS = ("exact", "fd")


@checked_options
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
    gradient: str = "exact",
    h: float = 1e-5,
    refine: str | None = None,
    progress: Callable[[int, float], None] | None = None,
    check_identifiability: bool = True,
) -> CalibrationResult:
    """Learn :math:`\\theta = (w_q, w_d, b)` from observed days by Eq. (6) (PriLLM's method).

    Parameters
    ----------
    panel
        Training days (:class:`prillm.data.Panel`).
    test
        Held-out days for the reported R^2 / MAE (optional).
    init
        Starting preferences; default: Algorithm 1 (the L1-relaxed LP, see
        :mod:`prillm.calibration.lp_init`) on ``init_days`` evenly spaced training days
        (``None``: all of them), the paper's "representative days".
    fit, fixed
        Which parameters are learned and the values of the others (see
        :class:`~prillm.calibration.params.Parametrisation`; unknown names are refused).
    optimizer, steps, lr
        See :func:`~prillm.calibration.fitting.run_optimiser`.
    gradient, h
        ``"exact"`` (default; one forward and one adjoint solve per day) or ``"fd"``: central
        differences with step ``h`` in ``u`` (``2 p + 1`` loss evaluations, each an
        equilibrium per day, for ``p`` parameters) — the FD baseline, reported as method
        ``"fd"`` with ``info["equilibrium_solves"]``.
    refine
        ``None`` or ``"powell"``: from the gradient fit, Powell's derivative-free method on the
        same loss (within the same box), kept only if it lowers the loss.
    progress
        Callback ``(step, loss at that step)``.
    check_identifiability
        Look for parameters the panel does not identify (warns, and records them in
        :attr:`CalibrationResult.identifiability`); costs two loss evaluations.

    Returns
    -------
    CalibrationResult
        ``loss_history`` is the raw loss per step; ``info`` has ``initial_loss``,
        ``final_loss`` (at the returned point), ``last_loss``, ``evaluations``, ``status``,
        ``init_time`` and, with ``refine``, ``gradient_loss`` and ``refined_loss``.

    Raises
    ------
    prillm.MarketError
        For bad options (naming the option and the valid values), or an unknown keyword
        (naming it and listing the valid ones).

    References
    ----------
    Eq. (6) the loss, Theorem 2 and Eq. (19-20) the gradient, Algorithm 1 the start.

    Examples
    --------
    Noise-free days of a planted game give its weights back:

    >>> from prillm import Preferences
    >>> from prillm.data import RandomDesign, generate_planted_panel
    >>> truth = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0])
    >>> panel = generate_planted_panel(seed=0, n_days=8, design=RandomDesign(4, 3, truth),
    ...                                noise_sigma=0.0)
    >>> res = calibrate(panel, optimizer="lbfgs", steps=100)
    >>> round(res.prefs.w_q, 2), round(res.prefs.w_d, 2), res.train.r2 > 0.999999
    (2.0, 0.5, True)
    """
    start = time.perf_counter()
    if refine is not None and refine not in REFINERS:
        raise MarketError(f"refine: expected None or 'powell', got {refine!r}")
    if gradient not in GRADIENTS:
        raise MarketError(f"gradient: expected 'exact' or 'fd', got {gradient!r}")
    check_number("h", h)
    setup = prepare(
        panel, init=init, init_days=init_days, fit=fit, fixed=fixed, check=check_identifiability
    )
    param, objective = setup.param, setup.objective
    u0 = param.encode(setup.init)
    extra: dict[str, Any] = {}
    with torch_threads(1):
        if param.size == 0:
            loss0 = objective.value(u0)
            u_best, loss_best, history, evals, status = u0, loss0, [loss0], 1, "nothing to learn"
        else:
            grad_fn = (
                objective.value_and_grad
                if gradient == "exact"
                else lambda u: central_gradient(objective.value, u, h)
            )
            run = run_optimiser(
                grad_fn,
                u0,
                optimizer=optimizer,
                steps=steps,
                lr=lr,
                bounds=param.bounds(),
                progress=progress,
            )
            u_best, loss_best, history = run.u, run.loss, run.history
            evals, status = run.evaluations, run.status
        if refine == "powell" and param.size > 0:
            u_best, loss_best, extra = _powell(objective, param.bounds(), u_best, loss_best)
    wall = time.perf_counter() - start
    if gradient == "fd":
        extra["equilibrium_solves"] = objective.evaluations * panel.n_days
    method = "gradient" if gradient == "exact" else "fd"
    return finish(method, setup, u_best, loss_best, history, test, wall, evals, status, **extra)


def _powell(
    objective: Any, bounds: list[tuple[float | None, float | None]], u: np.ndarray, loss: float
) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Powell's method on the numpy loss from ``u``, kept only if it is lower."""
    from scipy.optimize import minimize

    res = minimize(
        objective.value, u, method="Powell", bounds=bounds, options={"xtol": 1e-6, "ftol": 1e-10}
    )
    refined = float(res.fun)
    info = {
        "refine": "powell",
        "gradient_loss": loss,
        "refined_loss": refined,
        "refine_evaluations": int(res.nfev),
    }
    if refined < loss:
        return np.asarray(res.x, dtype=float), refined, info
    return u, loss, info
