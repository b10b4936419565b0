"""The calibration panel: daily markets, observed (noisy) and exact flows, and the planted truth.

A :class:`CalibrationPanel` is what calibration (Section 4 of the paper) consumes: one
:class:`prillm.Market` per day whose ``observed_flows`` are the flows to fit, plus — because the
panel is generated — the noise-free equilibrium flows and the preferences that produced them, so a
calibration can be scored against the truth. :func:`load_panel` reads the shipped default panel;
:func:`prillm.data.generate_planted_panel` makes new ones.

The file format (``.npz``, no pickles) stores the inputs of every day, the exact and observed
flows and a JSON ``meta`` record (ids, dates, preferences, noise, segments, generation parameters).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prillm._validation import MarketError
from prillm.equilibrium import solve_equilibrium
from prillm.market import Market, Preferences

__all__ = [
    "DEFAULT_PANEL_FILE",
    "PANEL_FORMAT",
    "PROVIDER_SEGMENTS",
    "USER_SEGMENTS",
    "CalibrationPanel",
    "latency_from_factors",
    "load_panel",
    "noise_factors",
    "save_panel",
]

PANEL_FORMAT = "prillm-planted-panel"
PANEL_FORMAT_VERSION = 1
DEFAULT_PANEL_FILE = Path(__file__).resolve().parent / "panel_seed0.npz"
#: Segments defined by a provider attribute (price): every app is kept.
PROVIDER_SEGMENTS = ("Premium", "Economy")
#: Segments defined by app categories: only the segment's apps (and their main providers) kept.
USER_SEGMENTS = {"Coding": "coding", "Translation": "translation"}


@dataclass(frozen=True, eq=False)
class CalibrationPanel:
    """Daily markets with observed flows, and the planted truth behind them.

    Attributes
    ----------
    markets
        One :class:`prillm.Market` per day; ``observed_flows`` holds the noisy flows (tokens per
        day) and ``demand`` the app totals (noise-free).
    exact_flows
        Noise-free equilibrium flows, shape ``(T, n, m)``: each day's flows are the certified
        equilibrium (Eq. 13) of that day's market under :attr:`true_preferences`.
    true_preferences
        The planted :class:`prillm.Preferences` (``b`` keyed by provider id). ``b`` is identified
        only up to a common constant (adding one constant to every ``b_j`` leaves every
        equilibrium unchanged), so compare ``b - mean(b)``.
    dates
        ISO date of each day.
    noise
        How ``observed_flows`` were made from ``exact_flows`` (kind, sigma, seed stream).
    segments
        Market segment name -> provider ids (Table 1 of the paper: Premium, Economy, Coding,
        Translation).
    user_categories
        App id -> category (``coding``, ``translation``, ``roleplay``, ...).
    seed
        The seed the panel was generated with.
    segment_users
        Segment name -> app ids it keeps (all apps for price segments).
    info
        Generation parameters, the facts used and their sources (JSON-able).
    name
        ``"full"`` or the segment name.
    latency_factors
        ``(base (m,), per_app (n,), per_day (T, m))`` with
        ``latency[t, i, j] = base[j] * per_app[i] * per_day[t, j]`` (seconds) when the latency has
        this structure (generated panels); lets the panel file store 2 small arrays instead of
        ``T x n x m`` numbers. ``None`` otherwise.
    """

    markets: list[Market]
    exact_flows: np.ndarray
    true_preferences: Preferences
    dates: tuple[str, ...]
    noise: dict[str, Any]
    segments: dict[str, tuple[str, ...]]
    user_categories: dict[str, str]
    seed: int
    segment_users: dict[str, tuple[str, ...]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    name: str = "full"
    latency_factors: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __post_init__(self) -> None:
        if not self.markets:
            raise MarketError("markets: a panel needs at least one day")
        exact = np.asarray(self.exact_flows, dtype=float)
        shape = (len(self.markets), *self.markets[0].shape)
        if exact.shape != shape:
            raise MarketError(f"exact_flows: expected shape {shape}, got {exact.shape}")
        if len(self.dates) != len(self.markets):
            raise MarketError(
                f"dates: expected {len(self.markets)} dates (one per day), got {len(self.dates)}"
            )
        for t, mkt in enumerate(self.markets):
            if mkt.shape != self.markets[0].shape or mkt.provider_ids != self.provider_ids:
                raise MarketError(f"markets[{t}]: providers or shape differ from day 0")
            if mkt.user_ids != self.user_ids:
                raise MarketError(f"markets[{t}]: user ids differ from day 0")
        exact.setflags(write=False)
        object.__setattr__(self, "exact_flows", exact)
        object.__setattr__(self, "dates", tuple(self.dates))

    # ---------------------------------------------------------------- views
    @property
    def provider_ids(self) -> tuple[str, ...]:
        """Provider (model) ids, the columns of every flow matrix."""
        return tuple(self.markets[0].provider_ids)

    @property
    def user_ids(self) -> tuple[str, ...]:
        """User (app) ids, the rows of every flow matrix."""
        return tuple(self.markets[0].user_ids)

    @property
    def n_days(self) -> int:
        """Number of days ``T``."""
        return len(self.markets)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, n, m)``."""
        return (self.n_days, *self.markets[0].shape)

    @property
    def observed_flows(self) -> np.ndarray:
        """The noisy flows of every day stacked, shape ``(T, n, m)``."""
        return np.stack([np.asarray(m.observed_flows) for m in self.markets])

    @property
    def demand(self) -> np.ndarray:
        """App demand per day, shape ``(T, n)``, tokens per day."""
        return np.stack([m.demand for m in self.markets])

    @property
    def price(self) -> np.ndarray:
        """Price each app pays per day, shape ``(T, m)``, USD per 1M tokens.

        In generated panels this is the *effective* price: the real list price times a generated
        mean-one factor (:attr:`list_price` holds the list price).
        """
        return np.stack([m.price for m in self.markets])

    @property
    def list_price(self) -> np.ndarray | None:
        """Real list price per day, shape ``(T, m)``, USD per 1M tokens (a fact).

        Read from ``info["facts"]["list_price_usd_per_mtok"]`` for the panel's days and
        providers; ``None`` when the panel does not record list prices.
        """
        facts = self.info.get("facts", {})
        table = facts.get("list_price_usd_per_mtok") if isinstance(facts, Mapping) else None
        if table is None:
            return None
        start = _dt.date.fromisoformat(self.info["parameters"]["start"])
        first = (_dt.date.fromisoformat(self.dates[0]) - start).days
        rows = slice(first, first + self.n_days)
        return np.array([table[p][rows] for p in self.provider_ids], dtype=float).T

    @property
    def congestion(self) -> np.ndarray:
        """Exact congestion ``Q_j = F_j / alpha_j`` per day, shape ``(T, m)``."""
        cap = np.stack([m.capacity for m in self.markets])
        return self.exact_flows.sum(axis=1) / cap

    def noise_ceiling_r2(self) -> float:
        """R^2 of the exact flows as a predictor of the observed ones (the best any model can do).

        ``1 - sum (obs - exact)^2 / sum (obs - mean(obs))^2`` over all days, apps and providers.
        """
        obs = self.observed_flows.ravel()
        err = obs - self.exact_flows.ravel()
        return float(1.0 - (err @ err) / float(((obs - obs.mean()) ** 2).sum()))

    def summary(self) -> dict[str, Any]:
        """Sizes, utilisation range and noise ceiling, for a quick look."""
        q = self.congestion
        return {
            "name": self.name,
            "days": self.n_days,
            "users": len(self.user_ids),
            "providers": len(self.provider_ids),
            "dates": f"{self.dates[0]}..{self.dates[-1]}",
            "congestion_min": float(q.min()),
            "congestion_median": float(np.median(q)),
            "congestion_max": float(q.max()),
            "support_density": float((self.exact_flows > 0).mean()),
            "noise_ceiling_r2": self.noise_ceiling_r2(),
        }

    # ---------------------------------------------------------------- subsets
    def split(self, n_train: int) -> tuple[CalibrationPanel, CalibrationPanel]:
        """Chronological split: the first ``n_train`` days and the rest.

        Raises
        ------
        prillm.MarketError
            Unless ``0 < n_train < T``.
        """
        if isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)):
            raise MarketError(f"n_train: expected an integer, got {n_train!r}")
        if not 0 < n_train < self.n_days:
            raise MarketError(f"n_train: must be between 1 and {self.n_days - 1}, got {n_train}")
        return self._days(slice(0, int(n_train))), self._days(slice(int(n_train), None))

    def _days(self, sl: slice) -> CalibrationPanel:
        lf = self.latency_factors
        first = int(self.noise.get("first_day", 0)) + (sl.start or 0)
        return _replace(
            self,
            markets=self.markets[sl],
            exact_flows=self.exact_flows[sl],
            dates=self.dates[sl],
            noise={**self.noise, "first_day": first},
            latency_factors=None if lf is None else (lf[0], lf[1], lf[2][sl]),
        )

    def segment(self, name: str) -> CalibrationPanel:
        """The panel of one market segment (Table 1 of the paper).

        ``Premium`` / ``Economy`` keep every app and the segment's providers; an app's demand
        becomes its (exact) flow to those providers. The restricted exact flows are then *exactly*
        the equilibrium of the restricted markets under the restricted true preferences (the KKT
        conditions of Eq. 14-17 of the sub-game are a subset of the full game's, with the same
        loads and multipliers), so nothing is re-solved and the observed flows are restricted too.

        ``Coding`` / ``Translation`` keep the segment's apps and providers. Dropping the other
        apps removes their load from the providers, so the restricted flows would no longer be an
        equilibrium. The segment's apps are given the share of each provider's capacity that
        their traffic used in the full panel (``alpha_j`` times their share of provider ``j``'s
        exact load over all days), so congestion stays in the full panel's range; then each day
        is re-solved with the true preferences (the exact flows change), and the observed flows
        are the new exact flows times the *same* noise factors the full panel drew for those
        (day, app, provider) cells. ``info["capacity_share"]`` records the shares.

        Raises
        ------
        prillm.MarketError
            For an unknown segment name.
        """
        if name not in self.segments:
            raise MarketError(
                f"segment: unknown segment {name!r}; known: {', '.join(self.segments)}"
            )
        if self.name != "full":
            raise MarketError(f"segment: {self.name!r} is already a segment panel")
        providers = self.segments[name]
        cols = [self.provider_ids.index(p) for p in providers]
        users = self.segment_users.get(name, self.user_ids)
        rows = [self.user_ids.index(u) for u in users]
        exact = self.exact_flows[:, rows][:, :, cols]
        keep = exact.sum(axis=(0, 2)) > 0
        rows = [r for r, k in zip(rows, keep, strict=True) if k]
        exact = exact[:, keep]
        user_ids = tuple(self.user_ids[r] for r in rows)
        prefs = _restrict_preferences(self.true_preferences, providers)
        factors = noise_factors(self.noise, self.shape)[:, rows][:, :, cols]
        resolve = name not in PROVIDER_SEGMENTS
        cap_share = np.ones(len(cols))
        if resolve:
            full_load = self.exact_flows[:, :, cols].sum(axis=(0, 1))
            cap_share = exact.sum(axis=(0, 1)) / np.where(full_load > 0, full_load, 1.0)
            cap_share = np.where(cap_share > 0, cap_share, 1.0)
        markets = []
        new_exact = np.empty_like(exact)
        prev = None
        for t, mkt in enumerate(self.markets):
            sub = Market(
                demand=exact[t].sum(axis=1),
                price=mkt.price[cols],
                capacity=mkt.capacity[cols] * cap_share,
                latency=mkt.latency[np.ix_(rows, cols)],
                provider_ids=providers,
                user_ids=user_ids,
            )
            if resolve:
                eq = solve_equilibrium(sub, prefs, warm_start=prev)
                prev = eq
                new_exact[t] = eq.flows
            else:
                new_exact[t] = exact[t]
            markets.append(sub.replace(observed_flows=new_exact[t] * factors[t]))
        return _replace(
            self,
            markets=markets,
            exact_flows=new_exact,
            true_preferences=prefs,
            segments={name: providers},
            segment_users={name: user_ids},
            user_categories={u: self.user_categories[u] for u in user_ids},
            name=name,
            info={
                **self.info,
                "segment": name,
                "re_solved": resolve,
                "capacity_share": dict(zip(providers, cap_share.tolist(), strict=True)),
            },
            latency_factors=None
            if self.latency_factors is None
            else (
                self.latency_factors[0][cols],
                self.latency_factors[1][rows],
                self.latency_factors[2][:, cols],
            ),
        )


def _replace(panel: CalibrationPanel, **changes: Any) -> CalibrationPanel:
    values = {
        "markets": panel.markets,
        "exact_flows": panel.exact_flows,
        "true_preferences": panel.true_preferences,
        "dates": panel.dates,
        "noise": panel.noise,
        "segments": panel.segments,
        "user_categories": panel.user_categories,
        "seed": panel.seed,
        "segment_users": panel.segment_users,
        "info": panel.info,
        "name": panel.name,
        "latency_factors": panel.latency_factors,
    }
    values.update(changes)
    return CalibrationPanel(**values)


def _restrict_preferences(prefs: Preferences, providers: tuple[str, ...]) -> Preferences:
    if prefs.provider_ids is None:
        raise MarketError("true_preferences: b must be keyed by provider id")
    lookup = dict(zip(prefs.provider_ids, prefs.b, strict=True))
    return prefs.replace(b=[lookup[p] for p in providers], provider_ids=list(providers))


def latency_from_factors(base: np.ndarray, per_app: np.ndarray, per_day: np.ndarray) -> np.ndarray:
    """``latency[t, i, j] = base[j] * per_app[i] * per_day[t, j]``, shape ``(T, n, m)``."""
    return base[None, None, :] * per_app[None, :, None] * per_day[:, None, :]


def noise_factors(noise: Mapping[str, Any], shape: tuple[int, int, int]) -> np.ndarray:
    """The multiplicative observation-noise factors of a panel, shape ``(T, n, m)``.

    ``exp(sigma * z - sigma^2 / 2)`` with ``z`` standard normal from the panel's noise stream
    (``numpy.random.SeedSequence(seed).spawn(2)[1]``, drawn in (day, app, provider) order), so
    the factors have mean 1 and are the same whenever they are recomputed. ``noise["first_day"]``
    (set by :meth:`CalibrationPanel.split`) skips the days before the panel's first one.
    """
    if noise.get("kind") != "lognormal-multiplicative":
        raise MarketError(f"noise.kind: unsupported noise {noise.get('kind')!r}")
    sigma = float(noise["sigma"])
    first = int(noise.get("first_day", 0))
    stream = np.random.SeedSequence(int(noise["seed"])).spawn(2)[1]
    z = np.random.default_rng(stream).standard_normal((first + shape[0], *shape[1:]))
    return np.exp(sigma * z[first:] - 0.5 * sigma**2)


# ---------------------------------------------------------------------- file I/O
def save_panel(panel: CalibrationPanel, path: str | os.PathLike[str]) -> None:
    """Write a panel as ``.npz`` (compressed, no pickles); :func:`load_panel` reads it back."""
    mk = panel.markets
    meta = {
        "format": PANEL_FORMAT,
        "version": PANEL_FORMAT_VERSION,
        "name": panel.name,
        "seed": panel.seed,
        "provider_ids": list(panel.provider_ids),
        "user_ids": list(panel.user_ids),
        "dates": list(panel.dates),
        "true_preferences": panel.true_preferences.to_dict(),
        "noise": panel.noise,
        "segments": {k: list(v) for k, v in panel.segments.items()},
        "segment_users": {k: list(v) for k, v in panel.segment_users.items()},
        "user_categories": panel.user_categories,
        "info": panel.info,
    }
    latency = np.stack([m.latency for m in mk])
    arrays: dict[str, np.ndarray] = {}
    lf = panel.latency_factors
    if lf is not None and np.array_equal(latency_from_factors(*lf), latency):
        arrays.update(latency_base=lf[0], latency_per_app=lf[1], latency_per_day=lf[2])
    else:
        arrays["latency"] = latency
    np.savez_compressed(
        path,
        meta=np.array(json.dumps(meta, allow_nan=False)),
        demand=np.stack([m.demand for m in mk]),
        price=np.stack([m.price for m in mk]),
        capacity=np.stack([m.capacity for m in mk]),
        exact_flows=panel.exact_flows,
        observed_flows=panel.observed_flows,
        **arrays,
    )


def load_panel(path: str | os.PathLike[str] | None = None) -> CalibrationPanel:
    """Read a panel written by :func:`save_panel` (default: the shipped seed-0 panel).

    Returns
    -------
    CalibrationPanel
        20 apps x 20 models x 100 days for the shipped file (see ``DATASHEET.md``).

    Raises
    ------
    prillm.MarketError
        If the file is missing, not a panel file, or its arrays do not fit together.

    Examples
    --------
    >>> panel = load_panel()
    >>> panel.shape
    (100, 20, 20)
    """
    p = Path(path) if path is not None else DEFAULT_PANEL_FILE
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise MarketError(f"{p}: no such file") from None
    except (OSError, ValueError) as exc:
        raise MarketError(f"{p}: not a readable .npz panel file ({exc})") from None
    needed = ("meta", "demand", "price", "capacity", "exact_flows", "observed_flows")
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise MarketError(f"{p}: missing array {missing[0]!r}")
    factors = None
    if "latency" not in arrays:
        parts = ("latency_base", "latency_per_app", "latency_per_day")
        if any(k not in arrays for k in parts):
            raise MarketError(f"{p}: missing array 'latency' (or its three factors)")
        factors = tuple(arrays[k] for k in parts)
        try:
            arrays["latency"] = latency_from_factors(*factors)
        except ValueError as exc:
            raise MarketError(f"{p}: latency factors do not fit together ({exc})") from None
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as exc:
        raise MarketError(f"{p}: meta: not valid JSON ({exc.msg})") from None
    if not isinstance(meta, dict) or meta.get("format") != PANEL_FORMAT:
        raise MarketError(f"{p}: meta.format: expected {PANEL_FORMAT!r}")
    if meta.get("version") != PANEL_FORMAT_VERSION:
        raise MarketError(
            f"{p}: meta.version: this prillm reads version {PANEL_FORMAT_VERSION}, "
            f"got {meta.get('version')!r}"
        )
    try:
        markets = [
            Market(
                demand=arrays["demand"][t],
                price=arrays["price"][t],
                capacity=arrays["capacity"][t],
                latency=arrays["latency"][t],
                provider_ids=meta["provider_ids"],
                user_ids=meta["user_ids"],
                observed_flows=arrays["observed_flows"][t],
            )
            for t in range(arrays["demand"].shape[0])
        ]
        return CalibrationPanel(
            markets=markets,
            exact_flows=arrays["exact_flows"],
            true_preferences=Preferences.from_dict(meta["true_preferences"]),
            dates=tuple(meta["dates"]),
            noise=meta["noise"],
            segments={k: tuple(v) for k, v in meta["segments"].items()},
            user_categories=dict(meta["user_categories"]),
            seed=int(meta["seed"]),
            segment_users={k: tuple(v) for k, v in meta["segment_users"].items()},
            info=meta["info"],
            name=meta["name"],
            latency_factors=factors,
        )
    except (KeyError, IndexError) as exc:
        raise MarketError(f"{p}: missing or inconsistent field {exc}") from None
    except MarketError as exc:
        raise MarketError(f"{p}: {exc}") from None
