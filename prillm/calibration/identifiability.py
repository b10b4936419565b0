"""What a panel cannot tell: parameters of Eq. (1) that the observed flows do not pin down.

Two exact invariances of the game are behind most of it.

**The common shift of b.** Adding one constant to every ``b_j`` changes every user's cost by the
same amount on every route, so no equilibrium moves: ``b`` is identified only up to a shift,
always (Algorithm 1 pins it with the smallest ``b_j = 0``; compare ``b - mean(b)``). This is
not reported as a finding.

**The scale ray.** With ``w_p = 1`` fixed, the ray

.. math::

    \\theta(s) = \\big(s\\,w_q,\\; s\\,w_d,\\; s\\,b_j - (s - 1)\\,(\\bar p_j + c_j)\\big)

(``\\bar p_j`` the provider's mean price over the days, ``c_j`` the mean of the fixed-weight
terms, e.g. ``w_d \\bar d_j`` when ``w_d`` is held fixed) multiplies the whole potential of
Eq. (4-5) by ``s`` when every price and every fixed-weight term is constant per provider, so it
leaves every equilibrium unchanged: the weights are then identified only up to a common scale.
Only prices that move relative to each other over the days fix it. :func:`scale_ray` and
:func:`scale_profile` compute the ray and the loss along it (chapter 5 of the book).

:func:`data_findings` looks at the panel before a fit: prices constant over the days (one day,
or no change), a latency constant per provider (then ``w_d`` is absorbed in ``b``), a provider
no one uses on any day (then only an upper bound on its ``b_j`` is known). :func:`profile_finding`
looks at the loss along the ray after a fit: if a factor 2 either way changes the loss (up or
down) by less than noise of the fitted size can hide — a likelihood-ratio argument for Gaussian
errors: ``N`` observed cells and a relative change ``delta`` of the sum of squares give the
statistic ``N * delta``, compared with 3.84 (chi-square, 1 degree of freedom, 5 %) — the scale
is reported as not identified; :func:`congestion_finding` does the same along ``w_q`` alone
(flat where the capacities dwarf the demand). :func:`prillm.calibration.calibrate` runs them,
warns with an :class:`IdentifiabilityWarning` naming the parameters, and records the findings in
:attr:`CalibrationResult.identifiability`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from prillm.calibration.params import Parametrisation
from prillm.calibration.result import scaled_loss
from prillm.data.panel import Panel, aligned_b
from prillm.market import MarketError, Preferences

__all__ = [
    "CHI2_1_95",
    "IdentifiabilityWarning",
    "congestion_finding",
    "data_findings",
    "profile_finding",
    "scale_profile",
    "scale_ray",
    "warn_findings",
]

#: 95 % quantile of the chi-square distribution with one degree of freedom.
CHI2_1_95 = 3.841458820694124
_WEIGHTS = ("w_q", "w_d")


class IdentifiabilityWarning(UserWarning):
    """The panel does not identify some parameters; the message names them and says why."""


def _constant_per_provider(x: np.ndarray) -> bool:
    """Whether ``x`` (``(T, m)`` or ``(T, n, m)``) takes one value per provider."""
    flat = x.reshape(-1, x.shape[-1])
    scale = max(float(np.abs(flat).max()), 1e-300)
    return bool((np.ptp(flat, axis=0) <= 1e-12 * scale).all())


def scale_ray(
    panel: Panel, prefs: Preferences, s: float, *, scaled: Sequence[str] = _WEIGHTS
) -> Preferences:
    """The preferences ``theta(s)`` on the scale ray through ``prefs`` (module docstring).

    Parameters
    ----------
    panel
        Gives the mean prices (and the mean latencies of a fixed ``w_d``).
    prefs
        The point ``theta(1)``.
    s
        The scale (> 0).
    scaled
        The weights that scale with ``s`` (the learned ones); the others stay fixed and their
        mean terms move into ``b``.

    Examples
    --------
    >>> from prillm import Preferences
    >>> from prillm.data import Panel
    >>> pnl = Panel(price=[[1.0, 3.0]], capacity=[1.0, 1.0], latency=0.0,
    ...             demand=[[1.0]], flows=[[[0.5, 0.5]]])
    >>> ray = scale_ray(pnl, Preferences(w_q=1.0, w_d=1.0, b=[0.0, 2.0]), 2.0)
    >>> ray.w_q, ray.b.tolist()
    (2.0, [-1.0, 1.0])
    """
    if not (isinstance(s, (int, float, np.floating)) and not isinstance(s, bool) and s > 0):
        raise MarketError(f"s: the scale must be a number > 0, got {s!r}")
    unknown = [k for k in scaled if k not in _WEIGHTS]
    if unknown:
        raise MarketError(f"scaled: unknown weight {unknown[0]!r}; valid: w_q, w_d")
    shift = panel.price.mean(axis=0) * prefs.w_p
    if "w_d" not in scaled:
        shift = shift + prefs.w_d * panel.latency.mean(axis=(0, 1))
    b = aligned_b(prefs, panel.provider_ids)
    changes: dict[str, Any] = {k: s * getattr(prefs, k) for k in scaled}
    return prefs.replace(b=s * b - (s - 1.0) * shift, provider_ids=panel.provider_ids, **changes)


def scale_profile(
    panel: Panel,
    prefs: Preferences,
    scales: Iterable[float],
    *,
    scaled: Sequence[str] = _WEIGHTS,
) -> list[dict[str, float]]:
    """The scaled loss of Eq. (6) along the scale ray through ``prefs``, as tidy records.

    Returns
    -------
    list of dict
        One record per scale: ``scale``, ``loss`` (scaled Eq. 6 on ``panel``) and
        ``relative`` (``loss`` over the loss at ``prefs`` itself, ``s = 1``; ``nan`` when that
        is zero).

    Examples
    --------
    >>> from prillm import Preferences
    >>> from prillm.data import RandomDesign, generate_planted_panel
    >>> truth = Preferences(w_q=2.0, w_d=0.5, b=[1.0, 0.0, 2.0])
    >>> pnl = generate_planted_panel(seed=0, n_days=6, design=RandomDesign(4, 3, truth))
    >>> rows = scale_profile(pnl, pnl.truth, [0.5, 1.0, 2.0])
    >>> [round(r["relative"], 2) > 1 for r in rows]
    [True, False, True]
    """
    base = scaled_loss(panel, prefs)
    rows = []
    for s in scales:
        loss = scaled_loss(panel, scale_ray(panel, prefs, float(s), scaled=scaled))
        rows.append(
            {"scale": float(s), "loss": loss, "relative": loss / base if base > 0 else np.nan}
        )
    return rows


def data_findings(panel: Panel, param: Parametrisation) -> list[dict[str, Any]]:
    """Parameters the panel cannot identify, whatever the fit (module docstring)."""
    learned = set(param.fit)
    findings: list[dict[str, Any]] = []
    fixed_terms_constant = "w_d" in learned or _constant_per_provider(panel.latency)
    if {"w_q", "b"} <= learned and fixed_terms_constant and _constant_per_provider(panel.price):
        weights = [k for k in _WEIGHTS if k in learned]
        why = "one day" if panel.n_days == 1 else "no provider's price changes over the days"
        findings.append(
            {
                "parameters": weights,
                "reason": f"{why}: scaling {', '.join(weights)} (and b) together leaves every "
                "equilibrium unchanged, so only their ratio and the net values b_j - p_j are "
                "identified (the scale ray)",
            }
        )
    if "w_d" in learned and "b" in learned and _constant_per_provider(panel.latency):
        findings.append(
            {
                "parameters": ["w_d"],
                "reason": "each provider's latency is the same for every user and day, so "
                "w_d d_j is absorbed in b_j: only b_j - w_d d_j is identified",
            }
        )
    if "b" in learned:
        unused = [
            p
            for p, f in zip(panel.provider_ids, panel.flows.sum(axis=(0, 1)), strict=True)
            if f == 0
        ]
        if unused:
            findings.append(
                {
                    "parameters": [f"b[{p}]" for p in unused],
                    "reason": f"{len(unused)} provider(s) carry no observed flow on any day: "
                    "only an upper bound on their b_j is identified",
                }
            )
    return findings


def _flat(panel: Panel, base: float, change: float) -> tuple[int, float] | None:
    """The likelihood-ratio test of the module docstring: ``None`` when a change of the loss
    from ``base`` by ``change`` is more than noise of the fitted size hides, else the number of
    cells ``N`` and the change in percent."""
    cells = int((panel.demand > 0).sum()) * panel.n_providers
    if base > 0 and cells * change / base >= CHI2_1_95:
        return None
    if base == 0 and change > 0:
        return None
    return cells, (100.0 * change / base if base > 0 else 0.0)


def profile_finding(
    panel: Panel, prefs: Preferences, param: Parametrisation, *, factor: float = 2.0
) -> dict[str, Any] | None:
    """A finding if the loss is flat along the scale ray through fitted ``prefs``, else ``None``.

    Only asked when the fit learns ``w_q`` and ``b`` (otherwise the fixed weights set the
    scale). Flat means ``N * (min(L(1/factor), L(factor)) / L(1) - 1) < 3.84`` with ``N`` the
    number of (day, user, provider) cells of users with demand (module docstring).
    """
    learned = set(param.fit)
    if not {"w_q", "b"} <= learned:
        return None
    scaled = [k for k in _WEIGHTS if k in learned]
    rows = scale_profile(panel, prefs, (1.0 / factor, factor), scaled=scaled)
    base = scaled_loss(panel, prefs)
    change = max(abs(r["loss"] - base) for r in rows)  # a fall counts: then the scale matters
    flat = _flat(panel, base, change)
    if flat is None:
        return None
    cells, pct = flat
    return {
        "parameters": scaled,
        "reason": f"the loss is flat along the scale ray: scaling {', '.join(scaled)} by "
        f"{1 / factor:g} or {factor:g} (b adjusted) changes it by {pct:.3g} % at most, less "
        f"than noise of the fitted size hides on {cells} cells (N * relative change < "
        f"{CHI2_1_95:.2f})",
    }


def congestion_finding(
    panel: Panel, prefs: Preferences, param: Parametrisation, *, factor: float = 2.0
) -> dict[str, Any] | None:
    """A finding if the loss is flat in ``w_q`` alone at fitted ``prefs``, else ``None``.

    Where every capacity dwarfs the demand, congestion is negligible against the costs and the
    flows hardly depend on ``w_q``: scaling it by ``1/factor`` or ``factor`` (the rest fixed)
    then changes the loss by less than noise of the fitted size can hide, by the test of
    :func:`profile_finding`. Only asked when the fit learns ``w_q``.
    """
    if "w_q" not in set(param.fit):
        return None
    base = scaled_loss(panel, prefs)
    change = max(
        abs(scaled_loss(panel, replace(prefs, w_q=prefs.w_q * f)) - base)
        for f in (1.0 / factor, factor)
    )
    flat = _flat(panel, base, change)
    if flat is None:
        return None
    cells, pct = flat
    return {
        "parameters": ["w_q"],
        "reason": f"the loss is flat in w_q: scaling it by {1 / factor:g} or {factor:g} "
        f"changes it by {pct:.3g} % at most, less than noise of the fitted size hides on "
        f"{cells} cells (congestion is negligible against the costs: the capacities dwarf "
        "the demand)",
    }


def warn_findings(findings: Sequence[dict[str, Any]], *, stacklevel: int = 3) -> None:
    """One :class:`IdentifiabilityWarning` naming every parameter not identified, and why."""
    if not findings:
        return
    text = "; ".join(
        f"{', '.join(f['parameters'])} not identified ({f['reason']})" for f in findings
    )
    warnings.warn(IdentifiabilityWarning(text), stacklevel=stacklevel)
