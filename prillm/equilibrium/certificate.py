"""The KKT certificate of an equilibrium (Eq. 14-17) and the solver's error type."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prillm.equilibrium._work import ones
from prillm.equilibrium.model import best_responses, split_cost
from prillm.market import Market, Preferences, game_coefficients

__all__ = [
    "DEFAULT_TOL",
    "EquilibriumError",
    "KKTCertificate",
    "certify_arrays",
    "kkt_certificate",
]

#: Default bound on the relative KKT residual for a returned equilibrium.
DEFAULT_TOL = 1e-9


class EquilibriumError(RuntimeError):
    """The solver could not certify an equilibrium (it never returns an uncertified one)."""


@dataclass(frozen=True)
class KKTCertificate:
    """Relative residuals of the KKT conditions (Eq. 14-17) of an equilibrium.

    With ``g_ij = c_ij + k_j (F_j + f_ij)`` the marginal cost of Eq. (12) and
    ``mu_ij = g_ij - lambda_i`` the reduced cost, residuals are normwise: flows are scaled by
    ``max_i D_i`` and costs by the largest marginal-cost term in the market.

    Attributes
    ----------
    primal
        ``max(|sum_j f_ij - D_i|, max(-f_ij, 0))`` (Eq. 15).
    stationarity
        ``max |mu_ij|`` over the support, the routes declared used (Eq. 14 with ``mu = 0``).
    dual
        ``max(-mu_ij, 0)`` over routes off the support (Eq. 16): no unused route is cheaper.
    complementarity
        ``max |f_ij| * max(mu_ij, 0)`` over routes off the support (Eq. 17): flow left on
        routes that should be empty, weighted by how much dearer they are.
    nash_gap
        ``max_i (C_i(f_i) - min C_i)`` given the others' flows, by an exact water-filling best
        response: a direct check of Definition 1, independent of the multipliers. ``None`` when
        it was not computed (``solve_equilibrium(..., check_nash=False)``, the default, skips it
        to save time; the four KKT residuals already certify the equilibrium).
    tol
        The tolerance the certificate was judged against.
    flow_error
        A forward error bound on the flows: ``max_ij |f_ij - f*_ij| / D_i`` against the exact
        equilibrium ``f*``, each flow relative to its own user's demand (the solver's estimate
        from its last refinement step, :mod:`prillm.equilibrium.refine`). The four residuals
        above bound the *backward* error only: when capacities dwarf the demand, costs are
        nearly linear and tiny residuals allow large flow errors (book, chapter 2). ``None``
        when the flows did not come from the exact solver (then only the residuals are judged).
    """

    primal: float
    stationarity: float
    dual: float
    complementarity: float
    nash_gap: float | None
    tol: float = DEFAULT_TOL
    flow_error: float | None = None

    @property
    def max_residual(self) -> float:
        """The largest of the four KKT residuals."""
        return max(self.primal, self.stationarity, self.dual, self.complementarity)

    @property
    def certified(self) -> bool:
        """Whether every residual (and the Nash gap, when computed) is within ``tol``."""
        nash_ok = self.nash_gap is None or self.nash_gap <= self.tol
        flows_ok = self.flow_error is None or self.flow_error <= self.tol
        return self.max_residual <= self.tol and nash_ok and flows_ok

    def to_dict(self) -> dict[str, float | bool | None]:
        """Plain-JSON representation."""
        return {
            "primal": self.primal,
            "stationarity": self.stationarity,
            "dual": self.dual,
            "complementarity": self.complementarity,
            "nash_gap": self.nash_gap,
            "max_residual": self.max_residual,
            "flow_error": self.flow_error,
            "tol": self.tol,
            "certified": self.certified,
        }


def kkt_certificate(
    market: Market,
    prefs: Preferences,
    flows: np.ndarray,
    multipliers: np.ndarray,
    support: np.ndarray | None = None,
    *,
    tol: float = DEFAULT_TOL,
    nash: bool = True,
) -> KKTCertificate:
    """Measure how well ``(flows, multipliers)`` satisfy the KKT conditions (Eq. 14-17).

    The measure of an equilibrium is independent of the solver that produced it: any flows and
    multipliers can be judged (an interior-point method's, a hand-made profile).

    Parameters
    ----------
    market, prefs
        The game.
    flows, multipliers
        A candidate equilibrium, shapes ``(n, m)`` and ``(n,)``.
    support
        The routes declared used; defaults to ``flows > 0``. Passing the exact solver's support
        lets one measure an approximate solver (e.g. an interior-point method, which leaves tiny
        flows on every route) against the true support.
    tol
        Tolerance stored in the certificate.
    nash
        Also compute the Nash gap (an exact best response per user).

    Returns
    -------
    KKTCertificate
    """
    gc = game_coefficients(market, prefs)
    flows = np.asarray(flows, dtype=float)
    lam = np.asarray(multipliers, dtype=float)
    support = flows > 0 if support is None else np.asarray(support, bool)
    return certify_arrays(gc.cost, gc.slope, gc.demand, flows, lam, support, tol, nash)[0]


def certify_arrays(
    cost: np.ndarray,
    slope: np.ndarray,
    demand: np.ndarray,
    flows: np.ndarray,
    lam: np.ndarray,
    support: np.ndarray,
    tol: float = DEFAULT_TOL,
    nash: bool = True,
    flow_error: float | None = None,
) -> tuple[KKTCertificate, np.ndarray, np.ndarray]:
    """The certificate on raw arrays, with the marginal costs ``g`` and loads it was built from.

    ``flow_error``, the solver's forward error bound when it has one, is stored in the
    certificate as it is (:attr:`KKTCertificate.flow_error`).
    """
    n, m = flows.shape
    if n == 0 or m == 0:
        return (
            KKTCertificate(0.0, 0.0, 0.0, 0.0, 0.0 if nash else None, tol, flow_error),
            cost.copy(),
            np.zeros(m),
        )
    # every maximum of an (n, m) term from one reduction of a stacked buffer; the negated and
    # absolute values are exact, so these are the maxima and minima of the terms themselves
    work = np.empty((6, n, m))
    loads = ones(n).dot(flows)
    congestion = np.add(flows, loads, out=work[0])
    congestion *= slope
    g = congestion + cost  # the marginal costs of Eq. (12)
    mu = g - lam[:, None]
    np.abs(cost, out=work[1])
    # masks by multiplication (one fast pass each; np.where and boolean indexing cost more):
    # the zeros a mask leaves do not change these maxima and minima of signed terms
    on = np.multiply(mu, support, out=work[2])
    off = np.subtract(mu, on, out=work[3])  # reduced costs off the support (0 on it, exactly)
    np.abs(on, out=on)
    comp = np.abs(flows, out=work[4])
    comp *= off  # flow left on routes declared unused, weighted by how much dearer
    np.negative(off, out=off)
    np.negative(flows, out=work[5])
    big = _max(work.reshape(6, n * m), 1)
    # max |cost|, max congestion, max |mu| on, max -mu off, max f mu off, max -f
    vec = np.empty((3, n))
    np.abs(lam, out=vec[0])
    rows = flows.dot(ones(m), out=vec[1])
    rows -= demand
    np.abs(rows, out=rows)
    vec[2] = demand
    small = _max(vec, 1)  # max |lambda|, max |row sum - D|, max D
    d_max = float(small[2])
    d_scale = d_max if d_max > 0 else 1.0
    c_scale = max(float(big[0]), float(big[1]), float(small[0]))
    c_scale = c_scale if c_scale > 0 else 1.0
    primal = max(float(small[1]), float(big[5]), 0.0) / d_scale
    stationarity = float(big[2]) / c_scale
    dual = max(float(big[3]), 0.0) / c_scale
    comp = max(float(big[4]), 0.0) / (c_scale * d_scale)
    gap = None
    if nash:
        # Definition 1 directly: user i's best response to the others' loads, by water-filling.
        br, intercept = best_responses(cost, slope, demand, flows)
        cost_now = split_cost(intercept, slope, flows)
        cost_br = split_cost(intercept, slope, br)
        gap = float(np.maximum(cost_now - cost_br, 0.0).max()) / (c_scale * d_scale)
    cert = KKTCertificate(primal, stationarity, dual, comp, gap, tol, flow_error)
    return cert, g, loads


#: Reductions called directly (``x.max()`` goes through a Python wrapper first).
_max = np.maximum.reduce
_min = np.minimum.reduce
