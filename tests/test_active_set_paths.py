"""The active-set solver's fast paths against the general kernel and independent references.

- The users' system of a small market is built, factorised and solved inline in the iteration
  (:func:`prillm.equilibrium.active_set._pdas`); with the inline path switched off the kernel's
  functions (:mod:`prillm.equilibrium.kkt`) do the same work, and the answers must agree bit
  for bit.
- :func:`prillm.equilibrium.certify_arrays` reduces stacked buffers; a plain implementation of
  the residuals of :class:`prillm.KKTCertificate` (boolean indexing, one maximum at a time) must
  give the same values exactly (maxima, minima, absolute values and negations are exact).
- The certificate's ``flow_error`` bounds the distance to the exact equilibrium of the rational
  oracle (``tests/oracle.py``) on the benchmark's kinds of markets and on degenerate ones.
"""

from __future__ import annotations

import numpy as np
import pytest

import prillm.equilibrium.active_set as active_set
from prillm import solve_equilibrium
from prillm.equilibrium import certify_arrays, solve_active_set
from prillm.market import game_coefficients
from prillm.synthetic import random_market, sparse_market
from scripts.stress_equilibrium import KINDS
from scripts.stress_equilibrium import random_market as stress_market
from tests.oracle import exact_equilibrium, flow_error


def _markets(seed: int, count: int, max_size: int):
    """Sparse, congested and stress-kind markets with at most as many users as providers."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        m = int(rng.integers(1, max_size + 1))
        n = int(rng.integers(1, m + 1))
        if k % 3 == 0:
            yield sparse_market(rng, n, m)
        elif k % 3 == 1:
            yield random_market(rng, n, m, tightness=float(rng.uniform(0.2, 1.5)), zero_demand=0.2)
        else:
            yield stress_market(rng, KINDS[(k // 3) % len(KINDS)], max_size)


def test_the_inline_users_system_matches_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []
    for market, prefs in _markets(3, 150, 40):
        gc = game_coefficients(market, prefs)
        runs.append((gc, solve_active_set(gc.cost, gc.slope, gc.demand)))
    # off: every support goes through kkt.system_weights / kkt_matrix / factor / solve_factored
    monkeypatch.setattr(active_set, "_PAIRS_MIN_SIZE", 0)
    inline_used = 0
    for gc, fast in runs:
        plain = solve_active_set(gc.cost, gc.slope, gc.demand)
        for name in ("flows", "multipliers", "loads", "support", "flow_error"):
            assert np.array_equal(getattr(fast, name), getattr(plain, name)), name
        assert (fast.iterations, fast.fallback, fast.path) == (
            plain.iterations,
            plain.fallback,
            plain.path,
        )
        if fast.kkt is not None and plain.kkt is not None:
            assert np.array_equal(np.tril(fast.kkt.chol), np.tril(plain.kkt.chol))
            assert np.array_equal(fast.kkt.weight, plain.kkt.weight)
            assert np.array_equal(fast.kkt.a, plain.kkt.a)
            inline_used += fast.path == "double"
    assert inline_used > 50  # the comparison covered the inline path


def _plain_certificate(cost, slope, demand, flows, lam, support):
    """The residuals of KKTCertificate written out term by term (the reference)."""
    n, m = flows.shape
    loads = np.ones(n) @ flows
    congestion = slope * (flows + loads)
    g = cost + congestion
    mu = g - lam[:, None]
    d_max = float(np.max(demand))
    d_scale = d_max if d_max > 0 else 1.0
    c_scale = max(np.max(np.abs(cost)), np.max(congestion), np.max(np.abs(lam)))
    c_scale = float(c_scale) if c_scale > 0 else 1.0
    rows = flows @ np.ones(m) - demand
    primal = max(float(np.max(np.abs(rows))), float(-np.min(flows)), 0.0) / d_scale
    on, off = mu[support], mu[~support]
    stationarity = float(np.max(np.abs(on))) / c_scale if on.size else 0.0
    dual = max(float(-np.min(off)), 0.0) / c_scale if off.size else 0.0
    comp = 0.0
    if off.size:
        comp = max(float(np.max(np.abs(flows[~support]) * off)), 0.0) / (c_scale * d_scale)
    return (primal, stationarity, dual, comp), g, loads


@pytest.mark.parametrize("seed", range(6))
def test_certify_arrays_matches_a_plain_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n, m = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        cost = rng.normal(size=(n, m)) * 10.0 ** rng.uniform(-3, 3)
        slope = 10.0 ** rng.uniform(-9, -3, m)
        demand = rng.uniform(0.0, 1e6, n) * (rng.random(n) > 0.1)
        flows = rng.uniform(-1e3, 1e6, (n, m)) * (rng.random((n, m)) < 0.6)
        lam = rng.normal(size=n) * 10.0 ** rng.uniform(-3, 3)
        support = rng.random((n, m)) < float(rng.choice([0.0, 0.3, 1.0]))
        bound = float(rng.uniform(0, 1e-12))
        args = (cost, slope, demand, flows, lam, support)
        cert, g, loads = certify_arrays(*args, 1e-9, False, bound)
        ref, g_ref, loads_ref = _plain_certificate(*args)
        got = (cert.primal, cert.stationarity, cert.dual, cert.complementarity)
        assert got == ref
        assert np.array_equal(g, g_ref) and np.array_equal(loads, loads_ref)
        assert cert.flow_error == bound and cert.nash_gap is None


def test_the_flow_bound_bounds_the_exact_error() -> None:
    rng = np.random.default_rng(7)
    paths = set()
    for k in range(240):
        n, m = int(rng.integers(1, 11)), int(rng.integers(1, 11))
        if k % 3 == 0:
            market, prefs = sparse_market(rng, n, m)
        elif k % 3 == 1:
            market, prefs = random_market(rng, n, m, tightness=0.4)
        else:
            market, prefs = stress_market(rng, KINDS[(k // 3) % len(KINDS)], 10)
        eq = solve_equilibrium(market, prefs)
        exact = exact_equilibrium(market, prefs, hint=eq.support)
        assert flow_error(eq.flows, exact, market.demand) <= eq.certificate.flow_error
        paths.add(eq.path)
    assert {"double", "double-double"} <= paths
