"""The public solver: :func:`solve_equilibrium` and the :class:`Equilibrium` it returns.

The equilibrium is the unique minimiser of the strictly convex potential (Eq. 4-5, 9-11)

.. math::

    \\Phi(f) = \\sum_{ij} c_{ij} f_{ij}
             + \\sum_j \\frac{k_j}{2}\\Big(F_j^2 + \\sum_i f_{ij}^2\\Big),
    \\qquad \\sum_j f_{ij} = D_i,\\; f_{ij} \\ge 0,

with :math:`c_{ij} = w_p p_j + w_d d_{ij} - b_j`, :math:`k_j = w_q/\\alpha_j` and
:math:`F_j = \\sum_i f_{ij}`. Its KKT conditions (Eq. 14-17) read: on the support of user
:math:`i`, :math:`c_{ij} + k_j(F_j + f_{ij}) = \\lambda_i`; off it,
:math:`c_{ij} + k_j F_j \\ge \\lambda_i` (Wardrop's first principle).

:func:`solve_equilibrium` validates the inputs, runs the active-set solver
(:mod:`prillm.equilibrium.active_set`, on the kernel of :mod:`prillm.equilibrium.kkt`) and
returns the result only with its KKT certificate (:mod:`prillm.equilibrium.certificate`) below
the tolerance. When the floating-point passes cannot certify it, a small enough market is solved
exactly in rational arithmetic (:mod:`prillm.equilibrium.rational`); otherwise it raises
:class:`EquilibriumError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prillm._jsonable import id_rows, json_fields
from prillm._validation import MarketError, check_number
from prillm.equilibrium.active_set import ActiveSetResult, solve_active_set
from prillm.equilibrium.certificate import (
    DEFAULT_TOL,
    EquilibriumError,
    KKTCertificate,
    certify_arrays,
)
from prillm.equilibrium.model import user_cost_arrays
from prillm.equilibrium.rational import rational_equilibrium, size_limit
from prillm.market import (
    TOKENS_PER_PRICE_UNIT,
    Market,
    Preferences,
    cost_rounding_error,
    game_coefficients,
)

__all__ = ["Equilibrium", "package_equilibrium", "solve_equilibrium"]


@dataclass(frozen=True, eq=False)
class Equilibrium:
    """A certified user-side Nash equilibrium.

    Attributes
    ----------
    market, prefs
        The game that was solved.
    flows
        ``f_ij``, tokens per period, shape ``(n, m)``; exactly zero off the support.
    multipliers
        ``lambda_i``: user ``i``'s common marginal cost on its used routes (USD per million
        tokens). For a user with zero demand, the marginal cost of its first token.
    loads
        ``F_j = sum_i f_ij``, tokens per period.
    congestion
        ``Q_j = F_j / alpha_j``.
    marginal_costs
        ``g_ij = c_ij + k_j (F_j + f_ij)`` (Eq. 12), USD per million tokens.
    user_costs
        Each user's cost of Eq. (1), converted to USD (divided by ``1e6`` tokens); computed
        from the flows and marginal costs when first read.
    support
        Boolean ``(n, m)``: the routes each user uses.
    certificate
        The :class:`KKTCertificate`.
    iterations
        Active-set iterations (linear solves) used.
    method
        Which solver produced it.
    path
        Which arithmetic settled the answer: ``"double"`` (the active-set iteration alone),
        ``"double-double"`` (the accurate refinement, :mod:`prillm.equilibrium.refine`) or
        ``"rational"`` (the exact last resort, :mod:`prillm.equilibrium.rational`, where the
        certificate's ``flow_error`` is only the rounding of the exact flows to doubles).
    """

    market: Market
    prefs: Preferences
    flows: np.ndarray
    multipliers: np.ndarray
    loads: np.ndarray
    congestion: np.ndarray
    marginal_costs: np.ndarray
    support: np.ndarray
    certificate: KKTCertificate
    iterations: int = 0
    method: str = "exact"
    path: str = "double"
    info: dict[str, Any] = field(default_factory=dict)
    #: The congestion slopes ``k_j`` of the game (``None``: recomputed from the market when
    #: :attr:`user_costs` is first read).
    slope: np.ndarray | None = field(default=None, repr=False)

    @property
    def user_costs(self) -> np.ndarray:
        """Each user's cost of Eq. (1) in USD, ``sum_j f_ij (g_ij - k_j f_ij) / 1e6``."""
        costs = self.__dict__.get("_user_costs")
        if costs is None:  # the first read (the dataclass is frozen: the cache is set directly)
            slope = self.slope
            if slope is None:
                slope = game_coefficients(self.market, self.prefs).slope
            costs = user_cost_arrays(None, slope, self.flows, self.marginal_costs)
            costs /= TOKENS_PER_PRICE_UNIT
            costs.setflags(write=False)
            self.__dict__["_user_costs"] = costs
        return costs

    def revenue(self, provider: str | int) -> float:
        """Revenue ``p_j F_j / 1e6`` of a provider at this equilibrium, in USD (Eq. 2)."""
        j = self.market.provider_index(provider)
        return float(self.market.price[j] * self.loads[j] / TOKENS_PER_PRICE_UNIT)

    @property
    def shares(self) -> np.ndarray:
        """Each provider's share of the total demand."""
        total = float(self.market.demand.sum())
        return self.loads / total if total > 0 else np.zeros_like(self.loads)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (flows keyed by user and provider ids)."""
        mkt = self.market
        return {
            **json_fields(self, "method", "path", "iterations", "certificate"),
            "providers": id_rows(
                mkt.provider_ids,
                price=mkt.price,
                load=self.loads,
                share=self.shares,
                congestion=self.congestion,
                revenue_usd=[self.revenue(j) for j in range(mkt.n_providers)],
            ),
            "users": [
                {
                    "id": uid,
                    "demand": float(mkt.demand[i]),
                    "multiplier": float(self.multipliers[i]),
                    "cost_usd": float(self.user_costs[i]),
                    "flows": {
                        pid: float(self.flows[i, j])
                        for j, pid in enumerate(mkt.provider_ids)
                        if self.flows[i, j] > 0
                    },
                }
                for i, uid in enumerate(mkt.user_ids)
            ],
        }


# ------------------------------------------------------------------ public API
def solve_equilibrium(
    market: Market,
    prefs: Preferences | None = None,
    *,
    warm_start: Equilibrium | np.ndarray | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = 100,
    system: str = "auto",
    check_nash: bool = False,
) -> Equilibrium:
    """The unique user-side Nash equilibrium of a market (Theorem 1, Eq. 13), exact.

    Parameters
    ----------
    market
        The market.
    prefs
        The users' preferences; default ``Preferences()`` (``w_p = w_q = w_d = 1``, ``b = 0``).
    warm_start
        A previous :class:`Equilibrium`, a flow matrix (its positive entries give the starting
        support) or a boolean support matrix, shape ``(n, m)``. It changes the work done, never
        the answer.
    tol
        Largest relative KKT residual accepted (see :class:`KKTCertificate`).
    max_iter
        Primal-dual active-set iterations before the monotone fallback takes over (0: use the
        monotone primal active-set method alone).
    system
        ``"auto"``, ``"users"`` or ``"providers"``: which linear system to factorise.
    check_nash
        Also verify Definition 1 directly: compute every user's exact best response to the
        others' flows (water-filling) and require the cost gap to be within ``tol``. Independent
        of the multipliers; costs a sort per user.

    Returns
    -------
    Equilibrium
        Flows, multipliers, loads, user costs and the KKT certificate.

    Raises
    ------
    EquilibriumError
        If the result cannot be certified to ``tol``: the solver never returns an uncertified
        equilibrium. When the floating-point passes cannot certify it (congestion below about
        ``1e-17`` of the costs: huge capacity, tiny ``w_q`` and large prices at once), the
        equilibrium is solved exactly in rational arithmetic
        (:mod:`prillm.equilibrium.rational`, ``path="rational"``) for markets of at most
        32 users with demand and 1024 routes (``MAX_USERS``, ``MAX_ROUTES`` there); beyond
        that the error names the limit.
    prillm.MarketError
        If the preferences do not fit the market, the warm start has the wrong shape, or ``tol``
        is not a finite number > 0.

    References
    ----------
    Eq. (1) costs, Eq. (4-5) potential, Eq. (12) marginal costs, Eq. (13) the program,
    Eq. (14-17) KKT conditions of the paper.

    Examples
    --------
    >>> from prillm import Market, Preferences, solve_equilibrium
    >>> mkt = Market(demand=[1e6], price=[1.0, 1.0], capacity=[1e6, 1e6])
    >>> eq = solve_equilibrium(mkt, Preferences(w_q=1.0, w_d=0.0))
    >>> eq.flows.round(3).tolist()
    [[500000.0, 500000.0]]
    >>> eq.certificate.certified
    True
    """
    if prefs is None:
        prefs = Preferences()
    if system not in ("auto", "users", "providers"):
        raise ValueError(f"system: expected 'auto', 'users' or 'providers', got {system!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter: expected an integer >= 0, got {max_iter!r}")
    if tol.__class__ is not float or not 0.0 < tol < math.inf:  # the common case, at once
        if not check_number("tol", tol) > 0:
            raise MarketError(f"tol: must be > 0, got {tol!r}")
    gc = game_coefficients(market, prefs)
    support = None
    if warm_start is not None:
        start = (
            warm_start.support if isinstance(warm_start, Equilibrium) else np.asarray(warm_start)
        )
        if start.shape != market.shape:
            raise MarketError(f"warm_start: expected shape {market.shape}, got shape {start.shape}")
        support = start if start.dtype == bool else start > 0
    raw = solve_active_set(
        gc.cost,
        gc.slope,
        gc.demand,
        support,
        max_iter=max_iter,
        system=system,
        cost_lo=lambda: cost_rounding_error(market, prefs),
    )
    try:
        return package_equilibrium(market, prefs, gc.cost, gc.slope, raw, tol, nash=check_nash)
    except EquilibriumError as exc:
        too_large = size_limit(market)
        if too_large is not None:
            raise EquilibriumError(f"{exc}; {too_large}") from exc
    # the floating-point passes could not settle the support or its bound: solve exactly
    raw = rational_equilibrium(market, prefs, raw.support)
    try:
        return package_equilibrium(market, prefs, gc.cost, gc.slope, raw, tol, nash=check_nash)
    except EquilibriumError as exc:
        raise EquilibriumError(
            f"{exc}; this is the exact equilibrium (rational path) rounded to doubles, so tol is "
            "below what doubles can show"
        ) from exc


def package_equilibrium(
    market: Market,
    prefs: Preferences,
    cost: np.ndarray,
    slope: np.ndarray,
    raw: ActiveSetResult,
    tol: float,
    *,
    method: str = "exact",
    nash: bool = False,
    require_certified: bool = True,
) -> Equilibrium:
    """Wrap raw solver output into an :class:`Equilibrium` with its certificate.

    Parameters
    ----------
    market, prefs
        The game that was solved.
    cost, slope
        Its coefficients (:func:`prillm.game_coefficients`).
    raw
        The solver's output (flows, multipliers, support in the market's units).
    tol
        Tolerance of the certificate.
    method
        The name stored in :attr:`Equilibrium.method`.
    nash
        Also compute the Nash gap.
    require_certified
        Raise :class:`EquilibriumError` when the certificate fails (an approximate solver,
        e.g. the cvxpy reference, passes ``False`` and reports its residuals instead).
    """
    flows, lam, support = raw.flows, raw.multipliers, raw.support
    bound = raw.flow_error
    if bound is not None:
        bound = float(np.maximum.reduce(bound)) if bound.size else 0.0
    cert, g, loads = certify_arrays(
        cost, slope, market.demand, flows, lam, support, tol, nash, bound
    )
    if require_certified and not cert.certified:
        gap = "not computed" if cert.nash_gap is None else f"{cert.nash_gap:.3e}"
        bound = "" if cert.flow_error is None else f", flow error bound {cert.flow_error:.3e}"
        raise EquilibriumError(
            "could not certify the equilibrium: relative KKT residual "
            f"{cert.max_residual:.3e} (Nash gap {gap}{bound}) exceeds tol={tol:.1e}"
        )
    congestion = loads / market.capacity
    for arr in (flows, lam, loads, g, support, congestion):
        arr.setflags(write=False)
    return Equilibrium(
        market=market,
        prefs=prefs,
        flows=flows,
        multipliers=lam,
        loads=loads,
        congestion=congestion,
        marginal_costs=g,
        support=support,
        certificate=cert,
        iterations=raw.iterations,
        method=method,
        path=raw.path,
        info={"fallback": raw.fallback},
        slope=slope,
    )
