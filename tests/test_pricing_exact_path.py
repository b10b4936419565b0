"""The exact price path's machinery: gap model, near-set ratio test, positional KKT updates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prillm import solve_equilibrium
from prillm.equilibrium import KKTMatrix
from prillm.pricing import exact, optimal_price
from prillm.pricing.affine import affine_support
from prillm.pricing.path_system import PathSystem
from prillm.pricing.problem import make_problem

from .markets import markets, random_market


def _flip(rng: np.random.Generator, support: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``support`` with up to ``k`` random entries flipped (rows kept non-empty), and them."""
    n, m = support.shape
    out = support.copy()
    idx = rng.choice(n * m, size=k, replace=False)
    out.reshape(-1)[idx] ^= True
    empty = ~out.any(axis=1)
    out[empty] = support[empty]
    return out, idx


@pytest.mark.parametrize(("n", "m"), [(6, 9), (9, 6)])
def test_support_matrix_updates_by_position_match_a_fresh_build(n: int, m: int) -> None:
    rng = np.random.default_rng(10 * n + m)
    market, prefs = random_market(rng, n, m)
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    system = KKTMatrix(prob.capa, prob.shape, refresh=1000, min_size=0)
    support = np.ones((n, m), bool)
    system.matrix(support)
    for step in range(40):
        new, idx = _flip(rng, support, 1 + step % 3)
        # the listed positions may be a superset of the changes (and include unchanged ones)
        extra = rng.choice(n * m, size=2, replace=False)
        updated = system.matrix(new, np.concatenate((idx, extra))).copy()
        fresh = KKTMatrix(prob.capa, prob.shape).matrix(new)
        assert np.allclose(updated, fresh, rtol=1e-12, atol=1e-12 * np.abs(fresh).max())
        support = new
    assert system.updates > 0  # the updates, not rebuilds, were compared


@pytest.mark.parametrize(("n", "m"), [(7, 5), (5, 7)])
def test_support_system_equals_affine_support(n: int, m: int) -> None:
    rng = np.random.default_rng(n * m + n)
    market, prefs = random_market(rng, n, m)
    prob = make_problem(market, prefs, 1, None, 0.0, 0.0)
    support = rng.random((n, m)) < 0.6
    support[np.arange(n), rng.integers(m, size=n)] = True
    system = PathSystem(prob, np.ones((n, m), bool))
    for _ in range(5):
        new, _ = _flip(rng, support, 3)
        changed = np.flatnonzero((new != system.support).reshape(-1))
        system.assign(changed, new.reshape(-1)[changed])
        price = float(rng.uniform(prob.p_min, prob.p_max))
        system.solve(price)
        got = system.affine(price)
        want = affine_support(prob, new, price)
        for name in ("x", "mu", "dx", "dmu", "lam", "loads", "dlam", "dloads"):
            a, b = getattr(got, name), getattr(want, name)
            assert np.allclose(a, b, rtol=1e-10, atol=1e-12), name
        assert np.abs(system.residual).max() < 1e-12
        assert np.abs(system.dresidual).max() < 1e-12
        support = new


@pytest.mark.parametrize(("n", "m", "target"), [(60, 45, 0), (45, 60, 3)])
def test_near_set_path_is_the_full_path(
    n: int, m: int, target: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    market, prefs = random_market(np.random.default_rng(n + m), n, m, tightness=0.3)
    prob = make_problem(market, prefs, target, None, 0.0, 0.0)
    monkeypatch.setattr(exact, "NEAR_MIN_SIZE", 2500)  # the near set at this size, too
    near = exact.price_path(prob)
    assert near["near_set_pieces"] > 0
    monkeypatch.setattr(exact, "NEAR_MIN_SIZE", n * m + 1)
    full = exact.price_path(prob)
    assert full["near_set_pieces"] == 0
    # the near set runs the same arithmetic on the same routes: the paths agree bit for bit
    assert near["pieces"] == full["pieces"]
    assert near["breakpoints"] == full["breakpoints"]
    assert near["best"] == full["best"]
    assert near["kkt_max_violation"] < 1e-11
    # and the path is the equilibrium's
    rng = np.random.default_rng(1)
    pieces = near["pieces"]
    for p in rng.uniform(prob.p_min, prob.p_max, 6):
        a, _, f0, d0 = next(pc for pc in pieces if pc[0] <= p <= pc[1])
        eq = solve_equilibrium(market.with_price(target, p), prefs)
        assert math.isclose(f0 + (p - a) * d0, eq.loads[target], rel_tol=1e-9, abs_tol=1e-3)


def test_rebuilt_and_updated_matrices_give_the_same_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below :data:`FRESH_MATRIX_MAX` the KKT matrix is rebuilt for each piece, above it updated
    by the changed lines: both give the same path (to round-off) and both check out."""
    from prillm.pricing import path_system

    n, m = 60, 45  # 2,700 routes: the updates' size (below 2,500 routes a rebuild always)
    market, prefs = random_market(np.random.default_rng(3), n, m, tightness=0.3)
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    assert n * m * min(n, m) <= path_system.FRESH_MATRIX_MAX
    fresh = exact.price_path(prob)
    monkeypatch.setattr(path_system, "FRESH_MATRIX_MAX", 0)
    updated = exact.price_path(prob)
    system = path_system.PathSystem(prob, np.ones(prob.shape, bool))
    assert not system.kkt.disposable  # the updates did run
    assert len(fresh["pieces"]) == len(updated["pieces"]) > 10
    for a, b in zip(fresh["pieces"], updated["pieces"], strict=True):
        assert np.allclose(a, b, rtol=1e-9, atol=1e-6)
    assert max(fresh["kkt_max_violation"], updated["kkt_max_violation"]) < 1e-12
    assert math.isclose(fresh["best"][1], updated["best"][1], rel_tol=1e-12)


def test_assign_by_scalars_equals_assign_by_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handful of positions are assigned as scalars, more by array indexing: same arrays."""
    from prillm.pricing import path_system

    market, prefs = random_market(np.random.default_rng(4), 9, 7)
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    rng = np.random.default_rng(5)
    start = rng.random(prob.shape) < 0.5
    few, many = PathSystem(prob, start), PathSystem(prob, start)
    for _ in range(20):
        idx = rng.choice(start.size, size=int(rng.integers(1, 6)), replace=False)
        on = rng.random(idx.size) < 0.5
        few.assign(idx, on)
        with monkeypatch.context() as mp:
            mp.setattr(path_system, "_FEW", 0)  # the array path
            many.assign(idx, on)
    for name in ("support", "af", "ac", "wx", "sgn", "tolx"):
        assert np.array_equal(getattr(few, name), getattr(many, name)), name
    want = path_system.zero_tolerance(few.support, prob.demand, prob.capa)
    assert np.array_equal(few.tolx, want)


def _tail_best(pieces, start: float, cost: float, scale: float) -> float:
    """The highest profit (USD) of the pieces of a full path at prices from ``start`` on."""
    best = -math.inf
    for a, b, f0, d0 in pieces:
        if b < start:
            continue
        lo = max(a, start)
        cands = [lo, b]
        if d0 < 0:
            cands.append(min(max((cost * d0 - f0 + a * d0) / (2 * d0), lo), b))
        best = max(best, max((p - cost) * (f0 + (p - a) * d0) * scale for p in cands))
    return best


@given(drawn=markets(max_users=5, max_providers=5, extreme=False), cost=st.sampled_from([0, 1, 8]))
@settings(max_examples=40, deadline=None)
def test_early_stop_keeps_the_optimum_and_its_bound_holds(drawn, cost: float) -> None:
    """Where the path stops early, the full path's profit beyond the stop never exceeds the
    stated bound, the bound is at most the best profit found, the followed pieces are the full
    path's first pieces, and the optimum is the full path's."""
    market, prefs = drawn
    prob = make_problem(market, prefs, 0, None, 0.0, float(cost))
    full = exact.price_path(prob)
    early = exact.price_path(prob, stop_early=True)
    assert full["stopped_at"] is None
    assert early["pieces"] == full["pieces"][: len(early["pieces"])]
    assert early["best"] == full["best"]
    if early["stopped_at"] is not None:
        price, bound = early["stopped_at"]
        assert price < prob.p_max and len(early["pieces"]) < len(full["pieces"])
        tail = _tail_best(full["pieces"], price, prob.marginal_cost, 1e-6)
        assert tail <= bound * (1 + 1e-9) + 1e-12
        assert bound <= early["best"][1]


def test_exact_method_stops_early_and_full_path_goes_to_the_end() -> None:
    market, prefs = random_market(np.random.default_rng(7), 20, 20, tightness=0.5)
    short = optimal_price(market, prefs, 0, marginal_cost=0.5)
    whole = optimal_price(market, prefs, 0, marginal_cost=0.5, full_path=True)
    stop = short.diagnostics["stopped_at"]
    assert stop is not None and whole.diagnostics["stopped_at"] is None
    assert short.status == whole.status == "global_optimum"
    assert "the path stopped at" in short.reason
    assert short.price == whole.price and short.profit == whole.profit
    assert whole.diagnostics["pieces"][-1][1] == whole.p_max
    assert short.diagnostics["pieces"][-1][1] == stop["price"] < short.p_max
    assert short.diagnostics["n_breakpoints"] < whole.diagnostics["n_breakpoints"]
