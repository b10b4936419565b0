"""The market model: users (apps), providers (LLM services) and the users' preferences.

Units (used everywhere in prillm)
---------------------------------
=================  ==========================================  =================================
quantity           unit                                        symbol in the paper
=================  ==========================================  =================================
price              USD per million tokens                      :math:`p_j`
demand, flows      tokens per period (a day, unless stated)    :math:`D_i`, :math:`f_{ij}`
capacity           tokens per period                           :math:`\\alpha_j`
congestion         load / capacity (dimensionless)             :math:`Q_j = F_j/\\alpha_j`
latency            seconds                                     :math:`d_{ij}`
``w_q``            USD per million tokens per unit congestion  :math:`w_q`
``w_d``            USD per million tokens per second           :math:`w_d`
``b``              USD per million tokens                      :math:`b_j`
=================  ==========================================  =================================

With these units a user's marginal cost ``w_p p_j + w_q Q_j + w_d d_ij - b_j`` (Eq. 1) is a
generalised price in USD per million tokens, and ``price * flow / 1e6`` is money in USD.

The market file format (JSON, ``"format": "prillm-market"``, ``"version": 1``) is documented in
:func:`Market.from_dict`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm._dd import dd_add, dd_sub, two_prod
from prillm._json_fields import check_format, check_units, entries, ident, json_type, number
from prillm._validation import MarketError, as_float_array, check_ids, check_number
from prillm.io import atomic_write_json, read_json

__all__ = [
    "MARKET_FORMAT",
    "MARKET_FORMAT_VERSION",
    "PREFERENCES_FORMAT",
    "TOKENS_PER_PRICE_UNIT",
    "GameCoefficients",
    "Market",
    "MarketError",
    "Preferences",
    "game_coefficients",
]

#: Prices are quoted per this many tokens (one million).
TOKENS_PER_PRICE_UNIT = 1e6
MARKET_FORMAT = "prillm-market"
MARKET_FORMAT_VERSION = 1
PREFERENCES_FORMAT = "prillm-preferences"
UNITS = {
    "price": "USD per 1M tokens",
    "demand": "tokens per period",
    "capacity": "tokens per period",
    "latency": "seconds",
    "observed_flows": "tokens per period",
}
PREFERENCE_UNITS = {
    "w_p": "dimensionless (normalised to 1, Section 4)",
    "w_q": "USD per 1M tokens per unit congestion (load/capacity)",
    "w_d": "USD per 1M tokens per second of latency",
    "b": "USD per 1M tokens",
}


@dataclass(frozen=True, eq=False)
class Preferences:
    """The users' preference parameters :math:`\\theta = (w_p, w_q, w_d, \\{b_j\\})` of Eq. (1).

    Parameters
    ----------
    w_q
        Weight of congestion :math:`Q_j` (must be > 0: it makes the game strictly convex, Eq. 8).
    w_d
        Weight of latency :math:`d_{ij}`.
    b
        Perceived value of each provider (scalar broadcast to every provider, or one per provider).
    w_p
        Weight of price (must be > 0: users prefer cheaper routes); 1 by default, the
        normalisation of Section 4.
    provider_ids
        Optional provider ids that ``b`` refers to. When given, :meth:`values_for` aligns ``b`` to a
        market's providers by id (and rejects unknown or missing ids); otherwise by position.

    Examples
    --------
    >>> prefs = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0], provider_ids=["a", "b"])
    >>> prefs.w_p
    1.0
    """

    w_q: float = 1.0
    w_d: float = 1.0
    b: Any = 0.0
    w_p: float = 1.0
    provider_ids: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        w_p = float(as_float_array("w_p", self.w_p, (), allow_negative=False, allow_zero=False))
        w_q = float(as_float_array("w_q", self.w_q, (), allow_negative=False, allow_zero=False))
        w_d = float(as_float_array("w_d", self.w_d, ()))
        b = as_float_array("b", self.b)
        if b.ndim > 1:
            raise MarketError(
                f"b: expected a scalar or one value per provider, got shape {b.shape}"
            )
        ids = self.provider_ids
        if ids is not None:
            if b.ndim == 0:
                b = as_float_array("b", np.full(len(tuple(ids)), float(b)))
            ids = check_ids("provider_ids", ids, b.shape[0], "p")
        object.__setattr__(self, "w_p", w_p)
        object.__setattr__(self, "w_q", w_q)
        object.__setattr__(self, "w_d", w_d)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "provider_ids", ids)

    def values_for(self, market: Market) -> tuple[float, float, float, np.ndarray]:
        """Return ``(w_p, w_q, w_d, b)`` with ``b`` aligned to ``market``'s providers.

        Raises
        ------
        MarketError
            If ``b`` has the wrong length, or names a provider the market does not have (or misses
            one it has).
        """
        m = market.n_providers
        if self.b.ndim == 0:
            return self.w_p, self.w_q, self.w_d, np.full(m, float(self.b))
        if self.provider_ids is None:
            if self.b.shape[0] != m:
                raise MarketError(
                    f"b: expected {m} values (one per provider), got {self.b.shape[0]}"
                )
            return self.w_p, self.w_q, self.w_d, np.array(self.b)
        lookup = dict(zip(self.provider_ids, self.b, strict=True))
        unknown = [pid for pid in self.provider_ids if pid not in market.provider_index_map]
        if unknown:
            raise MarketError(f"b: unknown provider id {unknown[0]!r} (not in the market)")
        missing = [pid for pid in market.provider_ids if pid not in lookup]
        if missing:
            raise MarketError(f"b: no value for provider id {missing[0]!r}")
        return self.w_p, self.w_q, self.w_d, np.array([lookup[p] for p in market.provider_ids])

    def replace(self, **changes: Any) -> Preferences:
        """Return a copy with some fields changed."""
        values = {
            "w_q": self.w_q,
            "w_d": self.w_d,
            "b": self.b,
            "w_p": self.w_p,
            "provider_ids": self.provider_ids,
        }
        values.update(changes)
        return Preferences(**values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Preferences):
            return NotImplemented
        return (
            self.w_p == other.w_p
            and self.w_q == other.w_q
            and self.w_d == other.w_d
            and self.provider_ids == other.provider_ids
            and self.b.shape == other.b.shape
            and bool(np.array_equal(self.b, other.b))
        )

    __hash__ = None  # type: ignore[assignment]

    # ----------------------------------------------------------------- I/O
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (``b`` keyed by provider id when ids are known)."""
        if self.provider_ids is not None:
            b: Any = {pid: float(v) for pid, v in zip(self.provider_ids, self.b, strict=True)}
        elif self.b.ndim == 0:
            b = float(self.b)
        else:
            b = [float(v) for v in self.b]
        return {
            "format": PREFERENCES_FORMAT,
            "version": MARKET_FORMAT_VERSION,
            "units": dict(PREFERENCE_UNITS),
            "w_p": self.w_p,
            "w_q": self.w_q,
            "w_d": self.w_d,
            "b": b,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "preferences") -> Preferences:
        """Build preferences from :meth:`to_dict` output (``format``/``version`` optional)."""
        if not isinstance(data, Mapping):
            raise MarketError(f"{where}: expected a JSON object, got {json_type(data)}")
        sep = "." if where.endswith("preferences") else ": "
        check_format(data, PREFERENCES_FORMAT, where, MARKET_FORMAT_VERSION)
        check_units(data, PREFERENCE_UNITS, where, sep)
        known = {"format", "version", "units", "w_p", "w_q", "w_d", "b"}
        extra = sorted(set(data) - known)
        if extra:
            raise MarketError(f"{where}: unknown field {extra[0]!r}")
        try:
            weights = {
                key: check_number(key, data[key]) for key in ("w_p", "w_q", "w_d") if key in data
            }
            b = data.get("b", 0.0)
            ids = None
            if isinstance(b, Mapping):
                ids = list(b.keys())
                b = [check_number(f"b[{key!r}]", value) for key, value in b.items()]
            elif not isinstance(b, list):
                b = check_number("b", b)
            return cls(
                w_q=weights.get("w_q", 1.0),
                w_d=weights.get("w_d", 1.0),
                b=b,
                w_p=weights.get("w_p", 1.0),
                provider_ids=ids,
            )
        except MarketError as exc:
            raise MarketError(f"{where}{sep}{exc}") from None

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the preferences to ``path`` atomically (no half-written file on failure)."""
        atomic_write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> Preferences:
        """Read preferences written by :meth:`to_json` (errors name the file and the field)."""
        return cls.from_dict(read_json(path), where=str(path))


@dataclass(frozen=True, eq=False)
class Market:
    """An LLM routing market: ``n`` users (apps) and ``m`` providers (LLM services).

    Parameters
    ----------
    demand
        Token demand :math:`D_i` of each user, shape ``(n,)``, tokens per period, >= 0.
    price
        Unit price :math:`p_j` of each provider, shape ``(m,)``, USD per million tokens.
    capacity
        Service capacity :math:`\\alpha_j`, shape ``(m,)``, tokens per period, > 0.
    latency
        Transmission delay :math:`d_{ij}` in seconds: shape ``(n, m)``, or ``(m,)`` (one value per
        provider, the same for every user), or a scalar.
    provider_ids, user_ids
        Unique non-empty strings; default ``p0, p1, ...`` and ``u0, u1, ...``.
    observed_flows
        Optional observed flows :math:`f^{real}_{ij}`, shape ``(n, m)``, tokens per period, >= 0.

    Raises
    ------
    MarketError
        On wrong shapes, NaN/inf, negative demand, price, latency or flows, non-positive capacity,
        duplicate ids, or an empty market.

    Examples
    --------
    >>> mkt = Market(demand=[3e6, 1e6], price=[2.0, 0.5], capacity=[4e6, 4e6], latency=[0.4, 0.9])
    >>> mkt.n_users, mkt.n_providers
    (2, 2)
    >>> mkt.latency.shape
    (2, 2)
    """

    demand: Any
    price: Any
    capacity: Any
    latency: Any = 0.0
    provider_ids: Sequence[str] | None = None
    user_ids: Sequence[str] | None = None
    observed_flows: Any = None
    provider_index_map: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        demand = as_float_array("demand", self.demand, allow_negative=False)
        price = as_float_array("price", self.price, allow_negative=False)
        if demand.ndim != 1:
            raise MarketError(
                f"demand: expected a 1-d array (one value per user), got shape {demand.shape}"
            )
        if price.ndim != 1:
            raise MarketError(
                f"price: expected a 1-d array (one value per provider), got shape {price.shape}"
            )
        n, m = demand.shape[0], price.shape[0]
        if n == 0:
            raise MarketError("demand: the market needs at least one user")
        if m == 0:
            raise MarketError("price: the market needs at least one provider")
        capacity = as_float_array(
            "capacity", self.capacity, (m,), allow_negative=False, allow_zero=False
        )
        lat_arr = as_float_array("latency", self.latency, allow_negative=False)
        if lat_arr.ndim == 0:
            lat_arr = np.full((n, m), float(lat_arr))
        elif lat_arr.ndim == 1:
            if lat_arr.shape[0] != m:
                raise MarketError(
                    f"latency: expected shape ({n}, {m}) or ({m},), got shape {lat_arr.shape}"
                )
            lat_arr = np.broadcast_to(lat_arr, (n, m)).copy()
        latency = as_float_array("latency", lat_arr, (n, m), allow_negative=False)
        flows = None
        if self.observed_flows is not None:
            flows = as_float_array("observed_flows", self.observed_flows, allow_negative=False)
            if flows.shape != (n, m):  # no broadcasting: one observed flow per route
                raise MarketError(
                    f"observed_flows: expected shape ({n}, {m}), got shape {flows.shape}"
                )
        provider_ids = check_ids("provider_ids", self.provider_ids, m, "p")
        user_ids = check_ids("user_ids", self.user_ids, n, "u")
        object.__setattr__(self, "demand", demand)
        object.__setattr__(self, "price", price)
        object.__setattr__(self, "capacity", capacity)
        object.__setattr__(self, "latency", latency)
        object.__setattr__(self, "observed_flows", flows)
        object.__setattr__(self, "provider_ids", provider_ids)
        object.__setattr__(self, "user_ids", user_ids)
        object.__setattr__(self, "provider_index_map", {p: k for k, p in enumerate(provider_ids)})

    # ------------------------------------------------------------- queries
    @property
    def n_users(self) -> int:
        """Number of users ``n``."""
        return int(self.demand.shape[0])

    @property
    def n_providers(self) -> int:
        """Number of providers ``m``."""
        return int(self.price.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_providers)``, the shape of the flow matrix."""
        return self.n_users, self.n_providers

    def provider_index(self, provider: str | int) -> int:
        """Position of a provider given its id (or a position, which is range-checked).

        Raises
        ------
        MarketError
            For an unknown id or an out-of-range position.
        """
        if isinstance(provider, (int, np.integer)) and not isinstance(provider, bool):
            k = int(provider)
            if not 0 <= k < self.n_providers:
                raise MarketError(
                    f"provider: index {k} out of range for {self.n_providers} providers"
                )
            return k
        if provider not in self.provider_index_map:
            raise MarketError(
                f"provider: unknown provider id {provider!r}; known ids: "
                + ", ".join(repr(p) for p in self.provider_ids[:10])
                + (" ..." if self.n_providers > 10 else "")
            )
        return self.provider_index_map[provider]

    def replace(self, **changes: Any) -> Market:
        """Return a copy with some fields replaced (validated again)."""
        values: dict[str, Any] = {
            "demand": self.demand,
            "price": self.price,
            "capacity": self.capacity,
            "latency": self.latency,
            "provider_ids": self.provider_ids,
            "user_ids": self.user_ids,
            "observed_flows": self.observed_flows,
        }
        values.update(changes)
        return Market(**values)

    def with_price(self, provider: str | int, price: float) -> Market:
        """Return a copy in which one provider charges ``price`` (USD per million tokens)."""
        j = self.provider_index(provider)
        new = np.array(self.price)
        new[j] = price
        return self.replace(price=new)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Market):
            return NotImplemented
        same_flows = (self.observed_flows is None) == (other.observed_flows is None) and (
            self.observed_flows is None
            or bool(np.array_equal(self.observed_flows, other.observed_flows))
        )
        return (
            self.provider_ids == other.provider_ids
            and self.user_ids == other.user_ids
            and self.shape == other.shape
            and bool(np.array_equal(self.demand, other.demand))
            and bool(np.array_equal(self.price, other.price))
            and bool(np.array_equal(self.capacity, other.capacity))
            and bool(np.array_equal(self.latency, other.latency))
            and same_flows
        )

    __hash__ = None  # type: ignore[assignment]

    # ----------------------------------------------------------------- I/O
    def to_dict(self, preferences: Preferences | None = None) -> dict[str, Any]:
        """Plain-JSON representation in the versioned market file format."""
        rows_equal = bool(np.all(self.latency == self.latency[0:1, :]))
        latency: Any = (
            [float(v) for v in self.latency[0]]
            if rows_equal
            else [[float(v) for v in row] for row in self.latency]
        )
        out: dict[str, Any] = {
            "format": MARKET_FORMAT,
            "version": MARKET_FORMAT_VERSION,
            "units": dict(UNITS),
            "providers": [
                {"id": pid, "price": float(p), "capacity": float(a)}
                for pid, p, a in zip(self.provider_ids, self.price, self.capacity, strict=True)
            ],
            "users": [
                {"id": uid, "demand": float(d)}
                for uid, d in zip(self.user_ids, self.demand, strict=True)
            ],
            "latency": latency,
        }
        if self.observed_flows is not None:
            out["observed_flows"] = [[float(v) for v in row] for row in self.observed_flows]
        if preferences is not None:
            pref = preferences.to_dict()
            for key in ("format", "version", "units"):
                pref.pop(key)
            out["preferences"] = pref
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "market") -> Market:
        """Build a market from its JSON representation.

        The format (version 1)::

            {
              "format": "prillm-market", "version": 1,
              "providers": [{"id": "openai/gpt-4o", "price": 2.5, "capacity": 4.0e9}, ...],
              "users":     [{"id": "cline", "demand": 1.2e9}, ...],
              "latency":   0.6 | [one per provider] | [[one per user and provider]],
              "observed_flows": [[...]],          (optional, n x m)
              "preferences": {"w_p": 1, "w_q": 1.5, "w_d": 0.2, "b": {"openai/gpt-4o": 3.0}}
                                                  (optional)
            }

        ``units`` may be present and is informational: the units are fixed (see the module
        docstring), so a ``units`` entry that names another unit is rejected. Unknown top-level
        or per-entry fields are rejected, so a typo does not pass silently. Every number must be
        a JSON number (never a string or ``true``/``false``) that is finite as a float.

        Raises
        ------
        MarketError
            With the field name (e.g. ``providers[2].capacity``) for any malformed entry.
        """
        if not isinstance(data, Mapping):
            raise MarketError(f"{where}: expected a JSON object, got {json_type(data)}")
        check_format(data, MARKET_FORMAT, where, MARKET_FORMAT_VERSION)
        check_units(data, UNITS, where, ": ")
        known = {
            "format",
            "version",
            "units",
            "providers",
            "users",
            "latency",
            "observed_flows",
            "preferences",
        }
        extra = sorted(set(data) - known)
        if extra:
            raise MarketError(f"{where}: unknown field {extra[0]!r}")
        providers = entries(data, "providers", where, {"id", "price", "capacity"})
        users = entries(data, "users", where, {"id", "demand"})
        try:
            price = [number(p, "price", f"providers[{k}]", 0) for k, p in enumerate(providers)]
            capacity = [
                number(p, "capacity", f"providers[{k}]", 1) for k, p in enumerate(providers)
            ]
            demand = [number(u, "demand", f"users[{k}]", 0) for k, u in enumerate(users)]
            provider_ids = [ident(p, f"providers[{k}]") for k, p in enumerate(providers)]
            user_ids = [ident(u, f"users[{k}]") for k, u in enumerate(users)]
            check_ids("providers", provider_ids, len(provider_ids), "p")
            check_ids("users", user_ids, len(user_ids), "u")
            return cls(
                demand=demand,
                price=price,
                capacity=capacity,
                latency=data.get("latency", 0.0),
                provider_ids=provider_ids,
                user_ids=user_ids,
                observed_flows=data.get("observed_flows"),
            )
        except MarketError as exc:
            raise MarketError(f"{where}: {exc}") from None

    def to_json(self, path: str | os.PathLike[str], preferences: Preferences | None = None) -> None:
        """Write the market (and optionally preferences) to ``path`` atomically.

        The file is written to a temporary file in the same folder and renamed into place, so a
        failure never leaves a half-written file behind. Floats are written with ``repr`` precision,
        so :meth:`from_json` restores the market exactly.
        """
        atomic_write_json(path, self.to_dict(preferences))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> Market:
        """Read a market file (see :meth:`from_dict` for the format)."""
        return cls.from_dict(read_json(path), where=str(path))

    @staticmethod
    def preferences_from_json(path: str | os.PathLike[str]) -> Preferences | None:
        """Return the ``preferences`` section of a market file, or ``None`` if it has none."""
        data = read_json(path)
        if not isinstance(data, Mapping) or "preferences" not in data:
            return None
        return Preferences.from_dict(data["preferences"], where=f"{path}: preferences")


@dataclass(frozen=True)
class GameCoefficients:
    """The user-side game in the form the solvers use (Eq. 4-5).

    ``cost[i, j] = w_p p_j + w_d d_ij - b_j`` is the fixed part of the marginal cost and
    ``slope[j] = w_q / alpha_j`` the congestion slope, so that user ``i``'s marginal cost on
    provider ``j`` is ``cost[i, j] + slope[j] * (F_j + f_ij)`` (Eq. 12).
    """

    cost: np.ndarray
    slope: np.ndarray
    demand: np.ndarray


def game_coefficients(market: Market, prefs: Preferences) -> GameCoefficients:
    """Fixed costs and congestion slopes of the potential (Eq. 4-5) for a market and preferences.

    Prices are in USD per million tokens and flows in tokens, so ``slope`` is in USD per million
    tokens per token.
    """
    w_p, w_q, w_d, b = prefs.values_for(market)
    cost = w_p * market.price[None, :] + w_d * market.latency - b[None, :]
    slope = w_q / market.capacity
    return GameCoefficients(cost=cost, slope=slope, demand=np.asarray(market.demand))


def cost_rounding_error(market: Market, prefs: Preferences) -> np.ndarray:
    """The rounding error of :func:`game_coefficients`' ``cost``, to about 106 bits.

    ``cost + cost_rounding_error(...)`` is ``w_p p_j + w_d d_ij - b_j`` of the stored doubles
    almost exactly (error-free transformations, :mod:`prillm._dd`). The solver needs it only
    when capacities dwarf the demand and flows hinge on tiny cost differences.
    """
    w_p, _, w_d, b = prefs.values_for(market)
    cost = w_p * market.price[None, :] + w_d * market.latency - b[None, :]
    return _cost_error(cost, w_p, market.price, w_d, market.latency, b)


def _cost_error(
    cost: np.ndarray, w_p: float, price: np.ndarray, w_d: float, latency: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """``(w_p p_j + w_d d_ij - b_j) - cost`` to about 106 bits (error-free transformations)."""
    p_hi, p_lo = two_prod(np.float64(w_p), price[None, :])
    d_hi, d_lo = two_prod(np.float64(w_d), np.asarray(latency, dtype=float))
    hi, lo = dd_add(p_hi, p_lo, d_hi, d_lo)
    hi, lo = dd_add(hi, lo, -np.broadcast_to(b[None, :], hi.shape), np.zeros_like(hi))
    hi, lo = dd_sub(hi, lo, cost, np.zeros_like(cost))
    return hi + lo
