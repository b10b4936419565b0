"""The bridge to the numpy engine: exact supports one market at a time, and its adjoint solve.

The single-market paths (:mod:`~prillm.torch_equilibrium.coefficients`,
:mod:`~prillm.torch_equilibrium.flows`) find every support with
:func:`prillm.equilibrium.solve_active_set` and differentiate with the engine's own fixed-support
kernel (:class:`prillm.equilibrium.SupportKKT`, one factor and one adjoint solve per market); the
batched equilibrium hands the rare market it cannot settle to the same engine.
"""

from __future__ import annotations

import warnings

import numpy as np

from prillm.equilibrium import DEFAULT_TOL, ActiveSetResult, SupportKKT, solve_active_set
from prillm.equilibrium.kkt import problem_scales, support_flows

__all__ = ["MarketAdjoint", "Markets", "first_token_routes", "solve_market", "warn_unsettled"]


def warn_unsettled(bounds: list[tuple[int, float]]) -> None:
    """Warn that the engine could not bound some markets' flows within ``DEFAULT_TOL``.

    ``bounds``: (market, forward error bound of its flows relative to a user's demand) for each
    such market. :func:`prillm.solve_equilibrium` settles them exactly (its rational path, for
    the markets of the data it is given); the differentiable layers return the engine's flows
    as they are (measured: within about ``1e-11`` of the exact ones there) and say so.
    """
    if not bounds:
        return
    shown = ", ".join(f"market {t}: {b:.1e}" for t, b in bounds[:5])
    more = f" and {len(bounds) - 5} more" if len(bounds) > 5 else ""
    warnings.warn(
        f"the engine cannot bound these flows within {DEFAULT_TOL:g} of a user's demand "
        f"({shown}{more}): congestion is negligible against the costs there; "
        "prillm.solve_equilibrium settles such a market exactly (rational arithmetic)",
        RuntimeWarning,
        stacklevel=3,
    )


def solve_market(
    cost: np.ndarray, slope: np.ndarray, demand: np.ndarray, warm: np.ndarray | None = None
) -> tuple[ActiveSetResult, np.ndarray, float | None]:
    """One market by the engine, for the differentiable layers.

    Returns
    -------
    result, support, unsettled
        :func:`prillm.equilibrium.solve_active_set`'s result; the support of the derivative
        (:func:`first_token_routes`: users without demand get their cheapest first token); and
        the engine's forward error bound on the flows when it exceeds ``DEFAULT_TOL`` (for
        :func:`warn_unsettled`), else ``None``.
    """
    res = solve_active_set(cost, slope, demand, warm)
    support = first_token_routes(res.support, cost, slope, res.loads, demand)
    err = res.flow_error
    bound = float(np.maximum.reduce(err)) if err is not None and err.size else 0.0
    return res, support, (bound if not bound <= DEFAULT_TOL else None)


def first_token_routes(
    support: np.ndarray,
    cost: np.ndarray,
    slope: np.ndarray,
    loads: np.ndarray,
    demand: np.ndarray,
) -> np.ndarray:
    """``support`` with the route of its cheapest first token for each user without demand.

    The engine leaves a user without demand with an empty row; the route of its cheapest
    first token ``c_ij + k_j F_j`` is the support of the right derivative in its demand.
    """
    if np.count_nonzero(demand) == demand.shape[0]:  # every user has demand (D >= 0)
        return support
    empty = demand <= 0
    s = support.copy()
    marginal = cost[empty] + slope[None, :] * loads[None, :]
    s[np.flatnonzero(empty), np.argmin(marginal, axis=1)] = True
    return s


class MarketAdjoint:
    """The adjoint solve of one market's equilibrium (Theorem 2, Eq. 19-20), factorised once.

    On a fixed support, ``dL/dc`` is the flow of the same game with costs ``v = dL/df`` and
    zero demand, ``dL/dD`` its multiplier and ``dL/dk_j = sum_i dL/dc_ij (f_ij + F_j)`` (see
    :mod:`prillm.torch_equilibrium`). The system depends on the support and the slopes only:
    it is factorised in the forward pass (or is the exact solver's own,
    :attr:`prillm.equilibrium.ActiveSetResult.kkt`), and :meth:`solve` is the backward pass's
    one solve. Both maps are linear in ``v``, which needs no scale of its own.

    Parameters
    ----------
    kkt
        The factorised system of the support, with ``K = c_scale / (k d_scale)``.
    scales
        ``(d_scale, c_scale)`` of ``kkt``
        (:func:`prillm.equilibrium.kkt.problem_scales`, as the solver's).
    """

    __slots__ = ("kkt", "ratio")

    def __init__(self, kkt: SupportKKT, scales: tuple[float, float]) -> None:
        d_scale, c_scale = scales
        self.kkt = kkt
        # the flow map scales with K (so by d_scale / c_scale), the multiplier map does not
        self.ratio = d_scale / c_scale

    @classmethod
    def build(
        cls, slope: np.ndarray, support: np.ndarray, scales: tuple[float, float]
    ) -> MarketAdjoint:
        """Factorise the system of ``support`` (boolean (n, m), rows non-empty) for slopes ``k``."""
        d_scale, c_scale = scales
        return cls(SupportKKT(c_scale / (slope * d_scale), support), scales)

    def solve(self, grad_flows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``dL/dc`` (n, m), its column sums (m,) and ``dL/dD`` (n,) for ``dL/df`` (n, m).

        The maps are linear, so the adjoint game is solved with the costs ``v = dL/df`` on the
        support as they are: its multipliers are ``dL/dD``, its flows and loads times
        :attr:`ratio` are ``dL/dc`` and its column sums (the load equations hold on the
        support, so the column sums come with the solve).
        """
        kkt = self.kkt
        v = grad_flows * kkt.a
        lam, loads = kkt.solve(v @ kkt.capa, v.sum(axis=0))
        grad_cost = support_flows(kkt.a, v, kkt.capa, lam, loads)
        grad_cost *= self.ratio
        loads *= self.ratio
        return grad_cost, loads, lam


class Markets:
    """Exact equilibria of a batch of markets by the numpy engine, and their adjoint solves.

    Each market is solved by :func:`prillm.equilibrium.solve_active_set`; a user without demand
    gets the route of its cheapest first token as support (:func:`first_token_routes`). With
    ``adjoint``, each market's adjoint system is kept (:class:`MarketAdjoint`: the solver's own
    factor when every user has demand) for :meth:`gradients`. Markets whose flows the engine
    cannot bound within ``DEFAULT_TOL`` are named in a ``RuntimeWarning``
    (:func:`warn_unsettled`).

    Parameters
    ----------
    cost, slope, demand
        ``(B, n, m)``, ``(B, m)``, ``(B, n)``.
    warm
        Optional boolean supports ``(B, n, m)`` to start the solver from.
    adjoint
        Keep the adjoint systems (the backward pass will come).
    ids
        The markets' numbers in the caller's batch, for the warning (default ``0 .. B-1``).

    Attributes
    ----------
    supports, flows
        Boolean ``(B, n, m)`` and ``(B, n, m)``.
    """

    __slots__ = ("adjoints", "flows", "supports")

    def __init__(
        self,
        cost: np.ndarray,
        slope: np.ndarray,
        demand: np.ndarray,
        warm: np.ndarray | None = None,
        adjoint: bool = False,
        ids: list[int] | None = None,
    ) -> None:
        batch, n, m = cost.shape
        self.supports = np.zeros((batch, n, m), bool)
        self.flows = np.zeros((batch, n, m))
        self.adjoints: list[MarketAdjoint] = []
        unsettled = []
        for t in range(batch):
            c, k, d = cost[t], slope[t], demand[t]
            res, support, bound = solve_market(c, k, d, None if warm is None else warm[t])
            if bound is not None:
                unsettled.append((t if ids is None else ids[t], bound))
            self.supports[t] = support
            self.flows[t] = res.flows
            if not adjoint:
                continue
            if support is res.support and res.kkt is not None and res.scales is not None:
                self.adjoints.append(MarketAdjoint(res.kkt, res.scales))
            else:
                self.adjoints.append(MarketAdjoint.build(k, support, problem_scales(c, k, d)))
        warn_unsettled(unsettled)

    def gradients(self, grad_flows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gradients of ``sum(grad_flows * f)`` in ``c, k, D``: one adjoint solve per market.

        ``dL/dk_j = sum_i dL/dc_ij (f_ij + F_j)`` (see :mod:`prillm.torch_equilibrium`).

        Returns
        -------
        grad_cost, grad_slope, grad_demand
            ``(B, n, m)``, ``(B, m)``, ``(B, n)``.
        """
        flows = self.flows
        grad_cost = np.zeros_like(flows)
        grad_demand = np.zeros(flows.shape[:2])
        for t, adj in enumerate(self.adjoints):
            grad_cost[t], _, grad_demand[t] = adj.solve(grad_flows[t])
        grad_slope = (grad_cost * (flows + flows.sum(axis=1, keepdims=True))).sum(axis=1)
        return grad_cost, grad_slope, grad_demand
