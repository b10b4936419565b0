"""The field checks of :class:`prillm.data.Panel` (each error names the field and the value).

Also the two small array helpers the panel's users share: :func:`latency_from_factors` and
:func:`aligned_b`.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from prillm._validation import MarketError, as_float_array, check_ids
from prillm.market import Preferences

__all__ = ["DEMAND_FLOOR", "DEMAND_RTOL", "aligned_b", "latency_from_factors"]

#: Largest relative gap ``|sum_j f_ij - D_i| / max(D_i, DEMAND_FLOOR)`` allowed between a
#: user's flows and its own demand (each day), for the observed flows (``flow_totals="match"``)
#: and always for the exact flows. Each user is measured against its own demand, so a small
#: user's flows cannot stray by more than a millionth of what it sends (exact equilibria meet
#: it with room: their per-user gaps are round-off, below 1e-11).
DEMAND_RTOL = 1e-6
#: The absolute floor (tokens) of the scale of :data:`DEMAND_RTOL`: a user with less demand
#: than this (including none) may miss it by ``DEMAND_RTOL * DEMAND_FLOOR`` tokens.
DEMAND_FLOOR = 1.0


def latency_from_factors(base: Any, per_user: Any, per_day: Any) -> np.ndarray:
    """``latency[t, i, j] = base[j] * per_user[i] * per_day[t, j]``, shape ``(T, n, m)``."""
    base, per_user, per_day = (np.asarray(x, dtype=float) for x in (base, per_user, per_day))
    return base[None, None, :] * per_user[None, :, None] * per_day[:, None, :]


def aligned_b(prefs: Preferences, provider_ids: Sequence[str]) -> np.ndarray:
    """The perceived values ``b`` of ``prefs`` in the order of ``provider_ids``.

    ``b`` may be a scalar (every provider), one value per provider by position, or keyed by
    provider id (:attr:`prillm.Preferences.provider_ids`), in which case every listed provider
    must have a value.

    Raises
    ------
    prillm.MarketError
        If the length is wrong or a provider has no value.

    Examples
    --------
    >>> from prillm import Preferences
    >>> aligned_b(Preferences(b=[1.0, 2.0], provider_ids=["a", "b"]), ["b", "a"]).tolist()
    [2.0, 1.0]
    """
    b = np.asarray(prefs.b, dtype=float)
    m = len(provider_ids)
    if b.ndim == 0:
        return np.full(m, float(b))
    if prefs.provider_ids is None:
        if b.shape[0] != m:
            raise MarketError(f"b: expected {m} values (one per provider), got {b.shape[0]}")
        return b.copy()
    lookup = dict(zip(prefs.provider_ids, b, strict=True))
    missing = [p for p in provider_ids if p not in lookup]
    if missing:
        raise MarketError(f"b: no value for provider id {missing[0]!r}")
    return np.array([lookup[p] for p in provider_ids], dtype=float)


# ---------------------------------------------------------------------- checks
def _per_day(name: str, value: Any, t_: int, m: int, *, positive: bool) -> np.ndarray:
    arr = as_float_array(name, value, allow_negative=False, allow_zero=not positive)
    if arr.shape == (m,):
        arr = as_float_array(name, np.broadcast_to(arr, (t_, m)).copy())
    if arr.shape != (t_, m):
        raise MarketError(f"{name}: expected shape {(t_, m)} (days, providers), got {arr.shape}")
    return arr


def _latency(value: Any, t_: int, n: int, m: int) -> np.ndarray:
    arr = as_float_array("latency", value, allow_negative=False)
    if arr.shape in ((), (m,), (n, m)):
        arr = as_float_array("latency", np.broadcast_to(arr, (t_, n, m)).copy())
    if arr.shape != (t_, n, m):
        raise MarketError(
            f"latency: expected shape {(t_, n, m)} (days, users, providers), (n, m), (m,) or a "
            f"number, got {arr.shape}"
        )
    return arr


def _factors(value: Any, latency: np.ndarray, t_: int, n: int, m: int) -> tuple[np.ndarray, ...]:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise MarketError("latency_factors: expected (base, per_user, per_day)")
    names = ("base", "per_user", "per_day")
    shapes = ((m,), (n,), (t_, m))
    out = tuple(
        as_float_array(f"latency_factors.{k}", v, s, allow_negative=False)
        for k, v, s in zip(names, value, shapes, strict=True)
    )
    if not np.array_equal(latency_from_factors(*out), latency):
        raise MarketError("latency_factors: base x per_user x per_day differs from latency")
    return out


def _check_totals(
    name: str, flows: np.ndarray, demand: np.ndarray, user_ids: tuple[str, ...], *, strict: bool
) -> None:
    total = flows.sum(axis=2)
    orphan = (demand == 0) & (total > 0)
    if orphan.any():
        t, i = (int(k) for k in np.argwhere(orphan)[0])
        raise MarketError(
            f"{name}[{t}, {i}]: user {user_ids[i]!r} has no demand on day {t} but flows "
            f"totalling {float(total[t, i])!r}"
        )
    if not strict:
        return
    gap = np.abs(total - demand) / np.maximum(demand, DEMAND_FLOOR)
    if gap.max() > DEMAND_RTOL:
        t, i = (int(k) for k in np.unravel_index(int(np.argmax(gap)), gap.shape))
        hint = (
            " (pass flow_totals='noisy' for noisy observed flows whose totals differ from the "
            "stated demand)"
            if name == "flows"
            else ""
        )
        raise MarketError(
            f"{name}[{t}, {i}]: user {user_ids[i]!r} sends {float(total[t, i])!r} tokens in total "
            f"on day {t} but its demand is {float(demand[t, i])!r} (gap {gap[t, i]:.2e} of its "
            f"demand > {DEMAND_RTOL:g}){hint}"
        )


def _truth(value: Any, provider_ids: tuple[str, ...]) -> Preferences:
    if not isinstance(value, Preferences):
        raise MarketError(f"truth: expected Preferences, got {type(value).__name__}")
    try:
        b = aligned_b(value, provider_ids)
    except MarketError as exc:
        raise MarketError(f"truth.{exc}") from None
    extra = sorted(set(value.provider_ids or ()) - set(provider_ids))
    if extra:
        raise MarketError(f"truth.b: unknown provider id {extra[0]!r} (not in the panel)")
    return value.replace(b=b, provider_ids=provider_ids)


def _dates(value: Any, t_: int) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        raise MarketError(f"dates: expected a list of ISO dates, got the string {value!r}")
    dates = tuple(value)
    if len(dates) != t_:
        raise MarketError(f"dates: expected {t_} dates (one per day), got {len(dates)}")
    parsed = []
    for k, d in enumerate(dates):
        try:
            if not isinstance(d, str) or len(d) != 10:
                raise ValueError
            parsed.append(_dt.date.fromisoformat(d))
        except ValueError:
            raise MarketError(f"dates[{k}]: expected an ISO date YYYY-MM-DD, got {d!r}") from None
    for k in range(1, len(parsed)):
        if parsed[k] <= parsed[k - 1]:
            raise MarketError(
                f"dates[{k}]: dates must be strictly increasing, got {dates[k]!r} after "
                f"{dates[k - 1]!r}"
            )
    return dates


def _json_field(name: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MarketError(f"{name}: expected a mapping, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise MarketError(f"{name}: must be JSON-able (no NaN, no arrays): {exc}") from None


def _id_map(name: str, value: Any, known: tuple[str, ...]) -> dict[str, tuple[str, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MarketError(f"{name}: expected a mapping of names to ids, got {value!r}")
    out = {}
    for key, ids in value.items():
        if not isinstance(key, str) or not key:
            raise MarketError(f"{name}: names must be non-empty strings, got {key!r}")
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise MarketError(f"{name}[{key!r}]: expected a list of ids, got {ids!r}")
        listed = tuple(ids)
        items = check_ids(f"{name}[{key!r}]", listed, len(listed), "")
        unknown = [x for x in items if x not in known]
        if unknown:
            raise MarketError(f"{name}[{key!r}]: unknown id {unknown[0]!r}")
        out[key] = items
    return out


def _categories(value: Any, user_ids: tuple[str, ...]) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise MarketError(f"user_categories: expected a mapping, got {value!r}")
    for key, cat in value.items():
        if key not in user_ids:
            raise MarketError(f"user_categories: unknown user id {key!r}")
        if not isinstance(cat, str):
            raise MarketError(f"user_categories[{key!r}]: expected a string, got {cat!r}")
    return dict(value)


def _seed(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise MarketError(f"seed: expected a non-negative integer, got {value!r}")
    return int(value)


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise MarketError(f"name: expected a non-empty string, got {value!r}")
    return value


def _noise_days(noise: Mapping[str, Any], n_days: int, idx: np.ndarray) -> dict[str, Any]:
    """The noise record of a subset: which days of the original draw the subset's days are."""
    if "days" in noise:
        original = [int(d) for d in noise["days"]]
    else:
        first = int(noise.get("first_day", 0))
        original = list(range(first, first + n_days))
    chosen = [original[k] for k in idx]
    out = {k: v for k, v in noise.items() if k not in ("days", "first_day")}
    if chosen == list(range(chosen[0], chosen[0] + len(chosen))):
        if chosen[0]:
            out["first_day"] = chosen[0]
    else:
        out["days"] = chosen
    return out
