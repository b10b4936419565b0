"""The random design of a planted panel: days of any size drawn around a given truth.

Each panel draws per-provider base prices that keep every provider competitive (``0.2 + b_j -
min_k b_k`` plus U[0, 1] USD per 1M tokens: no provider wins on price or value alone), per-user
base demands (log-uniform over 5e7-2e9 tokens), capacities around the fair share (0.5-2x the
total base demand over ``m``), base latencies (U[0.3, 2.5] s) and per-user latency factors
(U[0.8, 1.25]); each day then moves prices by a log-normal factor (sd 0.2, independent across
days: prices that move identify the scale of the weights), capacities (sd 0.1), every
latency (sd 0.15) and every demand (sd 0.2). User ids are ``app0, app1, ...`` and provider ids
``llm0, llm1, ...``. The flows are planted by :func:`prillm.data.generate_planted_panel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from prillm._validation import MarketError, check_integer
from prillm.data.generate import DesignDraw
from prillm.data.panel import aligned_b
from prillm.market import Preferences

__all__ = ["RandomDesign"]


@dataclass(frozen=True)
class RandomDesign:
    """Random days around planted preferences (see the module docstring).

    Parameters
    ----------
    n_users, n_providers
        Market size.
    truth
        The planted preferences (``b`` a scalar, one value per provider, or keyed by the ids
        ``llm0, llm1, ...``).

    Examples
    --------
    >>> from prillm import Preferences
    >>> from prillm.data import generate_planted_panel
    >>> truth = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0])
    >>> panel = generate_planted_panel(seed=0, n_days=4, design=RandomDesign(3, 3, truth))
    >>> panel.shape, panel.provider_ids
    ((4, 3, 3), ('llm0', 'llm1', 'llm2'))
    """

    n_users: int
    n_providers: int
    truth: Preferences
    name = "random"

    def __post_init__(self) -> None:
        check_integer("n_users", self.n_users, 1)
        check_integer("n_providers", self.n_providers, 1)
        if not isinstance(self.truth, Preferences):
            raise MarketError(f"truth: expected Preferences, got {type(self.truth).__name__}")

    def draw(self, rng: np.random.Generator, dates: tuple[str, ...]) -> DesignDraw:
        """Draw the days (the module docstring's construction, in that order from ``rng``)."""
        n, m, t_ = self.n_users, self.n_providers, len(dates)
        providers = tuple(f"llm{j}" for j in range(m))
        users = tuple(f"app{i}" for i in range(n))
        b = aligned_b(self.truth, providers)
        base_price = 0.2 + (b - b.min()) + rng.uniform(0.0, 1.0, m)
        base_demand = np.exp(rng.uniform(np.log(5e7), np.log(2e9), n))
        base_capacity = np.exp(rng.uniform(np.log(0.5), np.log(2.0), m)) * base_demand.sum() / m
        base_latency = rng.uniform(0.3, 2.5, m)
        user_factor = rng.uniform(0.8, 1.25, (n, 1))
        price = base_price * np.exp(0.2 * rng.standard_normal((t_, m)))
        capacity = base_capacity * np.exp(0.1 * rng.standard_normal((t_, m)))
        latency = base_latency * user_factor * np.exp(0.15 * rng.standard_normal((t_, n, m)))
        demand = base_demand * np.exp(0.2 * rng.standard_normal((t_, n)))
        truth = self.truth.replace(b=b, provider_ids=providers)
        parameters: dict[str, Any] = {
            "n_users": n,
            "n_providers": m,
            "truth": truth.to_dict(),
        }
        return DesignDraw(
            provider_ids=providers,
            user_ids=users,
            demand=demand,
            price=price,
            capacity=capacity,
            truth=truth,
            latency=latency,
            parameters=parameters,
        )
