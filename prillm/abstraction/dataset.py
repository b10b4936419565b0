"""Training scenarios for the deep aggregation network, split by base day.

The paper trains on "over 2,000 market scenarios constructed through data augmentation. Each
scenario is derived from a real daily market snapshot, with perturbations applied to the
attributes of rivals" (Section 6, Dataset), with "one provider randomly selected as the target".
:func:`build_scenarios` does that on the data ``prillm`` ships.

How a scenario is built
-----------------------
1. **Base markets.** The shipped planted panel (:func:`prillm.data.load_panel`: 20 models x 20
   apps x 100 days, 2025-04-15..07-23) gives one market per day for each *family*:

   * the four segments of paper Table 1 (:meth:`~prillm.data.Panel.segment`):
     ``Premium`` (3 models, 19 apps), ``Economy`` (17 x 20), ``Coding`` (9 x 8),
     ``Translation`` (7 x 3);
   * the Economy markets of paper Section 6.2 / Table 3: the 8 Economy models with the most
     exact traffic over the 100 days (``Economy-8``, 7 rivals) and the 6 with the most
     (``Economy-6``, 5 rivals). Each app's demand becomes its exact flow to those models, so
     the flows stay an exact equilibrium of the restricted market (the argument of
     :meth:`~prillm.data.Panel.segment` for price segments).

   The preferences are the panel's planted ones (restricted to the family's models).
2. **Target.** For every scenario one of the base market's providers is drawn uniformly at random.
3. **Perturbation.** :func:`prillm.data.augment_scenarios` multiplies every rival's price,
   capacity and latency by independent uniform factors (default ranges: price and capacity
   ``[0.5, 1.5]``, latency ``[0.8, 1.25]``); the target, the apps and their demand are left as
   they were.

:func:`scale_demand` is a fourth, optional step (ours, not the paper's): one uniform factor per
scenario on the whole demand. The training recipe (:mod:`prillm.abstraction.recipe`) applies it
to the training scenarios and to a copy of the validation ones; :func:`build_scenarios` itself
never does, so every split, the test split included, is what steps 1-3 give.

The base markets are visited day by day, family by family within a day, the days in a random
order (so that any number of scenarios covers the three splits in proportion); scenario ``i``
uses base market ``i mod (families x days)`` of that order. Every random draw (the order of the
days, the targets and the perturbations) comes from one ``numpy.random.Generator`` seeded with
``seed``.

Which numbers are facts
-----------------------
The panel's list prices are public OpenRouter list prices (its *effective* prices are those
times a generated mean-one factor), its token volumes set the capacity and demand scales, and
its throughputs and latencies are public medians where measured; the app x model flows, the
preferences and the noise are generated (``prillm/data/DATASHEET.md``). The perturbations of
step 3 are generated. No scenario is observed data.

Splits
------
By base day, chronologically: days ``[0, 70)`` train, ``[70, 85)`` validation, ``[85, 100)``
test (:data:`SPLIT_DAYS`). Every scenario of a day (all families, all targets) lands in that
day's split, so no test scenario shares a day with a training one.

References
----------
Paper Section 6 (Dataset, Configurations), Section 6.2 (8-LLM Economy market with 5 and 7
rivals), Table 1 (segments).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from prillm.data import augment_scenarios, load_panel
from prillm.data.panel import Panel
from prillm.market import Market, MarketError, Preferences

__all__ = [
    "FAMILIES",
    "SPLITS",
    "SPLIT_DAYS",
    "Scenario",
    "base_markets",
    "build_scenarios",
    "scale_demand",
    "split_of_day",
]

#: Market families: the four segments of paper Table 1 and the 8- and 6-model Economy markets.
FAMILIES: tuple[str, ...] = (
    "Premium",
    "Economy",
    "Coding",
    "Translation",
    "Economy-8",
    "Economy-6",
)
SPLITS = ("train", "validation", "test")
#: First day of the validation and of the test split (days are 0-based, of 100).
SPLIT_DAYS = (70, 85)


@dataclass(frozen=True, eq=False)
class Scenario:
    """One training / evaluation scenario.

    Attributes
    ----------
    market, prefs
        The perturbed market and the (planted) preferences.
    target
        The target's provider id.
    family
        One of :data:`FAMILIES`.
    day, date
        The base day (0-based index in the panel) and its date.
    split
        ``"train"``, ``"validation"`` or ``"test"`` (by :func:`split_of_day`).
    """

    market: Market
    prefs: Preferences
    target: str
    family: str
    day: int
    date: str
    split: str

    @property
    def n_rivals(self) -> int:
        """Number of rivals of the target."""
        return self.market.n_providers - 1


def split_of_day(day: int, n_days: int = 100, split_days: Sequence[int] = SPLIT_DAYS) -> str:
    """The split of a base day: ``train`` before ``split_days[0]``, ``test`` from ``[1]``.

    For a panel of another length the boundaries scale with it (70 % / 15 % / 15 %).
    """
    lo, hi = split_days
    if n_days != 100:
        lo, hi = round(n_days * lo / 100), round(n_days * hi / 100)
    return "train" if day < lo else "validation" if day < hi else "test"


def _restrict(panel: Panel, n_models: int) -> tuple[list[Market], Preferences, tuple[str, ...]]:
    """The ``n_models`` models of a price-segment panel with the most exact traffic."""
    volume = panel.exact_flows.sum(axis=(0, 1))
    cols = sorted(np.argsort(-volume, kind="stable")[:n_models].tolist())
    ids = tuple(panel.provider_ids[j] for j in cols)
    exact = panel.exact_flows[:, :, cols]
    rows = np.flatnonzero(exact.sum(axis=(0, 2)) > 0)
    markets = []
    for t, mkt in enumerate(panel.markets):
        markets.append(
            Market(
                demand=exact[t][rows].sum(axis=1),
                price=mkt.price[cols],
                capacity=mkt.capacity[cols],
                latency=mkt.latency[np.ix_(rows, cols)],
                provider_ids=ids,
                user_ids=[panel.user_ids[i] for i in rows],
            )
        )
    prefs = panel.truth
    lookup = dict(zip(prefs.provider_ids or (), prefs.b, strict=True))
    return markets, prefs.replace(b=[lookup[p] for p in ids], provider_ids=list(ids)), ids


def base_markets(
    panel: Panel | None = None, families: Sequence[str] = FAMILIES
) -> dict[str, tuple[list[Market], Preferences]]:
    """The daily base markets of each family and its preferences (see the module docstring).

    Raises
    ------
    prillm.MarketError
        For an unknown family.
    """
    panel = load_panel() if panel is None else panel
    out: dict[str, tuple[list[Market], Preferences]] = {}
    economy = None
    for fam in families:
        if fam in panel.segments:
            seg = panel.segment(fam)
            if fam == "Economy":
                economy = seg
            markets = [m.replace(observed_flows=None) for m in seg.markets]
            out[fam] = (markets, seg.truth)
        elif fam in ("Economy-8", "Economy-6"):
            if economy is None:
                economy = panel.segment("Economy")
            markets, prefs, _ = _restrict(economy, int(fam.split("-")[1]))
            out[fam] = (markets, prefs)
        else:
            raise MarketError(f"families: unknown family {fam!r}; choose from {FAMILIES}")
    return out


def build_scenarios(
    n: int,
    seed: int = 0,
    *,
    panel: Panel | None = None,
    families: Sequence[str] = FAMILIES,
    days: Sequence[int] | None = None,
) -> list[Scenario]:
    """``n`` seeded scenarios spread evenly over the base markets, with their splits.

    Parameters
    ----------
    n
        Number of scenarios (>= 1).
    seed
        Seeds every draw (targets and perturbations).
    panel
        The calibration panel (default: the shipped one).
    families
        Market families (default :data:`FAMILIES`).
    days
        Base days to use (default: all); the split of each scenario is its day's.

    Returns
    -------
    list of Scenario
        In construction order (days in a seeded random order, family by family, cycling).

    Raises
    ------
    prillm.MarketError
        For ``n < 1``, a negative or non-integer seed, an unknown family or an out-of-range day.

    Examples
    --------
    >>> sc = build_scenarios(12, seed=0, families=["Translation"], days=[0, 80, 90])
    >>> sorted({s.split for s in sc}), sc[0].market.shape
    (['test', 'train', 'validation'], (3, 7))
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise MarketError(f"n: expected a positive number of scenarios, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise MarketError(f"seed: expected a non-negative integer, got {seed!r}")
    panel = load_panel() if panel is None else panel
    bases = base_markets(panel, families)
    n_days = panel.n_days
    day_list = list(range(n_days)) if days is None else [int(d) for d in days]
    for d in day_list:
        if not 0 <= d < n_days:
            raise MarketError(f"days: day {d} out of range for {n_days} days")
    rng = np.random.default_rng(int(seed))
    day_list = [day_list[k] for k in rng.permutation(len(day_list))]
    order = [(d, fam) for d in day_list for fam in bases]
    out = []
    for i in range(int(n)):
        day, fam = order[i % len(order)]
        markets, prefs = bases[fam]
        base = markets[day]
        target = base.provider_ids[int(rng.integers(base.n_providers))]
        (mkt,) = augment_scenarios(base, target, 1, rng)
        out.append(
            Scenario(
                market=mkt,
                prefs=prefs,
                target=target,
                family=fam,
                day=day,
                date=panel.dates[day],
                split=split_of_day(day, n_days),
            )
        )
    return out


def scale_demand(
    scenarios: Sequence[Scenario],
    demand_range: tuple[float, float],
    rng: np.random.Generator,
) -> list[Scenario]:
    """The scenarios with every user's demand multiplied by one uniform factor per scenario.

    Our addition to the paper's augmentation (which perturbs the rivals only): the factor
    ``f ~ U[low, high]`` scales the whole demand of a scenario, so the training also sees
    markets more and less congested than the base days (the features are invariant to scaling
    demand and capacity together, so this is the one congestion axis the rivals' perturbation
    does not cover: the target's capacity is never perturbed). The prices, capacities,
    latencies, target, family, day and split are unchanged.

    Raises
    ------
    prillm.MarketError
        For a range that is not ``0 < low <= high`` (finite).

    Examples
    --------
    >>> sc = build_scenarios(2, seed=0, families=["Translation"], days=[0])
    >>> out = scale_demand(sc, (0.5, 0.5), np.random.default_rng(0))
    >>> bool(np.allclose(out[0].market.demand, 0.5 * sc[0].market.demand))
    True
    """
    try:
        lo, hi = (float(v) for v in demand_range)
    except (TypeError, ValueError):
        raise MarketError(f"demand_range: expected (low, high), got {demand_range!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise MarketError(f"demand_range: expected finite 0 < low <= high, got {demand_range!r}")
    factors = rng.uniform(lo, hi, len(scenarios))
    return [
        replace(sc, market=sc.market.replace(demand=sc.market.demand * f))
        for sc, f in zip(scenarios, factors, strict=True)
    ]
