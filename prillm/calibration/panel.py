"""A calibration panel: T days of one market (same users and providers) with observed flows.

The panel file format (JSON) accepted by :func:`load_panel_file` and ``prillm calibrate``::

    {
      "format": "prillm-panel", "version": 1,
      "days": [ <market object>, <market object>, ... ],   (one per day, with observed_flows)
      "truth": <preferences object>                         (optional: planted preferences)
    }

where each ``<market object>`` is a market in the ``prillm-market`` format of
:meth:`prillm.Market.from_dict` (providers, users, latency, ``observed_flows``), every day with the
same provider ids and user ids in the same order. Alternatively the file may be a JSON list of
paths to market files (relative to the panel file), one per day.

By default each day's ``demand`` must equal the users' total observed flow (relative gap at most
``1e-6``); :meth:`Panel.from_markets` can instead take the observed totals or keep a given
demand that noisy flows do not add up to (as in the shipped planted panel, a ``.npz`` file also
accepted by :func:`load_panel_file`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prillm.equilibrium import solve_active_set
from prillm.io import atomic_write_json, read_json
from prillm.market import Market, MarketError, Preferences

__all__ = [
    "PANEL_FORMAT",
    "Panel",
    "load_panel_file",
    "synthetic_panel",
]

PANEL_FORMAT = "prillm-panel"


@dataclass(frozen=True, eq=False)
class Panel:
    """T days of observed equilibria of one market, stacked as arrays.

    Attributes
    ----------
    price, capacity
        ``(T, m)``: USD per 1M tokens, tokens per period.
    latency
        ``(T, n, m)`` seconds.
    demand
        ``(T, n)`` tokens per period (the row sums of ``flows``).
    flows
        ``(T, n, m)`` observed flows :math:`f^{real}_{ij,t}`, tokens per period.
    provider_ids, user_ids
        Ids shared by every day.
    truth
        Planted preferences, when known (synthetic data).
    """

    price: np.ndarray
    capacity: np.ndarray
    latency: np.ndarray
    demand: np.ndarray
    flows: np.ndarray
    provider_ids: tuple[str, ...]
    user_ids: tuple[str, ...]
    truth: Preferences | None = None

    @property
    def n_days(self) -> int:
        """Number of days ``T``."""
        return int(self.flows.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_providers)``."""
        return int(self.flows.shape[1]), int(self.flows.shape[2])

    def subset(self, days: Sequence[int] | np.ndarray) -> Panel:
        """The panel restricted to some days (e.g. a train or test split)."""
        idx = np.asarray(days, dtype=int)
        if idx.size == 0:
            raise MarketError("days: the subset is empty")
        if idx.min() < 0 or idx.max() >= self.n_days:
            raise MarketError(f"days: index out of range for {self.n_days} days")
        return Panel(
            self.price[idx],
            self.capacity[idx],
            self.latency[idx],
            self.demand[idx],
            self.flows[idx],
            self.provider_ids,
            self.user_ids,
            self.truth,
        )

    def split(self, test_fraction: float = 0.25) -> tuple[Panel, Panel]:
        """Chronological split: the last ``test_fraction`` of the days are held out."""
        if not 0.0 < test_fraction < 1.0:
            raise MarketError(f"test_fraction: expected a value in (0, 1), got {test_fraction!r}")
        n_test = max(1, round(self.n_days * test_fraction))
        if n_test >= self.n_days:
            raise MarketError(f"test_fraction: {self.n_days} days leave nothing to train on")
        cut = self.n_days - n_test
        return self.subset(range(cut)), self.subset(range(cut, self.n_days))

    def markets(self) -> list[Market]:
        """One :class:`~prillm.Market` per day (with observed flows)."""
        return [
            Market(
                demand=self.demand[t],
                price=self.price[t],
                capacity=self.capacity[t],
                latency=self.latency[t],
                provider_ids=self.provider_ids,
                user_ids=self.user_ids,
                observed_flows=self.flows[t],
            )
            for t in range(self.n_days)
        ]

    @classmethod
    def from_markets(
        cls,
        markets: Sequence[Market],
        truth: Preferences | None = None,
        *,
        demand: str = "check",
    ) -> Panel:
        """Stack daily markets (each with ``observed_flows``) into a panel.

        Parameters
        ----------
        markets
            One market per day, same provider and user ids.
        truth
            Planted preferences, if known.
        demand
            Which demand the game uses: ``"check"`` (default) the markets' demand, which must
            equal the users' observed totals (relative gap at most ``1e-6``); ``"flows"`` the
            observed totals (row sums of the flows); ``"market"`` the markets' demand as given,
            even where noisy flows do not add up to it.

        Raises
        ------
        MarketError
            If there are no days, a day has no observed flows, the ids differ between days, or a
            day's demand disagrees with its observed flows (``demand="check"``).
        """
        if demand not in ("check", "flows", "market"):
            raise MarketError(f"demand: expected 'check', 'flows' or 'market', got {demand!r}")
        if len(markets) == 0:
            raise MarketError("days: the panel has no days")
        first = markets[0]
        for t, mk in enumerate(markets):
            if mk.observed_flows is None:
                raise MarketError(f"days[{t}].observed_flows: missing (needed for calibration)")
            if mk.provider_ids != first.provider_ids:
                raise MarketError(
                    f"days[{t}].providers: ids differ from day 0 ({mk.provider_ids[:3]}... vs "
                    f"{first.provider_ids[:3]}...)"
                )
            if mk.user_ids != first.user_ids:
                raise MarketError(f"days[{t}].users: ids differ from day 0")
            if demand == "check":
                total = mk.observed_flows.sum(axis=1)
                gap = np.abs(total - mk.demand) / max(float(mk.demand.max()), 1.0)
                if gap.max() > 1e-6:
                    i = int(np.argmax(gap))
                    raise MarketError(
                        f"days[{t}].users[{i}].demand: {mk.demand[i]!r} differs from the user's "
                        f"total observed flow {total[i]!r} (use demand='flows' for the observed "
                        "totals or demand='market' to keep the given demand)"
                    )
        flows = np.stack([np.asarray(mk.observed_flows) for mk in markets])
        dem = flows.sum(axis=2) if demand == "flows" else np.stack([mk.demand for mk in markets])
        return cls(
            price=np.stack([mk.price for mk in markets]),
            capacity=np.stack([mk.capacity for mk in markets]),
            latency=np.stack([mk.latency for mk in markets]),
            demand=dem,
            flows=flows,
            provider_ids=tuple(first.provider_ids),
            user_ids=tuple(first.user_ids),
            truth=truth,
        )

    @classmethod
    def from_planted(cls, planted: Any) -> Panel:
        """Adapt a shipped planted panel (:func:`prillm.data.load_panel`).

        Its ``observed_flows`` are noisy while each app's ``demand`` is its noise-free total,
        so the game is played with that demand (``demand="market"``); the planted
        ``true_preferences`` become :attr:`truth`.
        """
        return cls.from_markets(list(planted.markets), planted.true_preferences, demand="market")

    def to_dict(self) -> dict[str, Any]:
        """The panel file format (see the module docstring)."""
        out: dict[str, Any] = {
            "format": PANEL_FORMAT,
            "version": 1,
            "days": [mk.to_dict() for mk in self.markets()],
        }
        if self.truth is not None:
            out["truth"] = self.truth.to_dict()
        return out

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the panel file atomically."""
        atomic_write_json(path, self.to_dict())


def load_panel_file(path: str | os.PathLike[str], *, demand: str = "check") -> Panel:
    """Read a panel: a ``prillm-panel`` JSON file, a JSON list of market files, or a ``.npz``.

    A ``.npz`` file is a planted panel written by :func:`prillm.data.save_panel` (the shipped
    one is :data:`prillm.data.panel.DEFAULT_PANEL_FILE`), read by :func:`prillm.data.load_panel`
    and adapted by :meth:`Panel.from_planted`. ``demand`` is passed to
    :meth:`Panel.from_markets` for the JSON forms.

    Raises
    ------
    MarketError
        For a missing or malformed file, naming the offending field.
    """
    if str(path).endswith(".npz"):
        from prillm.data import load_panel

        return Panel.from_planted(load_panel(path))
    data = read_json(path)
    where = str(path)
    truth = None
    if isinstance(data, list):
        base = Path(path).parent
        markets = []
        for k, item in enumerate(data):
            if not isinstance(item, str):
                raise MarketError(f"{where}[{k}]: expected a market file path, got {item!r}")
            markets.append(Market.from_json(base / item))
    elif isinstance(data, dict):
        fmt = data.get("format")
        if fmt != PANEL_FORMAT:
            raise MarketError(f"{where}: format: expected {PANEL_FORMAT!r}, got {fmt!r}")
        if data.get("version", 1) != 1:
            raise MarketError(f"{where}: version: expected 1, got {data.get('version')!r}")
        extra = sorted(set(data) - {"format", "version", "days", "truth", "units", "notes"})
        if extra:
            raise MarketError(f"{where}: unknown field {extra[0]!r}")
        days = data.get("days")
        if not isinstance(days, list):
            raise MarketError(f"{where}: days: expected a list of market objects")
        markets = [Market.from_dict(d, where=f"{where}: days[{k}]") for k, d in enumerate(days)]
        if "truth" in data:
            truth = Preferences.from_dict(data["truth"], where=f"{where}: truth")
    else:
        raise MarketError(f"{where}: expected a panel object or a list of market files")
    try:
        return Panel.from_markets(markets, truth, demand=demand)
    except MarketError as exc:
        raise MarketError(f"{where}: {exc}") from None


def synthetic_panel(
    n_users: int,
    n_providers: int,
    n_days: int,
    truth: Preferences,
    *,
    noise: float = 0.05,
    rng: np.random.Generator | int = 0,
) -> Panel:
    """A panel with planted preferences: exact equilibria of random days, plus noise.

    Each day draws prices (base price times a log-normal factor, sd 0.2), capacities, per-user
    latencies and demands around fixed per-market bases; the flows are the exact equilibrium
    under ``truth`` (:func:`prillm.equilibrium.solve_active_set`), multiplied by independent
    log-normal noise ``exp(noise * z - noise**2 / 2)``. Routes unused at equilibrium stay at zero.
    The observed demand is the noisy row sum.

    Parameters
    ----------
    n_users, n_providers, n_days
        Panel size.
    truth
        The planted preferences (``b`` scalar or one value per provider).
    noise
        Log-normal noise level on the flows (0 gives exact equilibria).
    rng
        A ``numpy.random.Generator`` or a seed.

    Returns
    -------
    Panel
        With ``truth`` set.
    """
    rng = np.random.default_rng(rng)
    n, m = n_users, n_providers
    if n < 1 or m < 1 or n_days < 1:
        raise MarketError(f"panel size: expected positive sizes, got {(n, m, n_days)}")
    if noise < 0:
        raise MarketError(f"noise: must be >= 0, got {noise!r}")
    base_price = np.exp(rng.uniform(np.log(0.2), np.log(10.0), m))
    base_demand = np.exp(rng.uniform(np.log(5e7), np.log(2e9), n))
    base_capacity = np.exp(rng.uniform(np.log(0.5), np.log(2.0), m)) * base_demand.sum() / m
    base_latency = rng.uniform(0.3, 2.5, m)
    user_factor = rng.uniform(0.8, 1.25, (n, 1))
    b = np.broadcast_to(np.asarray(truth.b, dtype=float), (m,)).copy()
    price = base_price * np.exp(0.2 * rng.standard_normal((n_days, m)))
    capacity = base_capacity * np.exp(0.1 * rng.standard_normal((n_days, m)))
    latency = base_latency * user_factor * np.exp(0.15 * rng.standard_normal((n_days, n, m)))
    demand_true = base_demand * np.exp(0.2 * rng.standard_normal((n_days, n)))
    flows = np.zeros((n_days, n, m))
    for t in range(n_days):
        cost = truth.w_p * price[t][None, :] + truth.w_d * latency[t] - b[None, :]
        res = solve_active_set(cost, truth.w_q / capacity[t], demand_true[t])
        noisy = res.flows * np.exp(noise * rng.standard_normal((n, m)) - noise**2 / 2)
        flows[t] = np.where(res.flows > 0, noisy, 0.0)
    users = tuple(f"app{i}" for i in range(n))
    providers = tuple(f"llm{j}" for j in range(m))
    truth_ids = Preferences(
        w_q=truth.w_q, w_d=truth.w_d, b=b, w_p=truth.w_p, provider_ids=providers
    )
    return Panel(price, capacity, latency, flows.sum(axis=2), flows, providers, users, truth_ids)
