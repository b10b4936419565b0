"""Random and degenerate markets for the tests (hypothesis strategies and plain generators), and
the recorded markets of ``tests/stress_markets/``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from prillm import Market, Preferences
from prillm.synthetic import random_market

__all__ = ["STRESS_MARKETS", "markets", "random_market", "stress_market"]

#: Market files (the library's own format, floats at full precision) of markets drawn by
#: ``scripts/stress_equilibrium.py`` on which a method once answered wrongly or raised; each
#: test that reads one says what happened there.
STRESS_MARKETS = Path(__file__).with_name("stress_markets")


def stress_market(name: str) -> tuple[Market, Preferences]:
    """The market and preferences of ``tests/stress_markets/<name>.json``."""
    path = STRESS_MARKETS / f"{name}.json"
    prefs = Market.preferences_from_json(path)
    assert prefs is not None, f"{path} holds no preferences"
    return Market.from_json(path), prefs


@st.composite
def markets(
    draw: st.DrawFn, max_users: int = 6, max_providers: int = 6, extreme: bool = True
) -> tuple[Market, Preferences]:
    """Random markets, including degenerate ones (ties, duplicates, zero demand, wide scales)."""
    n = draw(st.integers(1, max_users))
    m = draw(st.integers(1, max_providers))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = 10.0 ** draw(st.integers(3, 13) if extreme else st.integers(5, 9))
    market, prefs = random_market(
        rng,
        n,
        m,
        demand_scale=scale,
        tightness=draw(st.sampled_from([0.05, 0.5, 2.0, 50.0])),
        zero_demand=draw(st.sampled_from([0.0, 0.0, 0.3])),
    )
    kind = draw(st.sampled_from(["plain", "ties", "dup_providers", "dup_users", "wide_prices"]))
    price = np.array(market.price)
    latency = np.array(market.latency)
    capacity = np.array(market.capacity)
    demand = np.array(market.demand)
    b = np.array(prefs.b)
    if kind == "ties":  # every provider looks the same to every user
        price[:] = price[0]
        latency[:] = latency[0, 0]
        b[:] = b[0]
    elif kind == "dup_providers" and m >= 2:
        price[1] = price[0]
        latency[:, 1] = latency[:, 0]
        capacity[1] = capacity[0]
        b[1] = b[0]
    elif kind == "dup_users" and n >= 2:
        demand[1] = demand[0]
        latency[1] = latency[0]
    elif kind == "wide_prices":
        price = 10.0 ** rng.uniform(-3, 2, m)
    market = market.replace(price=price, latency=latency, capacity=capacity, demand=demand)
    return market, prefs.replace(b=b)
