"""The user-side game's quantities as functions: costs (Eq. 1), potential (Eq. 4-5), best responses.

Every formula of the model is written once, here, on raw arrays (``*_arrays`` and the best
response) and for a market (the public, validated form). With ``c_ij = w_p p_j + w_d d_ij - b_j``,
``k_j = w_q / alpha_j`` and ``F_j = sum_i f_ij``:

* user ``i``'s cost (Eq. 1): ``C_i = sum_j f_ij (c_ij + k_j F_j)``;
* the marginal cost of a route (Eq. 12): ``g_ij = c_ij + k_j (F_j + f_ij)``;
* the exact potential (Eq. 4-5): ``Phi = sum_ij c_ij f_ij + sum_j k_j / 2 (F_j^2 + sum_i f_ij^2)``;
* user ``i``'s best response to the others' flows: water-filling with intercepts
  ``c_ij + k_j (F_j - f_ij)`` and curvatures ``2 k_j``.

Costs in the market-level functions are in USD: prices are per million tokens, so the sums are
divided by ``1e6`` (as in :attr:`prillm.Equilibrium.user_costs`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prillm._validation import MarketError
from prillm.equilibrium._work import ones
from prillm.market import TOKENS_PER_PRICE_UNIT, Market, Preferences, game_coefficients
from prillm.water_filling import water_filling

__all__ = [
    "START_ROW_TOL",
    "BestResponseTrajectory",
    "best_response_dynamics",
    "best_responses",
    "marginal_costs",
    "potential",
    "potential_arrays",
    "split_cost",
    "user_cost_arrays",
    "user_costs",
]


#: A starting profile's row may miss its user's demand by this much relative to
#: ``max(D_i, 1)`` tokens (round-off of a split computed in floating point).
START_ROW_TOL = 1e-9


def marginal_costs(cost: np.ndarray, slope: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """``g_ij = c_ij + k_j (F_j + f_ij)`` (Eq. 12), in the units of ``cost``."""
    g = flows + flows.sum(axis=0)
    g *= slope
    g += cost
    return g


def split_cost(intercept: np.ndarray, slope: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Eq. (1) for splits ``x`` against the others' loads: ``sum_j x_j (a_j + k_j x_j)``.

    ``a_ij = c_ij + k_j G_j`` with ``G_j`` the others' load (the intercepts of
    :func:`best_responses`); the last axis is the providers'.
    """
    return (x * (intercept + slope * x)).sum(axis=-1)


def user_cost_arrays(
    cost: np.ndarray | None,
    slope: np.ndarray,
    flows: np.ndarray,
    marginal: np.ndarray | None = None,
) -> np.ndarray:
    """Each user's cost of Eq. (1), ``sum_j f_ij (c_ij + k_j F_j)`` (cost units x flow units).

    ``marginal``, the marginal costs ``g = c + k (F + f)`` of the same flows when at hand,
    saves recomputing the others' loads: the cost is then ``sum_j f_ij (g_ij - k_j f_ij)``
    (and ``cost`` is not read).
    """
    if marginal is None:
        if cost is None:
            raise ValueError("cost: needed when the marginal costs are not given")
        return split_cost(cost + slope * (flows.sum(axis=0) - flows), slope, flows)
    own = slope * flows
    np.subtract(marginal, own, out=own)  # c + k F
    own *= flows
    return own.dot(ones(flows.shape[1]))


def potential_arrays(cost: np.ndarray, slope: np.ndarray, flows: np.ndarray) -> float:
    """The potential of Eq. (4-5), ``sum c f + sum_j k_j / 2 (F_j^2 + sum_i f_ij^2)``."""
    loads = flows.sum(axis=0)
    congestion = slope @ (loads * loads + (flows * flows).sum(axis=0))
    return float((cost * flows).sum() + 0.5 * congestion)


def best_responses(
    cost: np.ndarray, slope: np.ndarray, demand: np.ndarray, flows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every user's exact best response to the others' flows (water-filling), all at once.

    User ``i`` minimises ``sum_j x_j (c_ij + k_j (G_j + x_j))`` over its simplex, where
    ``G_j = F_j - f_ij`` is the others' load: water-filling with intercepts ``c_ij + k_j G_j``
    and curvatures ``2 k_j``.

    Returns
    -------
    responses, intercepts
        The best responses ``(n, m)`` and the intercepts they were computed from (so that the
        cost of any split ``x`` of user ``i`` is ``x @ (intercept_i + k x)``).
    """
    intercept = cost + slope * (flows.sum(axis=0) - flows)
    br, _ = water_filling(intercept, 2.0 * slope, demand)
    return br, intercept


def _flows_for(market: Market, flows: np.ndarray, name: str = "flows") -> np.ndarray:
    f = np.asarray(flows, dtype=float)
    if f.shape != market.shape:
        raise MarketError(f"{name}: expected shape {market.shape}, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise MarketError(f"{name}: must be finite")
    return f


def user_costs(market: Market, prefs: Preferences | None, flows: np.ndarray) -> np.ndarray:
    """Each user's cost ``C_i`` of Eq. (1) at a flow profile, in USD.

    Parameters
    ----------
    market, prefs
        The game (``prefs`` ``None``: the defaults).
    flows
        Any profile ``f`` of shape ``(n, m)`` (an equilibrium or not).

    Returns
    -------
    numpy.ndarray
        ``C_i = sum_j f_ij (w_p p_j + w_q F_j / alpha_j + w_d d_ij - b_j) / 1e6``, shape ``(n,)``.

    Raises
    ------
    prillm.MarketError
        If ``flows`` has the wrong shape or is not finite.

    References
    ----------
    Eq. (1) of the paper.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> mkt = Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    >>> user_costs(mkt, Preferences(w_q=1.0, w_d=0.0), [[1e6, 0.0]]).tolist()
    [2.0]
    """
    gc = game_coefficients(market, prefs or Preferences())
    f = _flows_for(market, flows)
    return user_cost_arrays(gc.cost, gc.slope, f) / TOKENS_PER_PRICE_UNIT


def potential(market: Market, prefs: Preferences | None, flows: np.ndarray) -> float:
    """The exact potential ``Phi`` of Eq. (4-5) at a flow profile, in USD.

    When one user alone changes its flows, ``Phi`` changes by exactly that user's change of cost
    (:func:`user_costs`); the equilibrium is its unique minimiser over the joint strategy set.

    Parameters
    ----------
    market, prefs
        The game (``prefs`` ``None``: the defaults).
    flows
        Any profile ``f`` of shape ``(n, m)``.

    Returns
    -------
    float
        ``(sum_ij c_ij f_ij + sum_j k_j / 2 (F_j^2 + sum_i f_ij^2)) / 1e6``; raises as
        :func:`user_costs` does.

    References
    ----------
    Eq. (4-5) (equivalently 9-11) of the paper.

    Examples
    --------
    >>> from prillm import Market, Preferences
    >>> mkt = Market(demand=[1e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    >>> potential(mkt, Preferences(w_q=1.0, w_d=0.0), [[1e6, 0.0]])
    2.0
    """
    gc = game_coefficients(market, prefs or Preferences())
    return potential_arrays(gc.cost, gc.slope, _flows_for(market, flows)) / TOKENS_PER_PRICE_UNIT


@dataclass(frozen=True)
class BestResponseTrajectory:
    """The profiles visited by best-response dynamics.

    Attributes
    ----------
    flows
        ``(rounds + 1, n, m)``: the start, then the profile after each round.
    potential
        ``(rounds + 1,)``: the potential (USD) of each profile; it never increases under
        Gauss-Seidel rounds (each step is a best response, which lowers the mover's cost and so
        the potential by as much).
    order
        ``"gauss-seidel"`` or ``"jacobi"``.
    """

    flows: np.ndarray
    potential: np.ndarray
    order: str

    @property
    def final(self) -> np.ndarray:
        """The last profile."""
        return self.flows[-1]


def _check_rows(rows: np.ndarray, demand: np.ndarray, user_ids: tuple[str, ...]) -> None:
    """Each row sum within ``START_ROW_TOL * max(D_i, 1)`` of its demand (else MarketError)."""
    gap = np.abs(rows - demand)
    bad = np.flatnonzero(gap > START_ROW_TOL * np.maximum(demand, 1.0))
    if bad.size:
        i = int(bad[0])
        raise MarketError(
            f"start: row {i} sums to {rows[i]:g}, not the demand {demand[i]:g} of user "
            f"{user_ids[i]!r} "
            f"(gap {gap[i]:.3g}; tolerance {START_ROW_TOL:g} of max(demand, 1))"
        )


def best_response_dynamics(
    market: Market,
    prefs: Preferences | None,
    start: np.ndarray | None = None,
    rounds: int = 50,
    order: str = "gauss-seidel",
) -> BestResponseTrajectory:
    """Users play exact best responses (water-filling), round after round.

    Parameters
    ----------
    market, prefs
        The game (``prefs`` ``None``: the defaults).
    start
        The starting profile ``(n, m)``: flows >= 0 whose rows sum to the demands, each within
        :data:`START_ROW_TOL` of ``max(D_i, 1)`` tokens (a user without demand starts with no
        flow); default: every user splits its demand evenly over the providers.
    rounds
        Number of rounds (>= 0). In a round every user moves once.
    order
        ``"gauss-seidel"``: users move in turn, each seeing the moves before it (the potential
        then never increases and the profile converges to the equilibrium); ``"jacobi"``:
        every user best-responds to the previous round's profile at once (may oscillate).

    Returns
    -------
    BestResponseTrajectory

    Raises
    ------
    prillm.MarketError
        If ``start`` has the wrong shape, is not finite or negative, or a row does not sum to
        its user's demand (the message names the user, the row's sum, the demand and the gap).
    ValueError
        If ``rounds`` is negative or ``order`` unknown.

    References
    ----------
    Definition 1 and the potential of Eq. (4-5): a finite potential game, where best responses
    descend the potential.

    Examples
    --------
    >>> from prillm import Market, Preferences, solve_equilibrium
    >>> mkt = Market(demand=[1e6, 2e6], price=[1.0, 2.0], capacity=[1e6, 1e6])
    >>> traj = best_response_dynamics(mkt, Preferences(w_d=0.0), rounds=40)
    >>> eq = solve_equilibrium(mkt, Preferences(w_d=0.0))
    >>> bool(np.allclose(traj.final, eq.flows, rtol=0, atol=1e-6 * 2e6))
    True
    """
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise ValueError(f"rounds: expected an integer >= 0, got {rounds!r}")
    if order not in ("gauss-seidel", "jacobi"):
        raise ValueError(f"order: expected 'gauss-seidel' or 'jacobi', got {order!r}")
    gc = game_coefficients(market, prefs or Preferences())
    cost, slope, demand = gc.cost, gc.slope, gc.demand
    n, m = market.shape
    if start is None:
        flows = np.repeat(demand[:, None] / m, m, axis=1)
    else:
        flows = _flows_for(market, start, "start").copy()
        if (flows < 0).any():
            raise MarketError("start: flows must be >= 0")
        _check_rows(flows.sum(axis=1), demand, tuple(market.user_ids))
    history = [flows.copy()]
    for _ in range(int(rounds)):
        if order == "jacobi":
            flows = best_responses(cost, slope, demand, flows)[0]
        else:
            loads = flows.sum(axis=0)
            for i in range(n):
                others = loads - flows[i]
                new, _ = water_filling(cost[i] + slope * others, 2.0 * slope, demand[i])
                loads = others + new
                flows[i] = new
        history.append(flows.copy())
    path = np.array(history)
    values = np.array([potential_arrays(cost, slope, f) for f in path]) / TOKENS_PER_PRICE_UNIT
    return BestResponseTrajectory(flows=path, potential=values, order=order)
