"""The OpenRouter design of a planted panel: days built from public figures (the shipped panel).

The paper's 2025 app x model flows were never released, and no public 2025 app x model flows
exist. This module builds the next best thing for testing calibration: daily markets whose
*inputs* come from public OpenRouter figures where they exist (list prices day by day, relative
token volumes, app names and categories, throughput and latency where the model was measured) and
whose *flows* are exact equilibria (Eq. 13) of a game with planted preferences, observed through
stated noise (:func:`prillm.data.generate_planted_panel`, whose default design this is). Everything
generated is drawn from one seed; ``DATASHEET.md`` lists every choice.

Construction (defaults in brackets)
-----------------------------------
Providers
    The ``n_providers`` [20] most-used *standard (paid)* model variants of
    ``models_daily_2025.csv`` that are listed with a positive price on every panel day.
    ``T_j`` = their real mean daily tokens over 2025-04-01..05-08 (days they appear).
Prices
    The *list* price ``P_jt`` is the real input list price in effect on day ``t``
    (``price_history.csv``, a fact). OpenRouter lists headline prices; what an app actually pays
    differs through routing to other endpoints, cache discounts and promotions. The market's
    (effective) price is :math:`p_{jt} = P_{jt} e^{\\sigma_p y_{jt} - \\sigma_p^2/2}` with ``y`` a
    stationary standard-normal AR(1) per provider [``price_sigma`` 0.2, ``price_phi`` 0.5]: a
    mean-one generated factor, drawn after everything else. List prices barely move over the
    window, and without day-to-day price movements the weights ``w_q``, ``w_d`` are not
    identified: only prices moving relative to each other fix the scale of the costs once
    ``w_p = 1``. ``b_j`` and the segments are set from the list prices.
Throughput, latency
    ``v_j`` and the base latency ``L_j`` are the real 2026 medians (``performance_2026.csv``)
    where the model was measured; otherwise drawn from a lognormal fitted to that table.
Capacity (the paper's rule adapted)
    The paper sets :math:`\\alpha_j = T_j / v_j` (weekly tokens over tokens per second). Taken
    literally that is a time, not a capacity in tokens per period, and it makes faster models
    *less* capacious. We keep its two ingredients — the real volume sets the scale, throughput
    modulates it — in our units (tokens per day):
    :math:`\\alpha_j = T_j / q_j` with planted utilisation
    :math:`q_j = \\mathrm{clip}(q_0 \\, \\bar v / v_j, 0.3, 1.5)` [``q_0 = 0.8``], ``\\bar v``
    the geometric mean throughput: at its real volume a typical model runs at 80 % of capacity,
    a faster one less congested.
Apps (users)
    Real app names and categories of the 2026 app x model snapshot: about 40 % coding apps
    (``cli-agent``, ``ide-extension``, ``programming-app``, not ``personal-agent``), up to 3
    translation apps (name contains "translat"; the source has no translation category) and the
    largest other apps. Demand share :math:`s_i \\propto` (snapshot tokens)^(1/3) (compresses
    the 2026 range), total = :math:`\\sum_j T_j`.
Day-to-day variation
    :math:`D_{it} = S s_i w_{\\mathrm{wd}(t)} e^{x_{it}}`, ``w`` the real weekday profile of the
    selected models' tokens (complete days of 2025-04..05), ``x`` a stationary AR(1) per app
    [phi 0.8, sd 0.15]. Latency :math:`d_{ijt} = L_j u_i e^{e_{jt}}`, app factor
    ``u_i ~ LogNormal(0, 0.25)``, daily jitter ``e_jt ~ N(0, 0.1^2)``. Capacity is constant.
Planted preferences
    ``w_p = 1``, ``w_q`` [1.2 USD/M per unit congestion], ``w_d`` [0.4 USD/M per second],
    :math:`b_j = \\bar p_j + w_d L_j \\bar u + w_q q_j + \\epsilon_j`, ``eps ~ N(0, 0.1^2)``:
    the perceived value at which the real volumes would roughly clear (:math:`\\bar p_j` the median
    list price), plus a planted quirk.
Flows (the generator's part)
    Exact equilibrium of each day (``solve_equilibrium``, certified); observed flows =
    exact x ``exp(sigma z - sigma^2/2)`` [sigma 0.2], zeros stay zero, demand noise-free.
Segments (Table 1 of the paper)
    Premium: median list price > 1 USD/M; Economy: < 1 USD/M; Coding / Translation: the segment's
    apps and the providers that carry at least 2 % of their exact traffic.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from prillm._validation import MarketError, check_integer
from prillm.data import openrouter
from prillm.data.generate import DesignDraw, _check_float
from prillm.data.table import Table
from prillm.market import Preferences

__all__ = ["OpenRouterDesign"]

_CODING = {"cli-agent", "ide-extension", "programming-app"}
_MIN_SEGMENT_SHARE = 0.02
_TABLES = ("models_daily", "price_history", "app_flows", "performance")


@dataclass(frozen=True)
class OpenRouterDesign:
    """OpenRouter-shaped days with planted preferences (see the module docstring).

    Parameters
    ----------
    n_providers, n_users
        Market size (``n_users >= 3``: coding, translation and other apps).
    w_q, w_d
        Planted congestion and latency weights of Eq. (1) (``w_p = 1``).
    utilisation
        ``q_0``, the planted utilisation of a model of typical throughput at its real volume.
        Each model's ``q_j = q_0 v_bar / v_j`` is clipped to ``[0.3, 1.5]`` (the values used
        are recorded in the panel's ``info["generated"]["target_utilisation"]``), so a ``q_0``
        far outside that range gives every model the same bound.
    demand_sigma, demand_phi
        Stationary standard deviation and persistence of the AR(1) log-demand of each app.
    latency_jitter, user_latency_sigma
        Sigma of the daily latency jitter per provider and of the fixed per-app latency factor.
    value_sigma
        Sigma (USD per 1M tokens) of the planted deviation of ``b_j`` from the clearing value.
    price_sigma, price_phi
        Stationary log-standard deviation and day-to-day persistence of the generated mean-one
        factor between the list price and the effective price (0 gives the list prices).
    tables
        The public tables to use (keys ``models_daily``, ``price_history``, ``app_flows``,
        ``performance``); default: the shipped ones.

    Raises
    ------
    prillm.MarketError
        For invalid parameters; on drawing, for too few eligible providers or apps.

    Examples
    --------
    >>> from prillm.data import generate_planted_panel
    >>> design = OpenRouterDesign(n_providers=4, n_users=5, price_sigma=0.0)
    >>> panel = generate_planted_panel(seed=3, n_days=2, design=design)
    >>> bool((panel.price == panel.list_price).all())
    True
    """

    n_providers: int = 20
    n_users: int = 20
    w_q: float = 1.2
    w_d: float = 0.4
    utilisation: float = 0.8
    demand_sigma: float = 0.15
    demand_phi: float = 0.8
    latency_jitter: float = 0.1
    user_latency_sigma: float = 0.25
    value_sigma: float = 0.1
    price_sigma: float = 0.2
    price_phi: float = 0.5
    tables: dict[str, Table] | None = None
    name = "openrouter"

    def __post_init__(self) -> None:
        check_integer("n_providers", self.n_providers, 2)
        check_integer("n_users", self.n_users, 3)
        for key in ("w_q", "utilisation"):
            _check_float(key, getattr(self, key), positive=True)
        for key in (
            "w_d",
            "demand_sigma",
            "latency_jitter",
            "user_latency_sigma",
            "value_sigma",
            "price_sigma",
        ):
            _check_float(key, getattr(self, key), positive=False)
        for key in ("demand_phi", "price_phi"):
            value = getattr(self, key)
            _check_float(key, value, positive=False)
            if not value < 1:
                raise MarketError(f"{key}: must be in [0, 1), got {value!r}")
        unknown = sorted(set(self.tables or {}) - set(_TABLES))
        if unknown:
            raise MarketError(f"tables: unknown table {unknown[0]!r}; known: {', '.join(_TABLES)}")

    def parameters(self) -> dict[str, Any]:
        """The design's parameters (JSON-able; the tables are recorded in ``info["facts"]``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "tables"}

    def draw(self, rng: np.random.Generator, dates: tuple[str, ...]) -> DesignDraw:
        """Draw the days (the module docstring's construction, in that order from ``rng``)."""
        n_days = len(dates)
        given = dict(self.tables or {})
        loaders = {
            "models_daily": openrouter.load_models_daily,
            "price_history": openrouter.load_price_history,
            "app_flows": openrouter.load_app_flows,
            "performance": openrouter.load_performance,
        }
        daily, history, apps_t, perf = (
            given[key] if key in given else load() for key, load in loaders.items()
        )

        # ---- providers: real volumes and daily list prices
        provider_ids, volume, list_price = _providers(daily, history, dates, self.n_providers)
        m = len(provider_ids)
        throughput, base_latency, measured = _performance(perf, provider_ids, rng)
        v_bar = float(np.exp(np.log(throughput).mean()))
        q_target = np.clip(self.utilisation * v_bar / throughput, 0.3, 1.5)
        capacity = volume / q_target

        # ---- apps: real names and categories, generated demand
        user_ids, categories, app_tokens = _apps(apps_t, self.n_users)
        n = len(user_ids)
        share = app_tokens ** (1.0 / 3.0)
        share = share / share.sum()
        weekday = _weekday_profile(daily, provider_ids)
        ar = self.demand_sigma * _ar1(rng, self.demand_phi, (n_days, n))
        wd = np.array([weekday[_dt.date.fromisoformat(d).weekday()] for d in dates])
        demand = volume.sum() * share[None, :] * wd[:, None] * np.exp(ar)

        # ---- latency: provider base x app factor x daily jitter (seconds)
        user_factor = np.exp(self.user_latency_sigma * rng.standard_normal(n))
        jitter = np.exp(self.latency_jitter * rng.standard_normal((n_days, m)))

        # ---- planted preferences
        w_q, w_d = self.w_q, self.w_d
        eps = self.value_sigma * rng.standard_normal(m)
        p_bar = np.median(list_price, axis=0)
        b = p_bar + w_d * base_latency * float(user_factor.mean()) + w_q * q_target + eps
        prefs = Preferences(w_q=w_q, w_d=w_d, b=b, provider_ids=provider_ids)

        # ---- effective prices: list price x mean-one AR(1) lognormal factor (drawn last)
        sigma = self.price_sigma
        price_factor = np.exp(sigma * _ar1(rng, self.price_phi, (n_days, m)) - 0.5 * sigma**2)
        price = list_price * price_factor

        def segments(exact: np.ndarray) -> tuple[dict, dict]:
            return _segments(provider_ids, user_ids, categories, p_bar, exact)

        info: dict[str, Any] = {
            "facts": {
                "source": f"Source: {openrouter.SOURCE}, as of "
                f"{daily.meta.get('as_of', '?')} (volumes), "
                f"{history.meta.get('as_of', '?')} (price ledger), 2026-09 (app names), "
                f"{perf.meta.get('as_of', '?')} (throughput, latency)",
                "real_daily_tokens": dict(zip(provider_ids, volume.tolist(), strict=True)),
                "throughput_tok_s": dict(zip(provider_ids, throughput.tolist(), strict=True)),
                "base_latency_s": dict(zip(provider_ids, base_latency.tolist(), strict=True)),
                "performance_measured": dict(zip(provider_ids, measured, strict=True)),
                "app_snapshot_tokens": dict(zip(user_ids, app_tokens.tolist(), strict=True)),
                "weekday_profile": [float(x) for x in weekday],
                "list_price_usd_per_mtok": _by_provider(provider_ids, list_price),
            },
            "generated": {
                "target_utilisation": dict(zip(provider_ids, q_target.tolist(), strict=True)),
                "app_demand_share": dict(zip(user_ids, share.tolist(), strict=True)),
                "app_latency_factor": dict(zip(user_ids, user_factor.tolist(), strict=True)),
                "value_deviation": dict(zip(provider_ids, eps.tolist(), strict=True)),
                "price_factor": _by_provider(provider_ids, price_factor),
                "price_rule": "price = list_price * price_factor, factor = "
                "exp(price_sigma * y - price_sigma**2 / 2), y a stationary N(0, 1) AR(1) per "
                "provider with persistence price_phi",
            },
        }
        return DesignDraw(
            provider_ids=provider_ids,
            user_ids=user_ids,
            demand=demand,
            price=price,
            capacity=capacity,
            truth=prefs,
            latency_factors=(base_latency, user_factor, jitter),
            user_categories=dict(zip(user_ids, categories, strict=True)),
            segments=segments,
            parameters=self.parameters(),
            info=info,
        )


# ---------------------------------------------------------------------- pieces
def _ar1(rng: np.random.Generator, phi: float, shape: tuple[int, int]) -> np.ndarray:
    """Stationary AR(1) with unit variance along axis 0, one independent series per column."""
    out = np.empty(shape)
    out[0] = rng.standard_normal(shape[1])
    innov = math.sqrt(1.0 - phi**2)
    for t in range(1, shape[0]):
        out[t] = phi * out[t - 1] + innov * rng.standard_normal(shape[1])
    return out


def _by_provider(provider_ids: tuple[str, ...], values: np.ndarray) -> dict[str, list[float]]:
    """Columns of a ``(T, m)`` array keyed by provider id (JSON-able)."""
    return {pid: values[:, j].tolist() for j, pid in enumerate(provider_ids)}


def _providers(
    daily: Table, history: Table, dates: tuple[str, ...], count: int
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    standard = daily.where("variant", "standard")
    candidates = []
    for model_id in standard.unique("model_id"):
        rows = standard.where("model_id", model_id)
        mean_tokens = float(rows["tokens"].mean())
        candidates.append((mean_tokens, model_id))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    chosen: list[tuple[str, float, list[float]]] = []
    for mean_tokens, model_id in candidates:
        prices = [openrouter.price_on(history, model_id, d)[0] for d in dates]
        if all(math.isfinite(p) and p > 0 for p in prices):
            chosen.append((model_id, mean_tokens, prices))
        if len(chosen) == count:
            break
    if len(chosen) < count:
        raise MarketError(
            f"n_providers: only {len(chosen)} models are listed with a price on every day "
            f"{dates[0]}..{dates[-1]}, asked for {count}"
        )
    ids = tuple(c[0] for c in chosen)
    volume = np.array([c[1] for c in chosen])
    price = np.array([c[2] for c in chosen]).T
    return ids, volume, price


def _performance(
    perf: Table, provider_ids: tuple[str, ...], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    ids = perf["model_id"]
    tps_all = np.asarray(perf["throughput_tok_s_median"])
    lat_all = np.asarray(perf["latency_s_median"])
    log_tps, log_lat = np.log(tps_all), np.log(lat_all)
    draws_tps = np.exp(log_tps.mean() + log_tps.std() * rng.standard_normal(len(provider_ids)))
    draws_lat = np.exp(log_lat.mean() + log_lat.std() * rng.standard_normal(len(provider_ids)))
    tps = np.empty(len(provider_ids))
    lat = np.empty(len(provider_ids))
    measured = []
    for j, pid in enumerate(provider_ids):
        k = ids.index(pid) if pid in ids else -1
        measured.append(k >= 0)
        tps[j] = tps_all[k] if k >= 0 else draws_tps[j]
        lat[j] = lat_all[k] if k >= 0 else draws_lat[j]
    return tps, lat, measured


def _apps(apps: Table, count: int) -> tuple[tuple[str, ...], list[str], np.ndarray]:
    totals: dict[str, int] = {}
    cats: dict[str, str] = {}
    for row in apps.rows():
        totals[row["app"]] = totals.get(row["app"], 0) + row["tokens"]
        cats[row["app"]] = row["app_categories"]

    def category(app: str) -> str:
        parts = set(filter(None, cats[app].split("|")))
        if "translat" in app.lower():
            return "translation"
        if parts & _CODING and "personal-agent" not in parts:
            return "coding"
        first = cats[app].split("|")[0]
        return first or "other"

    ranked = sorted(totals, key=lambda a: (-totals[a], a))
    by_cat: dict[str, list[str]] = {"coding": [], "translation": [], "rest": []}
    for app in ranked:
        c = category(app)
        by_cat[c if c in ("coding", "translation") else "rest"].append(app)
    n_trans = min(3, len(by_cat["translation"]), max(1, round(0.15 * count)))
    n_coding = min(len(by_cat["coding"]), max(1, round(0.4 * count)))
    n_rest = count - n_trans - n_coding
    if n_rest < 1 or n_rest > len(by_cat["rest"]):
        raise MarketError(f"n_users: cannot pick {count} apps from the app table")
    chosen = by_cat["coding"][:n_coding] + by_cat["translation"][:n_trans]
    chosen += by_cat["rest"][:n_rest]
    return (
        tuple(chosen),
        [category(a) for a in chosen],
        np.array([totals[a] for a in chosen], float),
    )


def _weekday_profile(daily: Table, provider_ids: tuple[str, ...]) -> np.ndarray:
    keep = np.array([mid in provider_ids for mid in daily["model_id"]], dtype=bool) & (
        np.asarray(daily["day_complete"]) == 1
    )
    sub = daily.filter(keep)
    per_day: dict[str, float] = {}
    for d, tok in zip(sub["date"], sub["tokens"].tolist(), strict=True):
        per_day[d] = per_day.get(d, 0.0) + tok
    sums = np.zeros(7)
    counts = np.zeros(7)
    mean = float(np.mean(list(per_day.values())))
    for d, total in per_day.items():
        wd = _dt.date.fromisoformat(d).weekday()
        sums[wd] += total / mean
        counts[wd] += 1
    profile = np.where(counts > 0, sums / np.maximum(counts, 1), 1.0)
    return profile / profile.mean()


def _segments(
    provider_ids: tuple[str, ...],
    user_ids: tuple[str, ...],
    categories: list[str],
    p_bar: np.ndarray,
    exact: np.ndarray,
) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    segments = {
        "Premium": tuple(p for p, x in zip(provider_ids, p_bar, strict=True) if x > 1.0),
        "Economy": tuple(p for p, x in zip(provider_ids, p_bar, strict=True) if x < 1.0),
    }
    segment_users = {"Premium": user_ids, "Economy": user_ids}
    for name, cat in (("Coding", "coding"), ("Translation", "translation")):
        rows = [i for i, c in enumerate(categories) if c == cat]
        if not rows:
            continue
        traffic = exact[:, rows].sum(axis=(0, 1))
        share = traffic / traffic.sum()
        segments[name] = tuple(
            p for p, s in zip(provider_ids, share, strict=True) if s >= _MIN_SEGMENT_SHARE
        )
        segment_users[name] = tuple(user_ids[i] for i in rows)
    return segments, segment_users
