"""``abstract``: a market reduced to the target and ``K`` rivals, by DA, MIN or AVG.

The abstracted game is an ordinary :class:`prillm.Market` with :class:`prillm.Preferences`: the
target first (unchanged), then the ``K`` abstract rivals; the users and the weights
``w_p, w_q, w_d`` are those of the original market. Any pricing method can solve it.

The users' demand is the original one for DA and AVG (they keep every rival's capacity, merged
or averaged). MIN drops rivals; by default (``min_demand="served"``) each user's demand becomes
what it routes today to the target and the kept rivals, so the dropped rivals leave with the
traffic they carry (see :mod:`prillm.abstraction.aggregate` for why).

References
----------
Paper Section 5.1 (the abstraction), Table 3 (MIN, AVG).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from prillm._jsonable import json_fields
from prillm.abstraction.aggregate import (
    RivalTensors,
    average_rivals,
    merge_rivals,
    min_rivals,
)
from prillm.abstraction.features import rival_features, target_index
from prillm.abstraction.network import ScoreNetwork
from prillm.abstraction.weights import default_network
from prillm.equilibrium import solve_equilibrium
from prillm.market import Market, MarketError, Preferences
from prillm.torch_equilibrium import torch_threads

__all__ = [
    "METHODS",
    "MIN_DEMANDS",
    "Abstraction",
    "abstract",
    "check_k",
    "rival_tensors",
    "score_rivals",
]

#: Abstraction methods: deep aggregation, the K cheapest rivals, K averaged rivals.
METHODS = ("da", "min", "avg")

#: MIN's demand: what users route today to the target and the kept rivals, or all of it.
MIN_DEMANDS = ("served", "all")


@dataclass(frozen=True, eq=False)
class Abstraction:
    """An abstracted game and how it was made.

    Attributes
    ----------
    market, prefs
        The abstracted market (target first, then the ``K`` abstract rivals) and preferences
        (``b`` keyed by the new provider ids).
    target
        The target's id (the same in both games).
    method, K
        How it was made.
    kept
        Rivals kept unchanged (ids of the original market).
    merged
        Rivals merged into the representative (DA) or averaged (AVG).
    dropped
        Rivals left out (MIN).
    representatives
        Ids of the new providers (DA: one merged rival; AVG: ``K`` averaged ones).
    score_sum, score_avg
        DA only: each rival's scores (rival id -> score); ``None`` for MIN and AVG.
    identity
        ``True`` when ``K`` is at least the number of rivals: the market is returned unchanged.
    note
        A sentence saying what was done.
    """

    market: Market
    prefs: Preferences
    target: str
    method: str
    K: int
    kept: tuple[str, ...]
    merged: tuple[str, ...]
    dropped: tuple[str, ...]
    representatives: tuple[str, ...]
    score_sum: dict[str, float] | None
    score_avg: dict[str, float] | None
    identity: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary (no market): method, K, the rivals' fates and scores."""
        names = (
            "method K target kept merged dropped representatives score_sum score_avg identity note"
        )
        return {**json_fields(self, *names.split()), "abstract_shape": list(self.market.shape)}


def check_k(k: Any) -> int:
    """``K`` as an int >= 1, or a :class:`prillm.MarketError`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MarketError(
            f"K: expected an integer >= 1 (rivals kept in the abstraction), got {k!r}"
        )
    return int(k)


def rival_tensors(market: Market, prefs: Preferences, s: int) -> RivalTensors:
    """The rivals' attributes of one market as a batch of one (float64)."""
    b = prefs.values_for(market)[3]
    r = np.arange(market.n_providers) != s

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.tensor(np.asarray(x), dtype=torch.float64)[None]

    return RivalTensors(
        price=t(market.price[r]),
        capacity=t(market.capacity[r]),
        latency=t(market.latency[:, r]),
        value=t(b[r]),
    )


def _network(weights: Any) -> ScoreNetwork:
    if isinstance(weights, ScoreNetwork):
        return weights
    if weights is None or isinstance(weights, (str, os.PathLike)):
        return default_network(weights)
    raise MarketError(
        f"weights: expected a weights file path or a ScoreNetwork, got {type(weights).__name__}"
    )


def score_rivals(
    market: Market,
    prefs: Preferences | None,
    target: str | int,
    weights: Any = None,
    flows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The network's ``(score_sum, score_avg)`` of every rival, and the rivals' positions.

    ``weights``: a weights file, a :class:`~prillm.abstraction.network.ScoreNetwork`, or
    ``None`` for the shipped weights.
    """
    prefs = Preferences() if prefs is None else prefs
    net = _network(weights)
    x, rivals = rival_features(market, prefs, target, flows=flows)
    with torch.no_grad(), torch_threads(1):  # a few hundred numbers: one thread is fastest
        s_sum, s_avg = net(torch.as_tensor(x, dtype=torch.float64))
    return s_sum.numpy().astype(float), s_avg.numpy().astype(float), rivals


def _unique(base: str, taken: set[str]) -> str:
    name = base
    k = 1
    while name in taken:
        k += 1
        name = f"{base}-{k}"
    return name


def _build(
    market: Market,
    prefs: Preferences,
    s: int,
    riv: RivalTensors,
    ids: list[str],
    demand: np.ndarray | None = None,
) -> tuple[Market, Preferences]:
    """The market of the target plus the abstract rivals ``riv`` (batch of one) named ``ids``.

    ``demand``: the users' demand in the abstracted game (default: the original one).
    """
    w_p, w_q, w_d, b = prefs.values_for(market)
    price = np.concatenate([[market.price[s]], riv.price[0].detach().numpy()])
    capacity = np.concatenate([[market.capacity[s]], riv.capacity[0].detach().numpy()])
    latency = np.concatenate([market.latency[:, [s]], riv.latency[0].detach().numpy()], axis=1)
    value = np.concatenate([[b[s]], riv.value[0].detach().numpy()])
    pids = [market.provider_ids[s], *ids]
    out = Market(
        demand=market.demand if demand is None else demand,
        price=price,
        capacity=capacity,
        latency=latency,
        provider_ids=pids,
        user_ids=market.user_ids,
    )
    return out, Preferences(w_q=w_q, w_d=w_d, b=value, w_p=w_p, provider_ids=pids)


def abstract(
    market: Market,
    prefs: Preferences | None,
    target: str | int,
    K: int = 2,
    method: str = "da",
    weights: Any = None,
    *,
    flows: np.ndarray | None = None,
    min_demand: str = "served",
) -> Abstraction:
    """The target's game reduced to ``K`` rivals (paper Section 5.1).

    Parameters
    ----------
    market, prefs
        The game at its current prices (``prefs`` ``None``: the defaults).
    target
        The provider that sets its price (id or position).
    K
        Rivals in the abstracted game (>= 1). With ``K >=`` the number of rivals the market is
        returned unchanged (``identity`` is ``True`` and ``note`` says so).
    method
        ``"da"`` (deep aggregation: the network's scores, Section 5.1), ``"min"`` (the ``K``
        rivals of lowest list price ``p_j``) or ``"avg"`` (``K`` identical averaged rivals), see
        :mod:`prillm.abstraction.aggregate`.
    weights
        DA only: a weights file or a :class:`~prillm.abstraction.network.ScoreNetwork`
        (default: the shipped weights).
    flows
        The equilibrium flows at the current prices, if known (DA's features and MIN's served
        demand need them; solved here otherwise).
    min_demand
        MIN only: ``"served"`` (default: user ``i``'s demand becomes its current flow to the
        target and the kept rivals, ``sum_{j in {s} + kept} f_ij``, so that the abstracted game
        has the true equilibrium of those providers at the current prices) or ``"all"`` (every
        user keeps its whole demand ``D_i`` while the dropped rivals' capacity leaves).

    Returns
    -------
    Abstraction
        The abstracted market and preferences, the kept / merged / dropped rivals and the scores.

    Raises
    ------
    prillm.MarketError
        For ``K < 1`` or not an integer, an unknown method, an unknown target, a market without
        rivals, or weights that cannot be used (missing, corrupt, another feature set).

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> mkt = Market(demand=[1e6, 2e6], price=[1.0, 2.0, 0.5, 0.8], capacity=[1e6, 2e6, 1e6, 1e6],
    ...              latency=0.5, provider_ids=["s", "a", "b", "c"])
    >>> res = abstract(mkt, Preferences(w_q=1.0, w_d=0.2), "s", K=2, method="min")
    >>> res.market.provider_ids, res.dropped
    (('s', 'b', 'c'), ('a',))
    >>> bool(res.market.demand.sum() < mkt.demand.sum())  # the traffic 'a' served has left
    True
    >>> avg = abstract(mkt, Preferences(w_q=1.0, w_d=0.2), "s", K=2, method="avg")
    >>> avg.market.capacity.tolist()
    [1000000.0, 2000000.0, 2000000.0]
    """
    k = check_k(K)
    if method not in METHODS:
        raise MarketError(f"method: unknown abstraction method {method!r}; choose from {METHODS}")
    if min_demand not in MIN_DEMANDS:
        raise MarketError(f"min_demand: expected one of {MIN_DEMANDS}, got {min_demand!r}")
    prefs = Preferences() if prefs is None else prefs
    s = target_index(market, target)
    tid = market.provider_ids[s]
    rivals = [pid for j, pid in enumerate(market.provider_ids) if j != s]
    r = len(rivals)
    s_sum = s_avg = None
    if method == "da":
        sc_sum, sc_avg, _ = score_rivals(market, prefs, s, weights, flows)
        s_sum = dict(zip(rivals, sc_sum.tolist(), strict=True))
        s_avg = dict(zip(rivals, sc_avg.tolist(), strict=True))
    if k >= r:
        b = prefs.values_for(market)[3]
        same = Preferences(
            w_q=prefs.w_q, w_d=prefs.w_d, b=b, w_p=prefs.w_p, provider_ids=market.provider_ids
        )
        return Abstraction(
            market=market,
            prefs=same,
            target=tid,
            method=method,
            K=k,
            kept=tuple(rivals),
            merged=(),
            dropped=(),
            representatives=(),
            score_sum=s_sum,
            score_avg=s_avg,
            identity=True,
            note=f"K={k} >= {r} rivals: the abstraction is the identity (market unchanged)",
        )
    riv = rival_tensors(market, prefs, s)
    taken = set(market.provider_ids)
    demand = None
    if method == "da":
        t = torch.as_tensor
        with torch_threads(1):  # a few thousand numbers: threads cost more than they save
            out, kept_idx, merged_mask = merge_rivals(riv, t(sc_sum)[None], t(sc_avg)[None], k)
        kept = tuple(rivals[j] for j in kept_idx[0].tolist())
        merged = tuple(rivals[j] for j in np.flatnonzero(merged_mask[0].numpy()))
        reps = (_unique("merged-rivals", taken),)
        dropped: tuple[str, ...] = ()
        note = (
            f"kept the {k - 1} rival(s) with the highest score_avg; merged {len(merged)} into "
            f"{reps[0]!r} (capacity: score_sum-weighted sum; price, latency, value: "
            "score_avg-weighted average)"
        )
    elif method == "min":
        with torch_threads(1):
            out, kept_idx = min_rivals(riv, k)
        kept = tuple(rivals[j] for j in kept_idx[0].tolist())
        merged, reps = (), ()
        dropped = tuple(p for p in rivals if p not in kept)
        note = f"kept the {k} rivals of lowest list price; dropped {len(dropped)}"
        if min_demand == "served":
            if flows is None:
                flows = solve_equilibrium(market, prefs).flows
            cols = [s, *(market.provider_index(p) for p in kept)]
            demand = np.asarray(flows, dtype=float)[:, cols].sum(axis=1)
            note += (
                " with the traffic they carry at the current prices (each user's demand: its "
                f"current flow to the target and the kept rivals, {demand.sum():.4g} of "
                f"{market.demand.sum():.4g} tokens)"
            )
        else:
            note += "; every user keeps its whole demand"
    else:
        with torch_threads(1):
            out = average_rivals(riv, k)
        kept, dropped = (), ()
        merged = tuple(rivals)
        reps = tuple(_unique(f"average-{i + 1}", taken) for i in range(k))
        note = (
            f"{k} identical rivals with the {r} rivals' mean price, latency and value, "
            f"each with 1/{k} of their total capacity"
        )
    new_market, new_prefs = _build(market, prefs, s, out, [*kept, *reps], demand)
    return Abstraction(
        market=new_market,
        prefs=new_prefs,
        target=tid,
        method=method,
        K=k,
        kept=kept,
        merged=merged,
        dropped=dropped,
        representatives=reps,
        score_sum=s_sum,
        score_avg=s_avg,
        identity=False,
        note=note,
    )
