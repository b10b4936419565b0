"""Each rival as a scale-free feature vector: its objective factors and its relation to the target.

The deep aggregation network scores the rivals of a target provider ``s`` (paper Section 5.1:
``score_j = SAB(p_j, {d_ij}, alpha_j, b_j; theta, O, {D_i})``). It sees each rival ``j`` as the
vector below, computed from the market at its *current* prices and from the user-side
equilibrium there (Eq. 13). Every feature is invariant to the units of money and of tokens:

* tokens enter as shares of the total demand ``D = sum_i D_i`` or as ratios of capacities, so
  multiplying every demand and capacity by the same factor changes nothing (the equilibrium flows
  scale with them);
* money enters in units of ``u``, the mean of ``w_p p_k`` over all providers (the target
  included; when every price is zero, the congestion cost ``w_q D / sum_k alpha_k``), so
  multiplying prices, perceived values and the weights ``w_q``, ``w_d`` by the same factor
  changes nothing either.

So one network serves markets of any size (any number of rivals, any number of users) and any
units. Latency statistics are taken over users weighted by their demand (``omega_i = D_i / D``;
uniform when there is no demand); ``bar d_j = sum_i omega_i d_ij``. Fixed costs are
``c_ij = w_p p_j + w_d d_ij - b_j`` (Eq. 1) and ``bar c_j = sum_i omega_i c_ij``.

==  ============================  =================================================================
#   name                          definition (rival ``j``, target ``s``, ``R`` rivals)
==  ============================  =================================================================
0   ``price``                     ``w_p p_j / u``
1   ``price_minus_target``        ``w_p (p_j - p_s) / u``
2   ``log_price_ratio``           ``log((p_j + e) / (p_s + e))``, ``e`` = 1 % of the mean price
3   ``value_minus_target``        ``(b_j - b_s) / u`` (perceived value, Eq. 1)
4   ``latency_mean_minus_target`` ``w_d (bar d_j - bar d_s) / u``
5   ``latency_std``               ``w_d`` times the weighted standard deviation of ``d_.j``, ``/ u``
6   ``latency_min_minus_target``  ``w_d (min_i d_ij - bar d_s) / u``
7   ``latency_max_minus_target``  ``w_d (max_i d_ij - bar d_s) / u``
8   ``cost_minus_target``         ``(bar c_j - bar c_s) / u``: the net fixed-cost gap
9   ``capacity_share``            ``alpha_j / sum_k alpha_k`` (all providers)
10  ``log_capacity_ratio``        ``log(alpha_j / alpha_s)``
11  ``log_capacity_per_demand``   ``log(alpha_j / D)``
12  ``log_congestion_cost``       ``log(w_q D / (alpha_j u))``: all demand on ``j``, in price units
13  ``share``                     ``F_j / D`` at the current equilibrium
14  ``share_minus_target``        ``(F_j - F_s) / D``
15  ``utilisation``               ``Q_j = F_j / alpha_j`` (congestion, Eq. 1)
16  ``users_reached``             ``sum_i omega_i [f_ij > 0]``: demand share of the users of ``j``
17  ``target_share``              ``F_s / D`` (the same for every rival: context)
18  ``target_utilisation``        ``F_s / alpha_s`` (context)
19  ``inverse_rivals``            ``1 / R`` (context: the set's size)
==  ============================  =================================================================

Logarithms are clipped to ``[-20, 20]``. :data:`FEATURE_SPEC` (the names and a version) is
stamped into every weights file, so that weights trained on another feature set are refused.

References
----------
Paper Section 5.1 (the SAB's inputs), Eq. (1) (costs), Eq. (13) (the equilibrium).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from prillm.equilibrium import solve_equilibrium
from prillm.market import Market, MarketError, Preferences, game_coefficients

__all__ = [
    "FEATURE_DESCRIPTIONS",
    "FEATURE_NAMES",
    "FEATURE_SPEC",
    "FEATURE_VERSION",
    "rival_features",
    "target_index",
]

#: Version of the feature definitions (bump when a definition changes).
FEATURE_VERSION = 1
#: The features, in column order (see the module docstring for each definition).
FEATURE_NAMES: tuple[str, ...] = (
    "price",
    "price_minus_target",
    "log_price_ratio",
    "value_minus_target",
    "latency_mean_minus_target",
    "latency_std",
    "latency_min_minus_target",
    "latency_max_minus_target",
    "cost_minus_target",
    "capacity_share",
    "log_capacity_ratio",
    "log_capacity_per_demand",
    "log_congestion_cost",
    "share",
    "share_minus_target",
    "utilisation",
    "users_reached",
    "target_share",
    "target_utilisation",
    "inverse_rivals",
)
#: One line per feature: its definition (the module docstring's table, for display).
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "price": "w_p p_j / u",
    "price_minus_target": "w_p (p_j - p_s) / u",
    "log_price_ratio": "log((p_j + e) / (p_s + e)), e = 1 % of the mean price",
    "value_minus_target": "(b_j - b_s) / u",
    "latency_mean_minus_target": "w_d (mean_i d_ij - mean_i d_is) / u, demand-weighted means",
    "latency_std": "w_d std_i(d_ij) / u, demand-weighted",
    "latency_min_minus_target": "w_d (min_i d_ij - mean_i d_is) / u",
    "latency_max_minus_target": "w_d (max_i d_ij - mean_i d_is) / u",
    "cost_minus_target": "(mean_i c_ij - mean_i c_is) / u, c_ij = w_p p_j + w_d d_ij - b_j",
    "capacity_share": "alpha_j / sum_k alpha_k",
    "log_capacity_ratio": "log(alpha_j / alpha_s)",
    "log_capacity_per_demand": "log(alpha_j / D)",
    "log_congestion_cost": "log(w_q D / (alpha_j u))",
    "share": "F_j / D at the current equilibrium",
    "share_minus_target": "(F_j - F_s) / D",
    "utilisation": "F_j / alpha_j",
    "users_reached": "demand share of the users that use j",
    "target_share": "F_s / D (context)",
    "target_utilisation": "F_s / alpha_s (context)",
    "inverse_rivals": "1 / R (context)",
}
#: What a weights file must have been trained on.
FEATURE_SPEC: dict[str, Any] = {"version": FEATURE_VERSION, "names": list(FEATURE_NAMES)}

_LOG_CLIP = 20.0


def target_index(market: Market, target: str | int) -> int:
    """Position of ``target`` in ``market``; a clear error for an unknown one or no rivals.

    Raises
    ------
    prillm.MarketError
        For an unknown target id or position, or a market whose only provider is the target.
    """
    if not isinstance(market, Market):
        raise MarketError(f"market: expected a prillm.Market, got {type(market).__name__}")
    if isinstance(target, bool) or not isinstance(target, (str, int, np.integer)):
        raise MarketError(f"target: expected a provider id or position, got {target!r}")
    try:
        s = market.provider_index(target)
    except MarketError as exc:
        raise MarketError(f"target: {exc}") from None
    if market.n_providers < 2:
        raise MarketError(
            f"market: the target {market.provider_ids[s]!r} has no rivals to abstract "
            "(the market has a single provider)"
        )
    return s


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.clip(np.log(x), -_LOG_CLIP, _LOG_CLIP)


def rival_features(
    market: Market,
    prefs: Preferences | None,
    target: str | int,
    flows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The feature matrix of the target's rivals (one row per rival, :data:`FEATURE_NAMES`).

    Parameters
    ----------
    market, prefs
        The market at its current prices and the users' preferences (``None``: the defaults).
    target
        The target provider (id or position).
    flows
        The equilibrium flows at the current prices, ``(n, m)``, if already known (otherwise
        they are solved for with :func:`prillm.solve_equilibrium`).

    Returns
    -------
    features, rivals
        ``(R, F)`` float64 features and the ``R`` rivals' positions in ``market`` (in market
        order).

    Raises
    ------
    prillm.MarketError
        For an unknown target or a market without rivals.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> mkt = Market(demand=[1e6, 2e6], price=[1.0, 2.0, 0.5], capacity=[1e6, 2e6, 1e6],
    ...              latency=0.5, provider_ids=["s", "a", "b"])
    >>> x, rivals = rival_features(mkt, Preferences(w_q=1.0, w_d=0.2), "s")
    >>> x.shape, rivals.tolist()
    ((2, 20), [1, 2])
    >>> float(x[0, FEATURE_NAMES.index("capacity_share")])
    0.5
    """
    prefs = Preferences() if prefs is None else prefs
    s = target_index(market, target)
    w_p, w_q, w_d, b = prefs.values_for(market)
    m = market.n_providers
    rivals = np.flatnonzero(np.arange(m) != s)
    if flows is None:
        flows = solve_equilibrium(market, prefs).flows
    flows = np.asarray(flows, dtype=float)
    if flows.shape != market.shape:
        raise MarketError(f"flows: expected shape {market.shape}, got {flows.shape}")
    demand = market.demand
    total = float(demand.sum())
    omega = demand / total if total > 0 else np.full(market.n_users, 1.0 / market.n_users)
    price = market.price
    cap = market.capacity
    lat = market.latency
    unit = float(np.mean(np.abs(w_p * price)))
    if not unit > 0:
        unit = w_q * max(total, 1.0) / float(cap.sum())
    cost = game_coefficients(market, prefs).cost
    cbar = omega @ cost
    dbar = omega @ lat
    dstd = np.sqrt(np.maximum(omega @ (lat - dbar[None, :]) ** 2, 0.0))
    loads = flows.sum(axis=0)
    tot = total if total > 0 else 1.0
    eps = 0.01 * float(price.mean()) + 1e-300
    share = loads / tot
    reached = omega @ (flows > 0)
    r = rivals
    cols = [
        w_p * price[r] / unit,
        w_p * (price[r] - price[s]) / unit,
        _log((price[r] + eps) / (price[s] + eps)),
        (b[r] - b[s]) / unit,
        w_d * (dbar[r] - dbar[s]) / unit,
        w_d * dstd[r] / unit,
        w_d * (lat[:, r].min(axis=0) - dbar[s]) / unit,
        w_d * (lat[:, r].max(axis=0) - dbar[s]) / unit,
        (cbar[r] - cbar[s]) / unit,
        cap[r] / cap.sum(),
        _log(cap[r] / cap[s]),
        _log(cap[r] / tot),
        _log(w_q * tot / (cap[r] * unit)),
        share[r],
        share[r] - share[s],
        loads[r] / cap[r],
        reached[r],
        np.full(r.size, share[s]),
        np.full(r.size, loads[s] / cap[s]),
        np.full(r.size, 1.0 / r.size),
    ]
    x = np.stack(cols, axis=1).astype(float)
    if not np.isfinite(x).all():  # pragma: no cover - every input is validated finite
        raise MarketError("features: non-finite value (check the market's magnitudes)")
    return x, rivals
