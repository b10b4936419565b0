"""Market segments of a planted panel (the markets of Table 1 of the paper).

A generated panel records its segments (:attr:`~prillm.data.Panel.segments`: name -> provider
ids, :attr:`~prillm.data.Panel.segment_users`: name -> user ids); :func:`segment_panel` (also
:meth:`Panel.segment`) cuts one out, keeping the planted truth exact:

``Premium`` / ``Economy`` (price segments) keep every user and the segment's providers; a user's
demand becomes its exact flow to those providers. The restricted exact flows are then *exactly*
the equilibrium of the restricted markets under the restricted truth (the KKT conditions of
Eq. 14-17 of the sub-game are a subset of the full game's, with the same loads and
multipliers), so nothing is re-solved and the observed flows are restricted too.

``Coding`` / ``Translation`` (user segments) keep the segment's users and providers. Dropping
the other users removes their load, so the restricted flows would no longer be an equilibrium.
The segment's users get the share of each provider's capacity that their traffic used in the
panel (``alpha_j`` times their share of provider ``j``'s exact load over all days), so
congestion stays in the same range; then each day is re-solved with the truth (the exact flows
change), and the observed flows are the new exact flows times the *same* noise factors the
panel drew for those (day, user, provider) cells. ``info["capacity_share"]`` records the shares.
"""

from __future__ import annotations

import numpy as np

from prillm._validation import MarketError
from prillm.data.generate import noise_factors
from prillm.data.panel import Panel, aligned_b
from prillm.equilibrium import solve_equilibrium
from prillm.market import Market

__all__ = ["PROVIDER_SEGMENTS", "segment_panel"]

#: Segments defined by a provider attribute (price): every user is kept, nothing re-solved.
PROVIDER_SEGMENTS = ("Premium", "Economy")


def segment_panel(panel: Panel, name: str) -> Panel:
    """The panel of one market segment (see the module docstring).

    Raises
    ------
    prillm.MarketError
        For an unknown segment, a panel that is already a segment, or a panel without the
        truth, exact flows and noise record that cutting a segment needs.

    Examples
    --------
    >>> from prillm.data import load_panel
    >>> coding = load_panel().segment("Coding")
    >>> coding.name, {coding.user_categories[u] for u in coding.user_ids}
    ('Coding', {'coding'})
    """
    segments = panel.segments or {}
    if name not in segments:
        raise MarketError(
            f"segment: unknown segment {name!r}; known: {', '.join(segments) or 'none'}"
        )
    if "segment" in panel.info:
        raise MarketError(f"segment: {panel.name!r} is already a segment panel")
    if panel.truth is None or panel.exact_flows is None or panel.noise is None:
        raise MarketError("segment: needs a generated panel (truth, exact flows and noise)")
    providers = segments[name]
    cols = [panel.provider_ids.index(p) for p in providers]
    users = (panel.segment_users or {}).get(name, panel.user_ids)
    rows = [panel.user_ids.index(u) for u in users]
    exact = panel.exact_flows[:, rows][:, :, cols]
    keep = exact.sum(axis=(0, 2)) > 0
    rows = [r for r, k in zip(rows, keep, strict=True) if k]
    exact = exact[:, keep]
    user_ids = tuple(panel.user_ids[r] for r in rows)
    truth = panel.truth.replace(b=aligned_b(panel.truth, providers), provider_ids=tuple(providers))
    factors = noise_factors(panel.noise, panel.shape)[:, rows][:, :, cols]
    resolve = name not in PROVIDER_SEGMENTS
    cap_share = np.ones(len(cols))
    if resolve:
        full_load = panel.exact_flows[:, :, cols].sum(axis=(0, 1))
        cap_share = exact.sum(axis=(0, 1)) / np.where(full_load > 0, full_load, 1.0)
        cap_share = np.where(cap_share > 0, cap_share, 1.0)
    capacity = panel.capacity[:, cols] * cap_share
    latency = panel.latency[:, rows][:, :, cols]
    demand = exact.sum(axis=2)
    new_exact = exact.copy()
    if resolve:
        prev = None
        for t in range(panel.n_days):
            sub = Market(
                demand=demand[t],
                price=panel.price[t, cols],
                capacity=capacity[t],
                latency=latency[t],
                provider_ids=providers,
                user_ids=user_ids,
            )
            eq = solve_equilibrium(sub, truth, warm_start=prev)
            prev = eq
            new_exact[t] = eq.flows
    lf = panel.latency_factors
    return panel.replace(
        price=panel.price[:, cols],
        capacity=capacity,
        latency=latency,
        demand=demand,
        flows=new_exact * factors,
        provider_ids=tuple(providers),
        user_ids=user_ids,
        truth=truth,
        exact_flows=new_exact,
        segments={name: providers},
        segment_users={name: user_ids},
        user_categories={u: (panel.user_categories or {}).get(u, "") for u in user_ids}
        if panel.user_categories is not None
        else None,
        name=name,
        info={
            **panel.info,
            "segment": name,
            "re_solved": resolve,
            "capacity_share": dict(zip(providers, cap_share.tolist(), strict=True)),
        },
        latency_factors=None if lf is None else (lf[0][cols], lf[1][rows], lf[2][:, cols]),
    )
