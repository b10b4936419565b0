"""The panel: T observed days of one market, what calibration (Section 4 of the paper) consumes.

A :class:`Panel` stacks the daily markets of one set of users and providers as arrays — prices,
capacities, latencies, demands and the observed flows — and may carry what is known beyond the
observations: the planted preferences that produced them (:attr:`Panel.truth`), the noise-free
equilibrium flows (:attr:`Panel.exact_flows`), the dates, market segments, user categories, how
the observation noise was drawn and where every number came from (:attr:`Panel.info`). The
planted panel that :mod:`prillm.data` ships is a panel with a truth, not another type.

Everything is validated on construction, with the field and the value named in the error:
shapes agree across arrays, every number is finite, demand, flows, prices and latencies are
non-negative, capacities positive, ids unique, and each user's observed flows add up to its
demand within :data:`DEMAND_RTOL` (1e-6) of that user's own demand (at least
:data:`DEMAND_FLOOR`, 1 token, for a user with almost none) — unless the panel says
``flow_totals="noisy"``: observed flows measured with noise whose totals differ from the stated
(noise-free) demand, as in the shipped planted panel (its exact flows are still checked). An
empty panel, or one whose observed flows are all zero, is refused.

Files: :meth:`Panel.to_json` / :meth:`Panel.from_json` (the format is documented in
:mod:`prillm.data.panel_file`).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import numpy as np

from prillm._validation import MarketError, as_float_array, check_ids
from prillm.data.panel_checks import (
    DEMAND_FLOOR,
    DEMAND_RTOL,
    _categories,
    _check_totals,
    _dates,
    _factors,
    _id_map,
    _json_field,
    _latency,
    _name,
    _noise_days,
    _per_day,
    _seed,
    _truth,
    aligned_b,
    latency_from_factors,
)
from prillm.market import Market, Preferences

__all__ = [
    "DEMAND_FLOOR",
    "DEMAND_RTOL",
    "FLOW_TOTALS",
    "PANEL_FIELDS",
    "Panel",
    "aligned_b",
    "latency_from_factors",
]

#: What a panel says about its observed flows' totals (see :class:`Panel`).
FLOW_TOTALS = ("match", "noisy")


@dataclass(frozen=True, eq=False)
class Panel:
    """T days of one market (same users and providers every day) with observed flows.

    Parameters
    ----------
    price
        ``(T, m)`` (or ``(m,)``, the same every day), USD per 1M tokens, >= 0.
    capacity
        ``(T, m)`` (or ``(m,)``), tokens per period, > 0.
    latency
        ``(T, n, m)``, or ``(n, m)`` / ``(m,)`` / a number, the same every day; seconds, >= 0.
    demand
        ``(T, n)`` tokens per period, >= 0.
    flows
        ``(T, n, m)`` observed flows :math:`f^{real}_{ij,t}`, tokens per period, >= 0.
    provider_ids, user_ids
        Unique non-empty strings (default ``p0, p1, ...`` and ``u0, u1, ...``).
    truth
        The planted preferences (generated panels); stored with ``b`` keyed by provider id.
    exact_flows
        ``(T, n, m)`` noise-free equilibrium flows under :attr:`truth` (generated panels); they
        add up to each user's demand within :data:`DEMAND_RTOL` of ``max(D_i, DEMAND_FLOOR)``.
    dates
        One ISO date ``YYYY-MM-DD`` per day, strictly increasing.
    flow_totals
        ``"match"`` (default): every user's observed flows add up to its demand within
        :data:`DEMAND_RTOL` of ``max(D_i, DEMAND_FLOOR)`` (its own demand, at least 1 token),
        each day; ``"noisy"``: the observed flows carry measurement noise and their
        totals may differ from the (noise-free) demand, which is the demand the game is played
        with. In both modes a user without demand has no flow.
    noise
        How the observed flows were made from the exact ones (JSON-able; see
        :func:`prillm.data.noise_factors`).
    segments, segment_users
        Segment name -> provider ids / user ids (Table 1 of the paper); see :meth:`segment`.
    user_categories
        User id -> category (``coding``, ``translation``, ...).
    seed
        The seed a generated panel was drawn with.
    info
        Provenance: generation parameters, facts and their sources (JSON-able; stored in its
        JSON form, so a file round trip returns an equal panel).
    name
        A label (``"full"`` for a generated panel, the segment name for a segment).
    latency_factors
        ``(base (m,), per_user (n,), per_day (T, m))`` with
        ``latency == latency_from_factors(*latency_factors)`` exactly; lets files store two small
        arrays instead of ``T x n x m`` numbers.

    Raises
    ------
    prillm.MarketError
        Naming the field (and index and value) for any of the checks in the module docstring.

    Examples
    --------
    >>> pnl = Panel(price=[[1.0, 2.0]], capacity=[4.0, 4.0], latency=0.5,
    ...             demand=[[3.0]], flows=[[[2.0, 1.0]]])
    >>> pnl.shape, pnl.provider_ids
    ((1, 1, 2), ('p0', 'p1'))
    >>> Panel(price=[[1.0]], capacity=[1.0], latency=0.0, demand=[[1.0]], flows=[[[-1.0]]])
    Traceback (most recent call last):
    ...
    prillm._validation.MarketError: flows[0, 0, 0]: must be >= 0, got -1.0
    """

    price: Any
    capacity: Any
    latency: Any
    demand: Any
    flows: Any
    provider_ids: Sequence[str] | None = None
    user_ids: Sequence[str] | None = None
    _: KW_ONLY
    truth: Preferences | None = None
    exact_flows: Any = None
    dates: Sequence[str] | None = None
    flow_totals: str = "match"
    noise: Mapping[str, Any] | None = None
    segments: Mapping[str, Sequence[str]] | None = None
    segment_users: Mapping[str, Sequence[str]] | None = None
    user_categories: Mapping[str, str] | None = None
    seed: int | None = None
    info: Mapping[str, Any] | None = None
    name: str = "panel"
    latency_factors: tuple[Any, Any, Any] | None = None
    _markets: tuple[Market, ...] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        flows = as_float_array("flows", self.flows, allow_negative=False)
        if flows.ndim != 3:
            raise MarketError(f"flows: expected shape (days, users, providers), got {flows.shape}")
        t_, n, m = flows.shape
        if t_ == 0 or n == 0 or m == 0:
            raise MarketError(
                f"flows: an empty panel ({t_} days, {n} users, {m} providers); a panel needs at "
                "least one day, one user and one provider"
            )
        demand = as_float_array("demand", self.demand, allow_negative=False)
        if demand.shape != (t_, n):
            raise MarketError(f"demand: expected shape {(t_, n)} (days, users), got {demand.shape}")
        price = _per_day("price", self.price, t_, m, positive=False)
        capacity = _per_day("capacity", self.capacity, t_, m, positive=True)
        latency = _latency(self.latency, t_, n, m)
        factors = None
        if self.latency_factors is not None:
            factors = _factors(self.latency_factors, latency, t_, n, m)
        provider_ids = check_ids("provider_ids", self.provider_ids, m, "p")
        user_ids = check_ids("user_ids", self.user_ids, n, "u")
        if not (flows > 0).any():
            raise MarketError(
                "flows: every observed flow is zero; a panel needs some traffic to calibrate on"
            )
        if self.flow_totals not in FLOW_TOTALS:
            raise MarketError(f"flow_totals: expected 'match' or 'noisy', got {self.flow_totals!r}")
        _check_totals("flows", flows, demand, user_ids, strict=self.flow_totals == "match")
        exact = None
        if self.exact_flows is not None:
            exact = as_float_array(
                "exact_flows", self.exact_flows, (t_, n, m), allow_negative=False
            )
            _check_totals("exact_flows", exact, demand, user_ids, strict=True)
        truth = None if self.truth is None else _truth(self.truth, provider_ids)
        values: dict[str, Any] = {
            "price": price,
            "capacity": capacity,
            "latency": latency,
            "demand": demand,
            "flows": flows,
            "provider_ids": provider_ids,
            "user_ids": user_ids,
            "truth": truth,
            "exact_flows": exact,
            "dates": _dates(self.dates, t_),
            "noise": _json_field("noise", self.noise),
            "segments": _id_map("segments", self.segments, provider_ids),
            "segment_users": _id_map("segment_users", self.segment_users, user_ids),
            "user_categories": _categories(self.user_categories, user_ids),
            "seed": _seed(self.seed),
            "info": _json_field("info", self.info) or {},
            "name": _name(self.name),
            "latency_factors": factors,
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    # ---------------------------------------------------------------- sizes
    @property
    def n_days(self) -> int:
        """Number of days ``T``."""
        return int(self.flows.shape[0])

    @property
    def n_users(self) -> int:
        """Number of users ``n``."""
        return int(self.flows.shape[1])

    @property
    def n_providers(self) -> int:
        """Number of providers ``m``."""
        return int(self.flows.shape[2])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, n, m)``: days, users, providers (the shape of :attr:`flows`)."""
        return self.n_days, self.n_users, self.n_providers

    # ---------------------------------------------------------------- views
    @property
    def markets(self) -> tuple[Market, ...]:
        """One :class:`prillm.Market` per day, with the observed flows (built once, on demand)."""
        if self._markets is None:
            built = tuple(self.market(t) for t in range(self.n_days))
            object.__setattr__(self, "_markets", built)
        assert self._markets is not None
        return self._markets

    def market(self, t: int) -> Market:
        """Day ``t`` as a :class:`prillm.Market` (with its observed flows)."""
        return Market(
            demand=self.demand[t],
            price=self.price[t],
            capacity=self.capacity[t],
            latency=self.latency[t],
            provider_ids=self.provider_ids,
            user_ids=self.user_ids,
            observed_flows=self.flows[t],
        )

    @property
    def list_price(self) -> np.ndarray | None:
        """Real list price per day ``(T, m)``, USD per 1M tokens (a fact), when recorded.

        Generated panels play the game with an *effective* price (the list price times a
        generated factor, see ``DATASHEET.md``) and keep the list prices in
        ``info["facts"]["list_price_usd_per_mtok"]``, from ``info["parameters"]["start"]``.
        ``None`` for a panel that records none.
        """
        facts = self.info.get("facts")
        table = facts.get("list_price_usd_per_mtok") if isinstance(facts, Mapping) else None
        if table is None or self.dates is None:
            return None
        start = _dt.date.fromisoformat(self.info["parameters"]["start"])
        rows = [(_dt.date.fromisoformat(d) - start).days for d in self.dates]
        return np.array([[table[p][r] for p in self.provider_ids] for r in rows], dtype=float)

    @property
    def congestion(self) -> np.ndarray:
        """Congestion ``Q_j = F_j / alpha_j`` per day ``(T, m)``, of the exact flows if known."""
        flows = self.flows if self.exact_flows is None else self.exact_flows
        return flows.sum(axis=1) / self.capacity

    def noise_ceiling_r2(self) -> float:
        """R^2 of the exact flows as a predictor of the observed ones (the best any model does).

        ``1 - sum (obs - exact)^2 / sum (obs - mean(obs))^2`` over all days, users and providers.

        Raises
        ------
        prillm.MarketError
            If the panel has no exact flows.
        """
        if self.exact_flows is None:
            raise MarketError("exact_flows: the panel has none (only generated panels do)")
        obs = self.flows.ravel()
        err = obs - self.exact_flows.ravel()
        return float(1.0 - (err @ err) / float(((obs - obs.mean()) ** 2).sum()))

    def summary(self) -> dict[str, Any]:
        """Sizes, dates, congestion range, support density (and noise ceiling), as one record."""
        q = self.congestion
        flows = self.flows if self.exact_flows is None else self.exact_flows
        out: dict[str, Any] = {
            "name": self.name,
            "days": self.n_days,
            "users": self.n_users,
            "providers": self.n_providers,
            "dates": None if self.dates is None else f"{self.dates[0]}..{self.dates[-1]}",
            "congestion_min": float(q.min()),
            "congestion_median": float(np.median(q)),
            "congestion_max": float(q.max()),
            "support_density": float((flows > 0).mean()),
        }
        if self.exact_flows is not None:
            out["noise_ceiling_r2"] = self.noise_ceiling_r2()
        return out

    # ---------------------------------------------------------------- subsets
    def replace(self, **changes: Any) -> Panel:
        """A copy with some fields changed (validated again)."""
        values = {k: getattr(self, k) for k in PANEL_FIELDS}
        values.update(changes)
        return Panel(**values)

    def subset(self, days: Iterable[int]) -> Panel:
        """The panel restricted to some days (strictly increasing day indices).

        The days keep their dates, exact flows and latency factors; ``noise`` records which
        days of the generated draw they are, so :func:`prillm.data.noise_factors` gives their
        factors again.

        Raises
        ------
        prillm.MarketError
            For an empty, unordered or out-of-range list of days.
        """
        if isinstance(days, (str, bytes)):
            raise MarketError(f"days: expected day indices, got {days!r}")
        items = list(days)
        bad = [d for d in items if isinstance(d, bool) or not isinstance(d, (int, np.integer))]
        if bad:
            raise MarketError(f"days: expected integer day indices, got {bad[0]!r}")
        idx = np.asarray(items, dtype=int)
        if idx.size == 0:
            raise MarketError("days: the subset is empty")
        if idx.min() < 0 or idx.max() >= self.n_days:
            raise MarketError(
                f"days: index out of range for {self.n_days} days (got {int(idx.min())}.."
                f"{int(idx.max())})"
            )
        if idx.size > 1 and not (np.diff(idx) > 0).all():
            raise MarketError("days: day indices must be strictly increasing")
        lf = self.latency_factors
        return self.replace(
            price=self.price[idx],
            capacity=self.capacity[idx],
            latency=self.latency[idx],
            demand=self.demand[idx],
            flows=self.flows[idx],
            exact_flows=None if self.exact_flows is None else self.exact_flows[idx],
            dates=None if self.dates is None else tuple(self.dates[k] for k in idx),
            noise=None if self.noise is None else _noise_days(self.noise, self.n_days, idx),
            latency_factors=None if lf is None else (lf[0], lf[1], lf[2][idx]),
        )

    def split(
        self, test_fraction: float | None = None, *, n_train: int | None = None
    ) -> tuple[Panel, Panel]:
        """Chronological split into training days and held-out days.

        Parameters
        ----------
        test_fraction
            Share of the days held out at the end (rounded, at least one day); default 0.25.
        n_train
            Instead: the number of leading days to train on (``1 <= n_train < T``).

        Raises
        ------
        prillm.MarketError
            If both are given, or the split leaves no training or no held-out day.

        Examples
        --------
        >>> pnl = Panel(price=[[1.0]] * 4, capacity=[1.0], latency=0.0,
        ...             demand=[[1.0]] * 4, flows=[[[1.0]]] * 4)
        >>> [p.n_days for p in pnl.split(0.25)], [p.n_days for p in pnl.split(n_train=1)]
        ([3, 1], [1, 3])
        """
        t_ = self.n_days
        if n_train is not None:
            if test_fraction is not None:
                raise MarketError("split: give test_fraction or n_train, not both")
            if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)):
                raise MarketError(f"n_train: expected an integer, got {n_train!r}")
            if not 0 < n_train < t_:
                raise MarketError(f"n_train: must be between 1 and {t_ - 1}, got {n_train}")
            cut = int(n_train)
        else:
            frac = 0.25 if test_fraction is None else test_fraction
            if isinstance(frac, bool) or not isinstance(frac, (int, float, np.floating)):
                raise MarketError(f"test_fraction: expected a number, got {frac!r}")
            if not 0.0 < frac < 1.0:
                raise MarketError(f"test_fraction: expected a value in (0, 1), got {frac!r}")
            n_test = max(1, round(t_ * float(frac)))
            if n_test >= t_:
                raise MarketError(
                    f"test_fraction: {t_} day(s) leave nothing to train on after holding out "
                    f"{n_test}"
                )
            cut = t_ - n_test
        return self.subset(range(cut)), self.subset(range(cut, t_))

    def segment(self, name: str) -> Panel:
        """The panel of one market segment (Table 1 of the paper): :mod:`prillm.data.segments`."""
        from prillm.data.segments import segment_panel

        return segment_panel(self, name)

    # ---------------------------------------------------------------- files
    def to_dict(self) -> dict[str, Any]:
        """The panel file's JSON object (see :mod:`prillm.data.panel_file`)."""
        from prillm.data.panel_file import panel_to_dict

        return panel_to_dict(self)

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the panel file atomically (gzip-compressed when ``path`` ends with ``.gz``)."""
        from prillm.data.panel_file import write_panel

        write_panel(self, path)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str], *, demand: str = "check") -> Panel:
        """Read a panel file (any form :func:`prillm.data.load_panel` reads)."""
        from prillm.data.panel_file import read_panel

        return read_panel(path, demand=demand)

    @classmethod
    def from_markets(
        cls, markets: Sequence[Market], *, demand: str = "check", **fields: Any
    ) -> Panel:
        """Stack daily markets (each with ``observed_flows``) into a panel.

        Parameters
        ----------
        markets
            One market per day, with the same provider ids and user ids in the same order.
        demand
            ``"check"`` (default): the markets' demand, which the observed flows must add up to;
            ``"flows"``: the observed totals (row sums) become the demand; ``"market"``: the
            markets' demand as given, with ``flow_totals="noisy"``.
        **fields
            Other :class:`Panel` fields (``truth``, ``dates``, ``info``, ...).

        Raises
        ------
        prillm.MarketError
            If there are no days, a day has no observed flows, or the ids differ between days.
        """
        if demand not in ("check", "flows", "market"):
            raise MarketError(f"demand: expected 'check', 'flows' or 'market', got {demand!r}")
        if len(markets) == 0:
            raise MarketError("days: the panel has no days")
        first = markets[0]
        for t, mk in enumerate(markets):
            if not isinstance(mk, Market):
                raise MarketError(f"days[{t}]: expected a Market, got {type(mk).__name__}")
            if mk.observed_flows is None:
                raise MarketError(f"days[{t}].observed_flows: missing (needed for calibration)")
            if mk.provider_ids != first.provider_ids:
                raise MarketError(
                    f"days[{t}].providers: ids differ from day 0 ({list(mk.provider_ids[:3])} "
                    f"vs {list(first.provider_ids[:3])})"
                )
            if mk.user_ids != first.user_ids:
                raise MarketError(f"days[{t}].users: ids differ from day 0")
        flows = np.stack([np.asarray(mk.observed_flows) for mk in markets])
        dem = flows.sum(axis=2) if demand == "flows" else np.stack([mk.demand for mk in markets])
        if demand == "market":
            fields.setdefault("flow_totals", "noisy")
        return cls(
            price=np.stack([mk.price for mk in markets]),
            capacity=np.stack([mk.capacity for mk in markets]),
            latency=np.stack([mk.latency for mk in markets]),
            demand=dem,
            flows=flows,
            provider_ids=first.provider_ids,
            user_ids=first.user_ids,
            **fields,
        )

    # ---------------------------------------------------------------- equality
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Panel):
            return NotImplemented
        for key in PANEL_FIELDS:
            a, b = getattr(self, key), getattr(other, key)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or not np.array_equal(a, b):
                    return False
            elif key == "latency_factors" and a is not None and b is not None:
                if not all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)):
                    return False
            elif (a is None) != (b is None) or (a is not None and a != b):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


#: The fields of :class:`Panel`, in order.
PANEL_FIELDS = (
    "price",
    "capacity",
    "latency",
    "demand",
    "flows",
    "provider_ids",
    "user_ids",
    "truth",
    "exact_flows",
    "dates",
    "flow_totals",
    "noise",
    "segments",
    "segment_users",
    "user_categories",
    "seed",
    "info",
    "name",
    "latency_factors",
)
