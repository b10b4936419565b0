"""The game as a nowcaster of daily model volumes: values that drift, weights from the window.

The calibrated game of :mod:`prillm.experiments.daily_volumes` holds the perceived values ``b``
fixed over the whole window, so it cannot follow the drift of shares (new models, hype) that
"yesterday's shares" captures. The **nowcast** keeps what persistence knows and adds the price
response of the game:

1. **Values from the latest day(s).** With one aggregate user and every model used, the KKT
   condition of a used route (Eq. 14) reads ``w_p p_j + w_d d_j - b_j + 2 w_q F_j / alpha_j
   = lambda``; given a day's loads, prices and the weights, the values that make that day's
   observed loads the equilibrium are ``b_j = w_p p_j + w_d d_j + 2 w_q F_j / alpha_j`` (up to
   the common shift ``lambda``, set to 0). With ``memory`` days the values and the capacities
   (``alpha_j = T_j / u``, ``T_j`` the mean load over those days) are averaged over them.
2. **Weights from the whole window.** ``w_p = 1`` (Section 4's normalisation), ``w_d = 1`` (a
   constant latency moves no equilibrium), and ``w_q`` chosen on a stated grid
   ``[W_Q_BOUNDS]`` to minimise the squared one-step-ahead errors of the training days. Only days
   with a price change inform ``w_q``: on a day whose prices equal the day before, the forecast
   does not depend on ``w_q`` (``b`` absorbs it), and with ``memory = 1`` it *is* yesterday's
   shares. When the best ``w_q`` is the grid's upper end, the data ask for no price response.
3. **Each day at its own prices.** Day ``t`` is forecast as the equilibrium of its prices and
   its total demand under the values of the days before it (held-out days before ``t``
   included: they are in the past on day ``t``).

The **own-price elasticity** ``e_j = (dF_j / dp_j) p_j / F_j`` of each model is the central
finite difference of the equilibrium load in its own price at the last training day. With every
route used it is ``-w_p alpha_j (1 - alpha_j / sum_k alpha_k) p_j / (2 w_q F_j)``, so it scales
as ``1 / w_q``; its interval comes from a seeded bootstrap over the training days (the days
whose one-step errors choose ``w_q`` are resampled with replacement and ``w_q`` chosen again).

References
----------
Eq. (13)-(17) the user-side equilibrium and its KKT conditions; Section 4 (``w_p = 1``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm.calibration.metrics import fit_metrics
from prillm.data import Panel, aligned_b
from prillm.equilibrium import solve_active_set
from prillm.experiments.tables import metrics_summary
from prillm.market import MarketError

__all__ = [
    "W_Q_BOUNDS",
    "Nowcast",
    "elasticities",
    "game_elasticities",
    "nowcast",
    "nowcast_values",
    "one_step_forecasts",
]

#: The stated bound on the congestion weight ``w_q`` of the nowcast (the grid's ends).
W_Q_BOUNDS = (1e-2, 1e4)
#: Grid points per decade of ``w_q``.
GRID_PER_DECADE = 8


def _n_train(panel: Panel) -> int:
    n_train = panel.info.get("n_train")
    if not isinstance(n_train, int) or not 2 <= n_train < panel.n_days:
        raise MarketError("n_train: the panel needs >= 2 training days and a held-out day")
    return n_train


def nowcast_values(
    panel: Panel, days: Sequence[int], w_q: float, utilisation: float
) -> tuple[np.ndarray, np.ndarray]:
    """The values ``b`` and capacities ``alpha`` that make ``days`` the equilibrium (averaged).

    Returns
    -------
    b, alpha
        ``(m,)`` each: ``alpha_j = mean_t F_tj / utilisation``; ``b`` the mean over ``days`` of
        ``w_p p_tj + w_d d_tj + 2 w_q F_tj / alpha_j`` (``w_p = w_d = 1``, one user).
    """
    days = list(days)
    loads = panel.flows[days].sum(axis=1)  # (k, m)
    if (loads <= 0).any():
        raise MarketError("flows: the nowcast needs every model used on every day it reads")
    alpha = loads.mean(axis=0) / utilisation
    lat = panel.latency[days][:, 0, :]
    b = (panel.price[days] + lat + 2.0 * w_q * loads / alpha[None, :]).mean(axis=0)
    return b, alpha


def _predict(panel: Panel, t: int, b: np.ndarray, alpha: np.ndarray, w_q: float) -> np.ndarray:
    """Day ``t``'s equilibrium flows ``(n, m)`` at its prices and demand."""
    cost = panel.price[t][None, :] + panel.latency[t] - b[None, :]
    return solve_active_set(cost, w_q / alpha, panel.demand[t]).flows


def one_step_forecasts(
    panel: Panel, days: Sequence[int], w_q: float, memory: int = 1, utilisation: float = 0.8
) -> np.ndarray:
    """Forecast each of ``days`` from the ``memory`` days before it: flows ``(len(days), n, m)``."""
    out = np.zeros((len(days), panel.n_users, panel.n_providers))
    for k, t in enumerate(days):
        past = range(max(0, t - memory), t)
        b, alpha = nowcast_values(panel, past, w_q, utilisation)
        out[k] = _predict(panel, t, b, alpha, w_q)
    return out


def elasticities(
    panel: Panel, t: int, w_q: float, memory: int = 1, utilisation: float = 0.8, h: float = 1e-4
) -> np.ndarray:
    """Own-price elasticity of each model's load in the nowcast's state of day ``t``.

    Central finite differences (step ``h`` relative to the price) of the equilibrium with the
    values and capacities read from days ``t - memory + 1 .. t``.
    """
    b, alpha = nowcast_values(panel, range(max(0, t - memory + 1), t + 1), w_q, utilisation)
    return _own_price_elasticities(
        panel.price[t],
        lambda q: q[None, :] + panel.latency[t] - b[None, :],
        w_q / alpha,
        panel.demand[t],
        h,
    )


def _own_price_elasticities(
    price: np.ndarray,
    cost_at: Callable[[np.ndarray], np.ndarray],
    slope: np.ndarray,
    demand: np.ndarray,
    h: float,
) -> np.ndarray:
    """Each provider's own-price elasticity of its equilibrium load, ``(m,)``.

    Central finite differences with step ``h`` relative to the price (at least ``h * 1e-3``);
    ``cost_at(prices)`` gives the route costs ``(n, m)`` at a price vector.
    """
    base = solve_active_set(cost_at(price), slope, demand).flows
    out = np.zeros(price.size)
    for j in range(price.size):
        p = float(price[j])
        step = h * max(p, 1e-3)
        loads = []
        for sign in (1.0, -1.0):
            moved = price.copy()
            moved[j] = p + sign * step
            loads.append(solve_active_set(cost_at(moved), slope, demand).flows[:, j].sum())
        out[j] = (loads[0] - loads[1]) / (2 * step) * p / base[:, j].sum()
    return out


def game_elasticities(
    panel: Panel,
    prefs: Any,
    days: Sequence[int],
    *,
    n_boot: int = 200,
    level: float = 0.9,
    rng: np.random.Generator | None = None,
    h: float = 1e-4,
) -> dict[str, dict[str, float]]:
    """Own-price elasticities of a *fixed* calibrated game, averaged over ``days``.

    Central finite differences of each day's equilibrium load in the model's own price, under
    ``prefs`` and the panel's capacities; the interval is a seeded bootstrap of the mean over
    the days (it shows how the elasticity moves with the day's state, not the parameters'
    uncertainty, which a fixed ``prefs`` does not carry).

    Returns
    -------
    dict
        Model id -> ``{"value", "low", "high"}``.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    b = aligned_b(prefs, panel.provider_ids)
    days = list(days)
    e = np.zeros((len(days), panel.n_providers))
    for k, t in enumerate(days):
        fixed = prefs.w_d * panel.latency[t] - b[None, :]
        e[k] = _own_price_elasticities(
            panel.price[t],
            lambda q, fixed=fixed: prefs.w_p * q[None, :] + fixed,
            prefs.w_q / panel.capacity[t],
            panel.demand[t],
            h,
        )
    picks = rng.integers(0, len(days), (n_boot, len(days)))
    means = e[picks].mean(axis=1)  # (n_boot, m)
    lows, highs = np.quantile(means, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return {
        mid: {"value": float(e[:, j].mean()), "low": float(lows[j]), "high": float(highs[j])}
        for j, mid in enumerate(panel.provider_ids)
    }


@dataclass(frozen=True)
class Nowcast:
    """The nowcast of the held-out days and how its congestion weight was chosen.

    Attributes
    ----------
    w_q
        The chosen weight (grid point minimising the training one-step squared error).
    at_bound
        ``"upper"`` / ``"lower"`` when ``w_q`` is a grid end (the data ask for a weaker /
        stronger price response than the bound allows), else ``""``.
    grid, train_sse
        The ``w_q`` grid and the training one-step squared error (tokens^2) at each point.
    informative_days
        Training days whose one-step forecast depends on ``w_q`` (a price changed).
    predicted
        Held-out flows ``(T_test, n, m)``.
    metrics
        ``{"train": ..., "test": ...}`` (one-step, :func:`metrics_summary`).
    elasticity
        Per model: ``{"value", "low", "high"}`` (bootstrap percentile interval) at the last
        training day.
    bootstrap_w_q
        The ``w_q`` chosen in each bootstrap resample.
    """

    w_q: float
    at_bound: str
    grid: np.ndarray
    train_sse: np.ndarray
    informative_days: tuple[int, ...]
    predicted: np.ndarray
    metrics: dict[str, dict[str, float]]
    elasticity: dict[str, dict[str, float]]
    bootstrap_w_q: np.ndarray
    memory: int = 1
    notes: list[str] = field(default_factory=list)

    def elasticity_rows(self) -> list[dict[str, Any]]:
        """One row per model: ``model``, ``elasticity``, ``low``, ``high``."""
        return [
            {"model": mid, "elasticity": e["value"], "low": e["low"], "high": e["high"]}
            for mid, e in self.elasticity.items()
        ]


def nowcast(
    panel: Panel,
    *,
    memory: int = 1,
    n_boot: int = 200,
    level: float = 0.9,
    rng: np.random.Generator | None = None,
    bounds: tuple[float, float] = W_Q_BOUNDS,
) -> Nowcast:
    """Nowcast the held-out days: values from the latest ``memory`` days, ``w_q`` from the window.

    Parameters
    ----------
    panel
        From :func:`~prillm.experiments.daily_volume_panel` (``info["n_train"]``, one user).
    memory
        Days the values and capacities are read from (1: yesterday).
    n_boot, level, rng
        Bootstrap resamples of the training days, the interval's coverage, and the generator
        (default ``np.random.default_rng(0)``).
    bounds
        The ``w_q`` grid's ends (the stated bound where the data do not identify it).

    Returns
    -------
    Nowcast

    Raises
    ------
    MarketError
        For a panel without held-out days, ``memory < 1``, bad bounds or ``level``.
    """
    n0 = _n_train(panel)
    if memory < 1 or memory >= n0:
        raise MarketError(f"memory: expected 1 <= memory < {n0} (training days), got {memory!r}")
    lo, hi = bounds
    if not 0 < lo < hi:
        raise MarketError(f"bounds: expected 0 < low < high, got {bounds!r}")
    if not 0 < level < 1:
        raise MarketError(f"level: expected a value in (0, 1), got {level!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    u = float(panel.info.get("utilisation", 0.8))
    decades = np.log10(hi / lo)
    grid = np.logspace(np.log10(lo), np.log10(hi), round(float(decades) * GRID_PER_DECADE) + 1)
    days = list(range(memory, n0))
    obs = panel.flows[days]
    per_day = np.stack(
        [
            ((one_step_forecasts(panel, days, w, memory, u) - obs) ** 2).sum(axis=(1, 2))
            for w in grid
        ]
    )  # (grid, days)
    sse = per_day.sum(axis=1)
    k_best = int(np.argmin(sse))
    w_q = float(grid[k_best])
    spread = np.ptp(per_day, axis=0) > 1e-9 * np.maximum(per_day.max(axis=0), 1.0)
    informative = tuple(int(d) for d, s in zip(days, spread, strict=True) if s)
    at_bound = "upper" if k_best == grid.size - 1 else "lower" if k_best == 0 else ""
    test_days = list(range(n0, panel.n_days))
    predicted = one_step_forecasts(panel, test_days, w_q, memory, u)
    train_pred = one_step_forecasts(panel, days, w_q, memory, u)
    metrics = {
        "train": metrics_summary(fit_metrics(train_pred, obs)),
        "test": metrics_summary(fit_metrics(predicted, panel.flows[test_days])),
    }
    boot = np.empty(n_boot)
    for r in range(n_boot):
        pick = rng.integers(0, len(days), len(days))
        boot[r] = grid[int(np.argmin(per_day[:, pick].sum(axis=1)))]
    base = elasticities(panel, n0 - 1, w_q, memory, u)
    q = [(1 - level) / 2, (1 + level) / 2]
    # every route used: the elasticity scales as 1 / w_q at a fixed state
    draws = base[None, :] * (w_q / boot[:, None])
    lows, highs = np.quantile(draws, q, axis=0)
    elasticity = {
        mid: {"value": float(base[j]), "low": float(lows[j]), "high": float(highs[j])}
        for j, mid in enumerate(panel.provider_ids)
    }
    notes = [
        f"w_q chosen on a grid over [{lo:g}, {hi:g}] ({grid.size} points) by the one-step "
        f"errors of {len(days)} training days; {len(informative)} of them (those with a price "
        f"change) depend on w_q at all"
    ]
    if at_bound:
        notes.append(
            f"w_q = {w_q:g} is the {at_bound} end of the stated bound: the data ask for "
            + ("no stronger" if at_bound == "lower" else "a weaker")
            + " price response than the bound allows; the elasticities are bounds, not estimates"
        )
    if not any(np.any(np.diff(panel.price[n0 - 1 :], axis=0) != 0, axis=0)):
        notes.append(
            "no price changes on the held-out days: their forecasts do not depend on w_q, so "
            "the held-out score tests the values' persistence, not the price response"
        )
    return Nowcast(
        w_q=w_q,
        at_bound=at_bound,
        grid=grid,
        train_sse=sse,
        informative_days=informative,
        predicted=predicted,
        metrics=metrics,
        elasticity=elasticity,
        bootstrap_w_q=boot,
        memory=memory,
        notes=notes,
    )
