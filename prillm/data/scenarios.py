"""Scenario augmentation: perturb the rivals of a target provider in a daily market snapshot.

The paper trains its aggregation network on "over 2,000 market scenarios constructed through
data augmentation. Each scenario is derived from a real daily market snapshot, with perturbations
applied to the attributes of rivals" (Section 6, Dataset). :func:`augment_scenarios` does exactly
that, reproducibly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from prillm._validation import MarketError
from prillm.market import Market

__all__ = ["augment_scenarios"]


def augment_scenarios(
    market: Market,
    target: str | int,
    n: int,
    rng: np.random.Generator | int | None = None,
    *,
    price_range: tuple[float, float] = (0.5, 1.5),
    capacity_range: tuple[float, float] = (0.5, 1.5),
    latency_range: tuple[float, float] = (0.8, 1.25),
) -> list[Market]:
    """Markets in which every rival's price, capacity and latency are scaled at random.

    For each scenario and each rival ``j`` (every provider but ``target``), three independent
    factors are drawn uniformly from the given ranges and multiply ``p_j``, ``alpha_j`` and the
    latency column ``d_{.j}``. The target's attributes, the users and their demand are left
    unchanged; ``observed_flows`` are dropped (they belong to the original snapshot).

    Parameters
    ----------
    market
        The daily snapshot.
    target
        Id (or position) of the target provider ``s``.
    n
        Number of scenarios (>= 0).
    rng
        A ``numpy.random.Generator`` or an integer seed (``None`` means seed 0, so the output is
        reproducible unless a generator is passed).
    price_range, capacity_range, latency_range
        ``(low, high)`` multiplicative factors, ``0 <= low <= high`` (``0 < low`` for capacity).

    Returns
    -------
    list of prillm.Market
        ``n`` perturbed markets with the same ids as ``market``.

    Raises
    ------
    prillm.MarketError
        For an unknown target, a negative or non-integer ``n``, or an invalid range.

    Examples
    --------
    >>> mkt = Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6], latency=0.5)
    >>> out = augment_scenarios(mkt, "p0", 3, rng=0)
    >>> len(out), all(m.price[0] == 1.0 for m in out)
    (3, True)
    """
    s = market.provider_index(target)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise MarketError(f"n: expected a non-negative integer, got {n!r}")
    lo_p, hi_p = _check_range("price_range", price_range, allow_zero=True)
    lo_c, hi_c = _check_range("capacity_range", capacity_range, allow_zero=False)
    lo_d, hi_d = _check_range("latency_range", latency_range, allow_zero=True)
    gen = _generator(rng)
    m = market.n_providers
    rivals = np.arange(m) != s
    out = []
    for _ in range(int(n)):
        fp = np.ones(m)
        fc = np.ones(m)
        fd = np.ones(m)
        k = int(rivals.sum())
        fp[rivals] = gen.uniform(lo_p, hi_p, k)
        fc[rivals] = gen.uniform(lo_c, hi_c, k)
        fd[rivals] = gen.uniform(lo_d, hi_d, k)
        out.append(
            market.replace(
                price=market.price * fp,
                capacity=market.capacity * fc,
                latency=market.latency * fd[None, :],
                observed_flows=None,
            )
        )
    return out


def _check_range(name: str, value: Any, *, allow_zero: bool) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise MarketError(f"{name}: expected (low, high), got {value!r}") from None
    if (
        not (math.isfinite(lo) and math.isfinite(hi))
        or lo > hi
        or lo < 0
        or (not allow_zero and lo == 0)
    ):
        bound = "0 <= low <= high" if allow_zero else "0 < low <= high"
        raise MarketError(f"{name}: expected finite {bound}, got {value!r}")
    return lo, hi


def _generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        raise MarketError(f"rng: expected a numpy Generator or an integer seed, got {rng!r}")
    return np.random.default_rng(int(rng))
