"""What the learning methods share: the set-up of a fit, the optimiser, and the result.

Every learning method (:func:`~prillm.calibration.gradient.calibrate`, with exact or
finite-difference gradients, and :func:`~prillm.calibration.a2c.calibrate_a2c`) does the same
around its own search: :func:`prepare` checks the options, builds the
:class:`~prillm.calibration.params.Parametrisation`, starts from Algorithm 1 unless given a start,
builds the loss (:class:`~prillm.calibration.objective.CalibrationObjective`) and looks at what
the panel cannot identify; :func:`finish` decodes the best point, checks the scale ray, warns,
measures the fit on the training and held-out days and packs the
:class:`~prillm.calibration.result.CalibrationResult`. :func:`run_optimiser` is the gradient
search of the gradient and FD methods.

The loss history is *raw*: the loss at each step's point, as measured, not the best seen so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm.calibration.identifiability import (
    congestion_finding,
    data_findings,
    profile_finding,
    warn_findings,
)
from prillm.calibration.lp_init import default_start
from prillm.calibration.metrics import fit_metrics
from prillm.calibration.objective import CalibrationObjective
from prillm.calibration.params import FREE_NAMES, Parametrisation
from prillm.calibration.result import CalibrationError, CalibrationResult, predict_flows
from prillm.data.panel import Panel
from prillm.equilibrium import EquilibriumError
from prillm.market import MarketError, Preferences

__all__ = ["OPTIMIZERS", "OptimiserRun", "Setup", "finish", "prepare", "run_optimiser"]

#: The optimisers of :func:`run_optimiser`.
OPTIMIZERS = ("adam", "lbfgs")
GradFn = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class OptimiserRun:
    """What :func:`run_optimiser` found.

    Attributes
    ----------
    u, loss
        The point with the lowest loss among all evaluations, and that loss.
    history
        The loss at the start and at each step's point (Adam: every iterate; L-BFGS-B: every
        accepted iterate), raw.
    evaluations
        Number of loss-and-gradient evaluations.
    status
        Why it stopped; it says so when no step lowered the loss below the start's (then
        :attr:`u` is the start).
    """

    u: np.ndarray
    loss: float
    history: list[float]
    evaluations: int
    status: str


def _run(u: np.ndarray, loss: float, history: list[float], evals: int, status: str) -> OptimiserRun:
    """The run's result, its status saying so when no point tried improved on the start."""
    if evals > 1 and not loss < history[0]:
        status += (
            "; no step lowered the loss below the start's, so the result is the start (try the "
            "other optimizer, or a smaller lr)"
        )
    return OptimiserRun(u, loss, history, evals, status)


@dataclass
class Setup:
    """A prepared fit (see :func:`prepare`)."""

    panel: Panel
    param: Parametrisation
    init: Preferences
    init_time: float
    objective: CalibrationObjective
    findings: list[dict[str, Any]] = field(default_factory=list)
    check_identifiability: bool = True


def check_number(
    name: str, value: Any, *, integer: bool = False, minimum: float = 0.0, strict: bool = True
) -> None:
    """An option that must be a finite number (an integer) above ``minimum``: else MarketError."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise MarketError(
            f"{name}: expected {'an integer' if integer else 'a number'}, got {value!r}"
        )
    if not math.isfinite(float(value)) or value < minimum or (strict and value == minimum):
        sign = ">" if strict else ">="
        raise MarketError(f"{name}: must be {sign} {minimum:g} and finite, got {value!r}")


def prepare(
    panel: Panel,
    *,
    init: Preferences | None,
    init_days: int | None,
    fit: Iterable[str] = FREE_NAMES,
    fixed: Mapping[str, Any] | None = None,
    check: bool = True,
) -> Setup:
    """Check the common options, build the parametrisation and the loss, find the start.

    Raises
    ------
    prillm.MarketError
        For a panel that is not a :class:`prillm.data.Panel`, a start that is not
        :class:`prillm.Preferences`, bad ``init_days``, or bad ``fit`` / ``fixed`` names.
    """
    if not isinstance(panel, Panel):
        raise MarketError(f"panel: expected a prillm.data.Panel, got {type(panel).__name__}")
    if init is not None and not isinstance(init, Preferences):
        raise MarketError(f"init: expected Preferences, got {type(init).__name__}")
    if init_days is not None:
        check_number("init_days", init_days, integer=True, minimum=1, strict=False)
    param = Parametrisation(panel.provider_ids, fit, fixed)
    init_time = 0.0
    if init is None:
        init, init_time = default_start(panel, init_days)
    findings = data_findings(panel, param) if check else []
    objective = CalibrationObjective(panel, param)
    return Setup(panel, param, init, init_time, objective, findings, check)


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
) -> OptimiserRun:
    """Minimise ``fun`` (returning loss and gradient) from ``u0``.

    Parameters
    ----------
    fun
        ``u -> (loss, gradient)``.
    u0
        Start (inside ``bounds``).
    optimizer
        ``"adam"`` (torch Adam, ``steps`` steps of size ``lr``, each projected back onto
        ``bounds``) or ``"lbfgs"`` (``scipy.optimize.minimize(method="L-BFGS-B")``, at most
        ``steps`` iterations, within ``bounds``).
    tol
        Stop when the loss falls below ``tol``.
    bounds
        Box for each coordinate of ``u``.
    progress
        Called with ``(step, loss at that step)`` after each step.

    Returns
    -------
    OptimiserRun

    Raises
    ------
    prillm.MarketError
        For an unknown optimizer or a bad ``steps``, ``lr`` or ``tol``.
    CalibrationError
        If the loss cannot be computed at the start.

    Notes
    -----
    An evaluation at which the equilibrium solver fails (an extreme point) counts as an
    infinitely bad point with zero gradient: L-BFGS-B then backtracks, Adam stops.
    """
    if optimizer not in OPTIMIZERS:
        raise MarketError(f"optimizer: expected 'adam' or 'lbfgs', got {optimizer!r}")
    check_number("steps", steps, integer=True, minimum=0, strict=False)
    check_number("lr", lr)
    check_number("tol", tol, strict=False)
    u_start = np.asarray(u0, dtype=float).copy()
    box = list(bounds) if bounds is not None else [(None, None)] * u_start.size
    lo = np.array([-np.inf if b[0] is None else b[0] for b in box], dtype=float)
    hi = np.array([np.inf if b[1] is None else b[1] for b in box], dtype=float)
    best: list[Any] = [np.inf, u_start.copy()]
    evals = 0
    last = [np.nan]

    def evaluate(u: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evals
        evals += 1
        try:
            loss, grad = fun(u)
        except EquilibriumError:
            loss, grad = float("inf"), np.zeros_like(u)
        last[0] = loss
        if loss < best[0]:
            best[0], best[1] = loss, np.array(u, dtype=float)
        return loss, grad

    loss0, grad = evaluate(u_start)
    history = [loss0]
    if not np.isfinite(loss0):
        raise CalibrationError("the equilibrium cannot be computed at the starting point")
    if optimizer == "adam":
        import torch

        u = torch.tensor(u_start, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([u], lr=lr)
        status = f"{steps} steps"
        for step in range(1, steps + 1):
            if history[-1] < tol:
                status = "loss below tol"
                break
            u.grad = torch.as_tensor(grad, dtype=torch.float64)
            opt.step()
            with torch.no_grad():  # projection onto the box
                u.copy_(torch.as_tensor(np.clip(u.detach().numpy(), lo, hi)))
            loss, grad = evaluate(u.detach().numpy().copy())
            history.append(loss)
            if progress is not None:
                progress(step, loss)
            if not np.isfinite(loss):
                status = "the equilibrium failed at a step"
                break
        return _run(best[1], float(best[0]), history, evals, status)

    from scipy.optimize import OptimizeResult, minimize

    def callback(intermediate_result: Any) -> None:
        loss = (
            float(intermediate_result.fun)
            if isinstance(intermediate_result, OptimizeResult)
            else float(last[0])
        )
        history.append(loss)
        if progress is not None:
            progress(len(history) - 1, loss)
        if loss < tol:
            raise StopIteration

    if steps == 0:
        return OptimiserRun(best[1], float(best[0]), history, evals, "0 steps")
    res = minimize(
        evaluate,
        u_start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        callback=callback,
        options={"maxiter": steps, "ftol": 1e-15, "gtol": 1e-12, "maxcor": 20},
    )
    return _run(best[1], float(best[0]), history, evals, str(res.message))


def finish(
    method: str,
    setup: Setup,
    u_best: np.ndarray,
    loss_best: float,
    history: list[float],
    test: Panel | None,
    wall: float,
    evals: int,
    status: str,
    **info: Any,
) -> CalibrationResult:
    """Decode the best point, look for what is not identified, and measure the fit.

    Warns with an :class:`~prillm.calibration.identifiability.IdentifiabilityWarning` when the
    data (or the loss along the scale ray) leave parameters unidentified, or a learned weight
    ended on its bound.
    """
    if test is not None and not isinstance(test, Panel):
        raise MarketError(f"test: expected a prillm.data.Panel, got {type(test).__name__}")
    panel, param = setup.panel, setup.param
    prefs = param.decode(u_best)
    findings = list(setup.findings)
    at_bound = param.at_bound(u_best)
    if setup.check_identifiability:
        if at_bound:
            findings.append(
                {
                    "parameters": list(at_bound),
                    "reason": "the fit ended on the bound of the weights (1e-4 or 1e4): the loss "
                    "keeps falling towards it, the data do not bound it",
                }
            )
        scale_known = any(set(f["parameters"]) & {"w_q", "w_d"} for f in findings)
        if not scale_known and not at_bound:
            flat = profile_finding(panel, prefs, param)
            if flat is not None:
                findings.append(flat)
        if "w_q" not in {p for f in findings for p in f["parameters"]}:
            flat_q = congestion_finding(panel, prefs, param)
            if flat_q is not None:
                findings.append(flat_q)
    warn_findings(findings, stacklevel=4)
    train = fit_metrics(predict_flows(panel, prefs), panel.flows)
    held = None if test is None else fit_metrics(predict_flows(test, prefs), test.flows)
    record = {
        "initial_loss": history[0],
        "final_loss": loss_best,
        "last_loss": history[-1],
        "evaluations": evals,
        "status": status,
        "weights_at_bound": at_bound,
        "init_time": setup.init_time,
        **info,
    }
    return CalibrationResult(
        method, prefs, list(history), train, held, wall, record, tuple(findings)
    )
