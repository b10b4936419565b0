"""The exact path's end checks and its local repair, against certified equilibria and a grid.

A route that changes sides at a breakpoint keeps the value it had within the zero tolerance: a
reduced cost ``mu`` becomes the flow ``-K_j mu``. The tolerance is stated in gap units so that
both stay below the certification tolerance; a benchmark market on which the former tolerance
(``mu <= 1e-10`` whatever ``K_j``) failed the checks is kept here. Pieces that do fail their
checks are rebuilt one run at a time from certified equilibria (:func:`repair_pieces`).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.bench_pricing import bench_market
from prillm import Market, Preferences, solve_equilibrium
from prillm.pricing import exact, optimal_price, path_system
from prillm.pricing.path_system import TOL, zero_tolerance
from prillm.pricing.problem import make_problem
from prillm.pricing.support_bisection import repair_pieces

from .markets import random_market, stress_market


def _former_tolerance(support, demand, capa, rows=None, cols=None):
    """The zero tolerance before it was stated in gap units: ``TOL D_i`` on flows, ``TOL`` on
    reduced costs, whatever ``K_j``."""
    d = demand[:, None] if rows is None else demand[rows]
    return np.where(support, TOL * d, TOL)


def _benchmark_market_50x50():
    """The fourth 50 x 50 market of ``benchmarks/bench_pricing.py --markets 5`` (seed 0): the
    stream draws five 8 x 8 and five 20 x 20 markets first (every one sells, none is redrawn)."""
    rng = np.random.default_rng(0)
    for n, count in ((8, 5), (20, 5), (50, 3)):
        for _ in range(count):
            bench_market(rng, n, n)
    return bench_market(rng, 50, 50)


def _load_on(pieces, p: float) -> float:
    a, _, f0, d0 = next(pc for pc in pieces if pc[0] <= p <= pc[1])
    return f0 + (p - a) * d0


def _profit(market, prefs, p: float) -> float:
    return p * float(solve_equilibrium(market.with_price(0, p), prefs).loads[0]) / 1e6


@given(
    demand=st.lists(st.floats(1e-9, 1.0), min_size=1, max_size=4),
    capa=st.lists(st.floats(1e-6, 1e13), min_size=1, max_size=4),
)
@settings(max_examples=40)
def test_zero_tolerance_bounds_both_sides(demand, capa):
    """Whichever side a degenerate route ends on, its flow is within ``TOL D_i`` and its
    reduced cost within ``TOL``: the two tolerances are one in gap units."""
    d, k = np.array(demand), np.array(capa)
    on = zero_tolerance(np.ones((d.size, k.size), bool), d, k)
    off = zero_tolerance(np.zeros((d.size, k.size), bool), d, k)
    assert np.allclose(on / k, off, rtol=1e-15, atol=0)
    assert np.all(on <= TOL * d[:, None] * (1 + 1e-15))  # a flow, or a reduced cost entering
    assert np.all(off * k <= TOL * d[:, None] * (1 + 1e-15))
    assert np.all(off <= TOL) and np.all(on / k <= TOL * (1 + 1e-15))
    # positions given flat: the same values
    rows, cols = np.divmod(np.arange(d.size * k.size), k.size)
    flat = zero_tolerance(np.ones(rows.size, bool), d, k, rows, cols)
    assert np.array_equal(flat, on.reshape(-1))


def test_benchmark_market_that_failed_its_end_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    market, prefs = _benchmark_market_50x50()
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    res = optimal_price(market, prefs, 0, full_path=True)
    # the planted condition: under the former tolerance this market's path fails its checks
    # (a reduced cost of 5.6e-11 entered as a flow of -3.0e-9 at K_j = 59)
    with monkeypatch.context() as mp:
        mp.setattr(path_system, "zero_tolerance", _former_tolerance)
        former = exact.price_path(prob)
        assert former["kkt_max_violation"] > exact.CERTIFY_TOL
        # ... and its one failing piece is rebuilt locally: the same optimum
        price, diag = exact.solve(prob)
        assert diag["status"] == "global_optimum" and diag["repaired_pieces"] == 1
        assert sum(v > exact.CERTIFY_TOL for v in former["piece_violations"]) == 1
    assert math.isclose(price, res.price, rel_tol=1e-9, abs_tol=1e-9)
    # today's tolerance: every piece checks out, no repair
    d = res.diagnostics
    assert res.status == "global_optimum" and d["repaired_pieces"] == 0
    assert d["kkt_max_violation"] < 1e-12 and "checked at both ends" in res.reason
    # against an independent reference: certified equilibria on a dense grid of prices
    grid = np.linspace(prob.p_min, prob.p_max, 401)
    profits = [_profit(market, prefs, float(p)) for p in grid]
    k = int(np.argmax(profits))
    assert res.profit >= profits[k] * (1 - 1e-12)
    fine = np.linspace(grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)], 201)
    assert res.profit >= max(_profit(market, prefs, float(p)) for p in fine) * (1 - 1e-12)
    for p in grid[::20]:
        eq = solve_equilibrium(market.with_price(0, float(p)), prefs)
        load = _load_on(d["pieces"], float(p))
        assert math.isclose(load, eq.loads[0], rel_tol=1e-9, abs_tol=1e-9 * market.demand.sum())


@pytest.mark.parametrize("seed", [3, 4])
def test_local_repair_rebuilds_only_the_failing_pieces(seed: int) -> None:
    """Corrupt some pieces of a correct path and flag them: the repair rebuilds them (loads
    equal to certified equilibria), keeps the others untouched and finds the same optimum."""
    rng = np.random.default_rng(seed)
    market, prefs = random_market(rng, 7, 5)
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    path = exact.price_path(prob)
    pieces = path["pieces"]
    assert len(pieces) >= 6 and path["kkt_max_violation"] < 1e-12
    k0 = int(rng.integers(0, len(pieces) - 3))
    bad = [k0, k0 + 1, int(rng.integers(k0 + 3, len(pieces)))]  # a run of two and a single
    wrong = [
        (a, b, f * 1.3 + 1e5, d * 0.7) if k in bad else (a, b, f, d)
        for k, (a, b, f, d) in enumerate(pieces)
    ]
    flags = [1.0 if k in bad else 0.0 for k in range(len(pieces))]
    rep = repair_pieces(prob, wrong, flags, exact.CERTIFY_TOL)
    assert rep["ok"] and rep["repaired"] == len(bad)
    # good pieces are kept as they were
    kept = [pc for k, pc in enumerate(wrong) if k not in bad]
    assert all(pc in rep["pieces"] for pc in kept)
    # the rebuilt stretches cover exactly the flagged pieces and agree with the equilibrium
    out = rep["pieces"]
    assert out[0][0] == prob.p_min and out[-1][1] == prob.p_max
    assert all(b0 == a1 for (_, b0, _, _), (a1, _, _, _) in itertools.pairwise(out))
    for k in bad:
        a, b = pieces[k][:2]
        for p in np.linspace(a, b, 5):
            eq = solve_equilibrium(market.with_price(0, float(p)), prefs)
            got = _load_on(out, float(p))
            assert math.isclose(got, eq.loads[0], rel_tol=1e-9, abs_tol=1e-6), (k, p)
    assert math.isclose(rep["best"][1], path["best"][1], rel_tol=1e-12)
    # a solve of the flagged pieces only: a few equilibria each, not the whole path's
    assert rep["solves"] <= 60 * len(bad)


def test_exact_solve_repairs_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    """A path whose checks fail on some pieces (planted: their violations reported as 1)
    is followed again in full (an early stop read a load the checks did not vouch for) and
    certified through the local repair, and says so."""
    market, prefs = random_market(np.random.default_rng(5), 6, 6)
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    clean_price, clean = exact.solve(prob, full_path=True)
    follow = exact.price_path
    calls = []

    def failing(prob_, max_pieces=None, stop_early=False):
        calls.append(stop_early)
        path = follow(prob_, max_pieces, stop_early)
        path["piece_violations"] = [
            1.0 if k % 3 == 1 else v for k, v in enumerate(path["piece_violations"])
        ]
        path["kkt_max_violation"] = max(path["piece_violations"])
        return path

    monkeypatch.setattr(exact, "price_path", failing)
    price, diag = exact.solve(prob)
    failed = sum(k % 3 == 1 for k in range(len(clean["pieces"])))
    assert calls == [True, False] and diag["stopped_at"] is None
    assert diag["status"] == "global_optimum" and diag["repaired_pieces"] == failed
    assert f"the {failed} of {len(clean['pieces'])} pieces" in diag["reason"]
    assert math.isclose(price, clean_price, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(diag["path_profit"], clean["path_profit"], rel_tol=1e-12)
    prices = [b["price"] for b in diag["breakpoints"]]
    assert prices == sorted(prices)


def _extreme_market(rng: np.random.Generator) -> tuple[Market, Preferences]:
    """A small market whose capacities span 1e-3 to 1e13 x the demand."""
    n, m = int(rng.integers(2, 6)), int(rng.integers(2, 5))
    demand = rng.uniform(1e3, 1e6, n)
    market = Market(
        demand=demand,
        price=rng.uniform(0.5, 20, m),
        capacity=10.0 ** rng.uniform(-3, 13, m) * demand.sum(),
        latency=rng.uniform(0, 1, (n, m)),
    )
    prefs = Preferences(w_q=1.0, w_d=0.5, b=rng.uniform(0, 3, m))
    return market, prefs


@pytest.mark.parametrize("seed", range(6))
def test_extreme_capacities_keep_an_honest_status(seed: int) -> None:
    """Capacities from 1e-3 to 1e13 x the demand: "global optimum" only with every piece
    certified (checked at both ends, or rebuilt from certified equilibria), and then the profit
    beats a grid of certified equilibria and the pieces are the equilibrium's loads."""
    rng = np.random.default_rng(100 + seed)
    market, prefs = _extreme_market(rng)
    demand = market.demand
    res = optimal_price(market, prefs, 0, full_path=True)
    d = res.diagnostics
    if res.status != "global_optimum":
        assert res.status == "not_certified" and "repair" in res.reason
        return
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    path = exact.price_path(prob)
    flagged = any(
        max(v, r) > exact.CERTIFY_TOL
        for v, r in zip(path["piece_violations"], path["piece_resolutions"], strict=True)
    )
    assert ("repaired" in res.reason) == flagged == (d["repaired_pieces"] > 0)
    grid = np.linspace(res.p_min, res.p_max, 301)
    assert res.profit >= max(_profit(market, prefs, float(p)) for p in grid) * (1 - 1e-9)
    for p in rng.uniform(res.p_min, res.p_max, 8):
        eq = solve_equilibrium(market.with_price(0, float(p)), prefs)
        got = _load_on(d["pieces"], float(p))
        assert math.isclose(got, eq.loads[0], rel_tol=1e-7, abs_tol=1e-9 * demand.sum())


def test_checks_below_their_resolution_do_not_certify() -> None:
    """At a capacity of 5e12 x the demand a piece can pass its checks (3e-11) with a load off by
    4e-4 of the demand: its checks cannot resolve the tolerance, so it is rebuilt too."""
    # the market of the extreme-capacity test, seed 0
    market, prefs = _extreme_market(np.random.default_rng(100))
    demand = market.demand
    prob = make_problem(market, prefs, 0, None, 0.0, 0.0)
    path = exact.price_path(prob)
    # the planted condition: a piece that passes its checks and is wrong
    wrong = []
    for (a, b, f0, d0), v, r in zip(
        path["pieces"], path["piece_violations"], path["piece_resolutions"], strict=True
    ):
        p = 0.5 * (a + b)
        true = solve_equilibrium(market.with_price(0, p), prefs).loads[0]
        if v <= exact.CERTIFY_TOL and abs(f0 + (p - a) * d0 - true) > 1e-6 * demand.sum():
            wrong.append(r)
    assert wrong and min(wrong) > exact.CERTIFY_TOL  # ... and its checks say they cannot tell
    res = optimal_price(market, prefs, 0)
    assert res.status == "global_optimum" and "checks that resolve only" in res.reason
    for a, b, f0, d0 in res.diagnostics["pieces"]:
        if b - a <= 1e-9 * max(1.0, a):
            continue  # the bracket of a located breakpoint (1e-12 wide; the load drops in it)
        p = 0.5 * (a + b)
        true = solve_equilibrium(market.with_price(0, p), prefs).loads[0]
        assert math.isclose(f0 + (p - a) * d0, true, rel_tol=1e-9, abs_tol=1e-9 * demand.sum())


# ------------------------------------------------- a path that cannot be followed at all
#: Two "wide" markets of ``scripts/stress_equilibrium.py`` (capacities 1e12 x the demand, w_q
#: 1e-4 and 5e-6, prices in the thousands) on which following the path in double precision
#: failed: a support's matrix not numerically positive definite, and round-off chattering past
#: 300 pieces. Before the rebuild, ``optimal_price`` raised a bare LinAlgError / PathError.
_UNFOLLOWABLE = [
    ("unfollowable_singular", "not positive definite"),
    ("unfollowable_chatter", "more than 300 pieces"),
]


@pytest.mark.parametrize("name, cause", _UNFOLLOWABLE)
def test_a_path_that_cannot_be_followed_is_rebuilt_from_certified_equilibria(name, cause):
    market, prefs = stress_market(name)
    res = optimal_price(market, prefs, 0, method="exact")
    d = res.diagnostics
    assert cause in d["path_error"] and "rebuilt" in res.reason and cause in res.reason
    assert res.status == "global_optimum", res.reason  # every rebuilt piece checks out
    assert d["kkt_max_violation"] is None  # no followed piece was checked
    # no price of a grid of certified equilibria earns more
    grid = np.linspace(res.p_min, res.p_max, 150)
    best = max(
        p * float(solve_equilibrium(market.with_price(0, float(p)), prefs).loads[0]) / 1e6
        for p in grid
    )
    assert res.profit >= best * (1 - 1e-9), (res.profit, best)


def test_the_rebuild_finds_the_exact_paths_optimum(monkeypatch):
    """Forced on an ordinary market, the rebuild from certified equilibria agrees with the path."""
    market, prefs = random_market(np.random.default_rng(8), 6, 5)
    direct = optimal_price(market, prefs, 0, method="exact")
    assert direct.status == "global_optimum" and "rebuilt" not in direct.reason

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("forced")

    monkeypatch.setattr(exact, "price_path", broken)
    rebuilt = optimal_price(market, prefs, 0, method="exact")
    assert rebuilt.status == "global_optimum" and "could not be followed (forced)" in rebuilt.reason
    assert rebuilt.price == pytest.approx(direct.price, rel=1e-8)
    assert rebuilt.profit == pytest.approx(direct.profit, rel=1e-10)


def test_prillm_price_states_an_uncertified_optimum_as_it_is(tmp_path, capsys, monkeypatch):
    """The command line prints the certificate line only for a proven optimum and exits with
    status 3 otherwise (price and explain alike); the JSON says the status."""
    import json

    from prillm.cli import main
    from prillm.synthetic import demo_market

    market, prefs = demo_market()
    path = tmp_path / "market.json"
    market.to_json(path, prefs)
    args = ["price", str(path), "--target", "mid-llm"]
    assert main(args) == 0
    assert "certificate    global optimum" in capsys.readouterr().out
    # every piece failing its checks, and no repair: the exact method cannot certify
    monkeypatch.setattr(exact, "certified_path", lambda path: False)
    monkeypatch.setattr(exact, "_repair", lambda prob, path: None)
    assert main(args) == 3
    out = capsys.readouterr().out
    assert "not_certified" in out and "certificate    global optimum" not in out
    assert main([*args, "--json"]) == 3
    assert json.loads(capsys.readouterr().out)["status"] == "not_certified"
    assert main(["explain", str(path), "--target", "mid-llm", "--no-scores"]) == 3


#: Two "huge capacity" markets of the same sample (capacities 5e7-1e10 and 2e9-2e12 x the
#: demand): their pieces are so steep that rounding a piece's midpoint price moved the load by
#: up to 1e-5 of the demand, which the midpoint check read as a misread support
#: (``not_certified``). It now interpolates at the rounded midpoint.
_STEEP = ["steep_1x2", "steep_3x3"]


@pytest.mark.parametrize("name", _STEEP)
def test_steep_pieces_are_judged_at_their_rounded_midpoint(name):
    market, prefs = stress_market(name)
    res = optimal_price(market, prefs, 0, method="exact")
    assert res.status == "global_optimum", res.reason
    grid = np.linspace(res.p_min, res.p_max, 300)
    best = max(
        p * float(solve_equilibrium(market.with_price(0, float(p)), prefs).loads[0]) / 1e6
        for p in grid
    )
    assert res.profit >= best * (1 - 1e-9), (res.profit, best)
