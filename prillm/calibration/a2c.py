"""The A2C baseline: an advantage actor-critic agent that chooses the preference parameters.

Following the idea of learning game parameters with reinforcement learning (Liu et al., 2020,
cited by the paper as A2C), the agent acts in a small environment:

* state: the current free parameters ``u = (log w_q, log w_d, b)`` (relative to the start) and
  the log of the current scaled loss of Eq. (6);
* action: a step ``du`` drawn from a Gaussian policy ``N(mu(s), sigma^2)`` with
  ``mu(s) = max_step * tanh(MLP(s))`` and a learned ``log sigma``;
* reward: the negative scaled loss at the new parameters (one black-box evaluation: an exact
  equilibrium per training day);
* episodes of ``horizon`` steps from the start (Algorithm 1's point), ``n_envs`` of them in
  lock-step (the synchronous "A2C" variant), discounted returns, a learned value baseline
  (critic), an entropy bonus.

The environment keeps the log-weights in the box of :mod:`~prillm.calibration.params` (a step
that leaves it is projected back). It is a small, honest implementation: the returned preferences
are the best point the agent ever evaluated, so it never reports better than what it actually
found; the loss history is raw (the mean loss of each update's evaluations, not the best so far);
and the number of loss evaluations is the budget it is compared on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from prillm.calibration.fitting import check_number, finish, prepare
from prillm.calibration.lp_init import INIT_DAYS
from prillm.calibration.registry import checked_options
from prillm.calibration.result import CalibrationResult
from prillm.data.panel import Panel
from prillm.market import Preferences
from prillm.torch_equilibrium import torch_threads

__all__ = ["calibrate_a2c"]


def _mlp(n_in: int, n_out: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.Tanh(),
        nn.Linear(hidden, hidden),
        nn.Tanh(),
        nn.Linear(hidden, n_out),
    ).double()


@checked_options
def calibrate_a2c(
    panel: Panel,
    *,
    test: Panel | None = None,
    init: Preferences | None = None,
    init_days: int | None = INIT_DAYS,
    max_evaluations: int = 2000,
    horizon: int = 10,
    n_envs: int = 4,
    gamma: float = 0.9,
    lr: float = 3e-3,
    max_step: float = 0.2,
    entropy: float = 1e-3,
    hidden: int = 32,
    rng: np.random.Generator | int = 0,
    progress: Callable[[int, float], None] | None = None,
    check_identifiability: bool = True,
) -> CalibrationResult:
    """Learn the preferences with an advantage actor-critic agent (the A2C baseline).

    Parameters
    ----------
    panel, test, init, init_days
        Training days, held-out days, start (default: Algorithm 1 on ``init_days``
        representative days).
    max_evaluations
        Budget of loss evaluations (each one an equilibrium per training day).
    horizon, n_envs, gamma
        Episode length, parallel episodes per update, discount.
    lr, max_step, entropy, hidden
        Adam step, largest mean step in ``u``, entropy bonus, hidden units of the two MLPs.
    rng
        Seed or generator (network initialisation and action noise).
    progress
        Callback ``(update, mean loss of the update's evaluations)``.
    check_identifiability
        As for :func:`prillm.calibration.calibrate`.

    Returns
    -------
    CalibrationResult
        ``loss_history``: the loss at the start, then the mean loss of each update's
        evaluations (raw); ``info`` has ``evaluations``, ``updates`` and
        ``mean_episode_return``.

    Raises
    ------
    prillm.MarketError
        For bad options (naming the option), or an unknown keyword (naming it and listing the
        valid ones).
    """
    start = time.perf_counter()
    check_number("max_evaluations", max_evaluations, integer=True, minimum=1, strict=False)
    for name, value in (("horizon", horizon), ("n_envs", n_envs), ("hidden", hidden)):
        check_number(name, value, integer=True, minimum=1, strict=False)
    for name, value in (("lr", lr), ("max_step", max_step)):
        check_number(name, value)
    check_number("gamma", gamma, strict=False)
    check_number("entropy", entropy, strict=False)
    gen = np.random.default_rng(rng)
    seed = int(gen.integers(2**31 - 1))
    setup = prepare(panel, init=init, init_days=init_days, check=check_identifiability)
    param, objective = setup.param, setup.objective
    u0 = param.encode(setup.init)
    p = u0.size
    loss0 = objective.value(u0)
    best = (loss0, u0.copy())
    history = [loss0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        actor, critic = _mlp(p + 1, p, hidden), _mlp(p + 1, 1, hidden)
        log_std = nn.Parameter(torch.full((p,), np.log(max_step / 2), dtype=torch.float64))
    noise = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([*actor.parameters(), *critic.parameters(), log_std], lr=lr)
    evals = 1
    updates = 0
    returns: list[float] = []

    def state(u: np.ndarray, loss: float) -> torch.Tensor:
        return torch.tensor(np.r_[u - u0, np.log(max(loss, 1e-300) / loss0)], dtype=torch.float64)

    with torch_threads(1):
        while evals + n_envs * horizon <= max_evaluations:
            us = [u0.copy() for _ in range(n_envs)]
            losses = [loss0] * n_envs
            log_probs, values, rewards, entropies = [], [], [], []
            update_losses: list[float] = []
            for _ in range(horizon):
                s = torch.stack([state(u, lo) for u, lo in zip(us, losses, strict=True)])
                mean = max_step * torch.tanh(actor(s))
                std = torch.exp(log_std).expand_as(mean)
                action = mean + std * torch.randn(mean.shape, generator=noise, dtype=torch.float64)
                dist = torch.distributions.Normal(mean, std)
                log_probs.append(dist.log_prob(action.detach()).sum(dim=1))
                entropies.append(dist.entropy().sum(dim=1))
                values.append(critic(s)[:, 0])
                step = action.detach().numpy()
                r = np.zeros(n_envs)
                for e in range(n_envs):
                    us[e] = param.project(us[e] + step[e])
                    losses[e] = objective.value(us[e])
                    update_losses.append(losses[e])
                    evals += 1
                    r[e] = -losses[e] / loss0
                    if losses[e] < best[0]:
                        best = (losses[e], us[e].copy())
                rewards.append(torch.tensor(r, dtype=torch.float64))
            ret = torch.zeros(n_envs, dtype=torch.float64)
            returns_t = []
            for r in reversed(rewards):
                ret = r + gamma * ret
                returns_t.append(ret)
            returns_t.reverse()
            g = torch.stack(returns_t)
            v = torch.stack(values)
            adv = g - v
            loss_pi = -(torch.stack(log_probs) * adv.detach()).mean()
            loss_v = (adv**2).mean()
            loss_h = -entropy * torch.stack(entropies).mean()
            opt.zero_grad()
            (loss_pi + 0.5 * loss_v + loss_h).backward()
            opt.step()
            updates += 1
            returns.append(float(g[0].mean()))
            history.append(float(np.mean(update_losses)))
            if progress is not None:
                progress(updates, history[-1])
    wall = time.perf_counter() - start
    return finish(
        "a2c",
        setup,
        best[1],
        float(best[0]),
        history,
        test,
        wall,
        evals,
        f"{updates} updates (budget {max_evaluations} evaluations)",
        updates=updates,
        mean_episode_return=float(np.mean(returns)) if returns else float("nan"),
    )
