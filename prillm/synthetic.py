"""Random markets for tests, benchmarks and exercises (seeded, never global randomness)."""

from __future__ import annotations

import numpy as np

from prillm.market import Market, Preferences

__all__ = ["demo_market", "plausible_market", "random_market", "sparse_market"]


def random_market(
    rng: np.random.Generator,
    n: int,
    m: int,
    *,
    demand_scale: float = 1e8,
    tightness: float = 0.5,
    zero_demand: float = 0.0,
) -> tuple[Market, Preferences]:
    """A random market and preferences in which congestion binds.

    Parameters
    ----------
    rng
        The random generator (the only source of randomness).
    n, m
        Number of users and providers.
    demand_scale
        Demands are uniform in ``[0.1, 1] * demand_scale`` tokens.
    tightness
        Capacities are ``U[0.3, 1.5] * tightness`` times the fair share ``sum(D) / m``; small
        values make congestion dominate (and leave many routes unused), large values make the
        game nearly linear.
    zero_demand
        Probability that a user has no demand at all.

    Returns
    -------
    market, prefs
        Prices in ``U[0.05, 15]`` USD per million tokens, latencies in ``U[0.1, 3]`` s, ``w_q`` in
        ``U[0.5, 5]``, ``w_d`` in ``U[0, 2]``, perceived values ``b`` in ``U[0, 10]``.

    Examples
    --------
    >>> market, prefs = random_market(np.random.default_rng(0), 3, 2)
    >>> market.shape
    (3, 2)
    """
    return _draw(rng, n, m, demand_scale, zero_demand, (0.3, 1.5, tightness), 5.0)


def sparse_market(
    rng: np.random.Generator, n: int, m: int, *, demand_scale: float = 1e8
) -> tuple[Market, Preferences]:
    """A random market in which most routes stay unused, as in real markets.

    Prices spread over ``U[0.05, 15]`` USD per million tokens and perceived values over
    ``U[0, 10]``, so that each user finds only a few providers worth their price; capacities
    are ``U[0.5, 3]`` times the fair share ``sum(D) / m`` and congestion is mild
    (``w_q`` in ``U[0.5, 2]``, ``w_d`` in ``U[0, 2]``, latencies in ``U[0.1, 3]`` s). At the
    equilibrium about 90 % of the routes are unused at 20 x 20 and 97 % at 200 x 100 (medians
    over seeds; a few draws are denser).

    ``rng``, ``n``, ``m`` and ``demand_scale`` are as in :func:`random_market`, whose other
    draws this shares.

    Examples
    --------
    >>> from prillm import solve_equilibrium
    >>> market, prefs = sparse_market(np.random.default_rng(1), 50, 50)
    >>> bool((~solve_equilibrium(market, prefs).support).mean() > 0.8)
    True
    """
    return _draw(rng, n, m, demand_scale, None, (0.5, 3.0, 1.0), 2.0)


def _draw(
    rng: np.random.Generator,
    n: int,
    m: int,
    demand_scale: float,
    zero_demand: float | None,
    capacity: tuple[float, float, float],
    w_q_max: float,
) -> tuple[Market, Preferences]:
    """The draws of :func:`random_market` and :func:`sparse_market`, in this order.

    Capacities are ``U[lo, hi] * factor`` fair shares, ``capacity = (lo, hi, factor)``.
    """
    demand = rng.uniform(0.1, 1.0, n) * demand_scale
    if zero_demand is not None:
        demand[rng.random(n) < zero_demand] = 0.0
    total = float(demand.sum()) if zero_demand is None else max(float(demand.sum()), demand_scale)
    price = rng.uniform(0.05, 15.0, m)
    cap = rng.uniform(capacity[0], capacity[1], m) * capacity[2] * total / m
    latency = rng.uniform(0.1, 3.0, (n, m))
    prefs = Preferences(
        w_q=float(rng.uniform(0.5, w_q_max)),
        w_d=float(rng.uniform(0.0, 2.0)),
        b=rng.uniform(0.0, 10.0, m),
    )
    return Market(demand=demand, price=price, capacity=cap, latency=latency), prefs


def plausible_market(rng: np.random.Generator, n: int, m: int) -> tuple[Market, Preferences]:
    """A random market with OpenRouter-like magnitudes, used by the book's worked examples.

    Daily demands log-normal around 1e9 tokens, list prices log-uniform between 0.05 and 10 USD
    per million tokens (rounded to 0.1 cent), capacities of the order of the total demand over
    ``m``, latencies in ``U[0.2, 2]`` s. Users value expensive models more (``b_j`` grows with
    ``p_j``), so that no provider wins on price alone: ``w_q = 2``, ``w_d = 0.5``.

    Examples
    --------
    >>> market, prefs = plausible_market(np.random.default_rng(0), 4, 3)
    >>> market.shape, prefs.w_q
    ((4, 3), 2.0)
    """
    demand = rng.lognormal(mean=np.log(1e9), sigma=0.8, size=n)
    price = np.round(np.exp(rng.uniform(np.log(0.05), np.log(10.0), size=m)), 3)
    capacity = demand.sum() / m * rng.uniform(0.5, 2.0, size=m)
    latency = rng.uniform(0.2, 2.0, size=(n, m))
    market = Market(demand=demand, price=price, capacity=capacity, latency=latency)
    prefs = Preferences(w_q=2.0, w_d=0.5, b=0.8 * price + rng.uniform(0.0, 1.5, size=m))
    return market, prefs


def demo_market() -> tuple[Market, Preferences]:
    """A small built-in market (4 apps, 3 providers) for ``prillm demo``, the README and the book.

    Examples
    --------
    >>> market, prefs = demo_market()
    >>> market.provider_ids
    ('premium-llm', 'mid-llm', 'budget-llm')
    """
    market = Market(
        demand=[4.0e9, 2.5e9, 1.0e9, 0.5e9],
        price=[3.0, 0.8, 0.3],
        capacity=[6.0e9, 4.0e9, 2.0e9],
        latency=[[0.9, 0.5, 0.4], [1.1, 0.6, 0.5], [0.8, 0.7, 0.3], [1.0, 0.4, 0.6]],
        provider_ids=["premium-llm", "mid-llm", "budget-llm"],
        user_ids=["coding-agent", "chat-app", "translator", "summariser"],
    )
    prefs = Preferences(
        w_q=2.0, w_d=1.0, b=[4.0, 1.5, 0.0], provider_ids=["premium-llm", "mid-llm", "budget-llm"]
    )
    return market, prefs
