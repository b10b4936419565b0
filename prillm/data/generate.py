"""The generator of planted panels: days drawn by a design, flows from planted preferences.

:func:`generate_planted_panel` is the one way prillm makes a panel whose truth is known. A
*design* draws the days' inputs (who the users and providers are, demand, prices, capacities,
latencies) and the planted preferences; the generator then solves each day's certified
equilibrium (Eq. 13) under those preferences — the exact flows — and observes them through
multiplicative log-normal noise. Two designs ship:

- :class:`~prillm.data.openrouter_design.OpenRouterDesign` (the default): OpenRouter-shaped days
  built from the shipped public figures (the shipped panel, ``DATASHEET.md``);
- :class:`~prillm.data.random_design.RandomDesign`: random days of any size around a given truth
  (tests, exercises).

Randomness comes from one seed: ``numpy.random.SeedSequence(seed).spawn(2)`` gives the stream
of the design and the stream of the noise, so the noise factors can be drawn again for any day
(:func:`noise_factors`) — segments and subsets keep each day's noise.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from prillm._validation import MarketError, check_integer
from prillm.data.panel import Panel
from prillm.equilibrium import solve_equilibrium
from prillm.market import Market, Preferences

__all__ = [
    "DEFAULT_PANEL_SEED",
    "DEFAULT_START",
    "DesignDraw",
    "PanelDesign",
    "generate_planted_panel",
    "noise_factors",
]

DEFAULT_PANEL_SEED = 0
#: First panel day: the paper's app data starts 2025-04-13; 100 days from 04-15 end on 07-23,
#: the paper's last day.
DEFAULT_START = "2025-04-15"
NOISE_KIND = "lognormal-multiplicative"


@dataclass(frozen=True)
class DesignDraw:
    """What a design draws: the inputs of every day and the planted preferences.

    ``latency_factors`` (``base (m,), per_user (n,), per_day (T, m)``) replaces ``latency``
    when the latency has that structure. ``segments`` computes the segments from the exact
    flows once they are known. ``parameters`` and ``info`` are recorded in the panel's ``info``.
    """

    provider_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    demand: np.ndarray
    price: np.ndarray
    capacity: np.ndarray
    truth: Preferences
    latency: np.ndarray | None = None
    latency_factors: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    user_categories: dict[str, str] | None = None
    segments: Callable[[np.ndarray], tuple[dict, dict]] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class PanelDesign(Protocol):
    """A design: ``name`` and ``draw(rng, dates) -> DesignDraw`` (all randomness from ``rng``)."""

    name: str

    def draw(self, rng: np.random.Generator, dates: tuple[str, ...]) -> DesignDraw:
        """Draw the days' inputs and the planted preferences."""
        ...


def generate_planted_panel(
    seed: int = DEFAULT_PANEL_SEED,
    n_days: int = 100,
    *,
    design: PanelDesign | None = None,
    noise_sigma: float = 0.2,
    start: str = DEFAULT_START,
    **options: Any,
) -> Panel:
    """A panel with planted preferences: exact equilibria of drawn days, observed with noise.

    Parameters
    ----------
    seed
        Seeds every random draw (``numpy.random.SeedSequence(seed)``: one stream for the design,
        one for the observation noise).
    n_days
        Number of consecutive days from ``start``.
    design
        What the days look like (default: ``OpenRouterDesign(**options)``, the shipped panel's).
    noise_sigma
        Sigma of the multiplicative noise ``exp(sigma z - sigma^2 / 2)`` on every flow (mean
        one; zero flows stay zero; demand noise-free). 0 gives observed = exact.
    start
        First day (ISO date).
    **options
        Parameters of the default :class:`~prillm.data.openrouter_design.OpenRouterDesign`
        (``n_providers``, ``n_users``, ``w_q``, ``w_d``, ``price_sigma``, ...).

    Returns
    -------
    Panel
        ``name="full"``, with ``truth``, ``exact_flows``, ``dates``, ``noise``, ``seed`` and
        ``info`` (``"parameters"`` and the design's records); ``flow_totals="noisy"`` unless
        ``noise_sigma`` is 0.

    Raises
    ------
    prillm.MarketError
        For invalid arguments (an unknown option is named with the list of valid ones).

    References
    ----------
    Eq. (1) user cost, Eq. (13) equilibrium; Section 6 and Appendix 9.1 of the paper.

    Examples
    --------
    >>> panel = generate_planted_panel(seed=1, n_days=3, n_providers=5, n_users=6)
    >>> panel.shape, panel.truth.w_q
    ((3, 6, 5), 1.2)
    """
    check_integer("seed", seed, 0)
    check_integer("n_days", n_days, 1)
    _check_float("noise_sigma", noise_sigma)
    try:
        first = _dt.date.fromisoformat(start)
    except (TypeError, ValueError):
        raise MarketError(f"start: expected a date YYYY-MM-DD, got {start!r}") from None
    if design is None:
        from prillm.data.openrouter_design import OpenRouterDesign

        design = _make(OpenRouterDesign, options)
    elif options:
        raise MarketError(
            f"{sorted(options)[0]}: an option of the default design; pass it to the design given"
        )
    dates = tuple((first + _dt.timedelta(days=k)).isoformat() for k in range(n_days))
    world_ss, _ = np.random.SeedSequence(seed).spawn(2)
    draw = design.draw(np.random.default_rng(world_ss), dates)
    t_, n, m = n_days, len(draw.user_ids), len(draw.provider_ids)
    noise = {
        "kind": NOISE_KIND,
        "sigma": float(noise_sigma),
        "mean_one": True,
        "seed": int(seed),
        "stream": "numpy.random.SeedSequence(seed).spawn(2)[1], standard_normal((T, n, m))",
        "formula": "observed = exact * exp(sigma * z - sigma**2 / 2); zeros stay zero",
        "demand": "noise-free (app totals reported exactly)",
    }
    factors = noise_factors(noise, (t_, n, m))
    latency = draw.latency
    if draw.latency_factors is not None:
        from prillm.data.panel import latency_from_factors

        latency = latency_from_factors(*draw.latency_factors)
    assert latency is not None
    capacity = np.broadcast_to(draw.capacity, (t_, m))
    exact = np.empty((t_, n, m))
    prev = None
    for t in range(t_):
        mkt = Market(
            demand=draw.demand[t],
            price=draw.price[t],
            capacity=capacity[t],
            latency=latency[t],
            provider_ids=draw.provider_ids,
            user_ids=draw.user_ids,
        )
        eq = solve_equilibrium(mkt, draw.truth, warm_start=prev)
        prev = eq
        exact[t] = eq.flows
    segments, segment_users = draw.segments(exact) if draw.segments else (None, None)
    info = {
        "generator": "prillm.data.generate_planted_panel",
        "parameters": {
            "design": design.name,
            "seed": seed,
            "n_days": n_days,
            "start": start,
            "noise_sigma": noise_sigma,
            **draw.parameters,
        },
        **draw.info,
    }
    return Panel(
        price=draw.price,
        capacity=capacity,
        latency=latency,
        demand=draw.demand,
        flows=exact * factors,
        provider_ids=draw.provider_ids,
        user_ids=draw.user_ids,
        truth=draw.truth,
        exact_flows=exact,
        dates=dates,
        flow_totals="noisy" if noise_sigma > 0 else "match",
        noise=noise,
        segments=segments,
        segment_users=segment_users,
        user_categories=draw.user_categories,
        seed=int(seed),
        info=info,
        name="full",
        latency_factors=draw.latency_factors,
    )


def noise_factors(noise: Mapping[str, Any], shape: tuple[int, int, int]) -> np.ndarray:
    """The multiplicative observation-noise factors of a panel, shape ``(T, n, m)``.

    ``exp(sigma * z - sigma^2 / 2)`` with ``z`` standard normal from the panel's noise stream
    (``numpy.random.SeedSequence(seed).spawn(2)[1]``, drawn in (day, user, provider) order),
    so the factors have mean one and are the same whenever they are recomputed. A subset of a
    generated panel records which days of the draw it holds (``noise["first_day"]`` or
    ``noise["days"]``, set by :meth:`Panel.subset`).

    Raises
    ------
    prillm.MarketError
        For a noise record that is not of this kind.
    """
    if noise.get("kind") != NOISE_KIND:
        raise MarketError(f"noise.kind: unsupported noise {noise.get('kind')!r}")
    sigma = float(noise["sigma"])
    if "days" in noise:
        days = np.asarray(noise["days"], dtype=int)
    else:
        first = int(noise.get("first_day", 0))
        days = np.arange(first, first + shape[0])
    if days.shape != (shape[0],):
        raise MarketError(f"noise.days: expected {shape[0]} days, got {days.size}")
    stream = np.random.SeedSequence(int(noise["seed"])).spawn(2)[1]
    z = np.random.default_rng(stream).standard_normal((int(days.max()) + 1, *shape[1:]))
    return np.exp(sigma * z[days] - 0.5 * sigma**2)


def _make(cls: Any, options: Mapping[str, Any]) -> Any:
    import dataclasses

    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise MarketError(f"{unknown[0]}: unknown option; valid: {', '.join(valid)}")
    return cls(**options)


def _check_float(name: str, value: object, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise MarketError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        raise MarketError(f"{name}: must be {'> 0' if positive else '>= 0'}, got {value!r}")
