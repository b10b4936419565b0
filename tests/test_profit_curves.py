"""The profit curve of Problem 1 (Eq. 2) as the library computes it for the book.

``prillm.pricing.grid.price_sweep`` / ``profit_curve`` (warm-started exact equilibria along a price
grid) against certified equilibria solved from scratch, and
``prillm.pricing.explain.curve_from_pieces`` (the exact path's pieces) against both, with its
choice of piece at a breakpoint.
"""

from __future__ import annotations

import numpy as np
import pytest

from prillm import Market, Preferences, solve_equilibrium
from prillm.pricing import make_problem, optimal_price
from prillm.pricing.explain import curve_from_pieces, explain_price, pieces_array
from prillm.pricing.grid import price_sweep, profit_curve
from prillm.synthetic import plausible_market


def _problem(seed: int, n: int, m: int, cost: float = 0.0):
    market, prefs = plausible_market(np.random.default_rng(seed), n, m)
    s = int(np.argsort(market.price)[m // 2])
    return market, prefs, s, make_problem(market, prefs, s, None, 0.0, cost)


@pytest.mark.parametrize(("seed", "n", "m", "cost"), [(0, 6, 4, 0.0), (3, 10, 8, 0.05)])
def test_price_sweep_matches_certified_equilibria_solved_from_scratch(seed, n, m, cost) -> None:
    market, prefs, s, prob = _problem(seed, n, m, cost)
    prices = np.linspace(prob.p_min, prob.p_max, 60)
    sweep = price_sweep(prob, prices)
    cold = [solve_equilibrium(market.with_price(s, float(p)), prefs) for p in prices]
    load = np.array([eq.loads[s] for eq in cold])
    scale = load.max()
    assert np.allclose(sweep.load, load, rtol=0, atol=1e-10 * scale)
    assert np.allclose(sweep.profit, (prices - cost) * load / 1e6, rtol=0, atol=1e-9 * scale / 1e6)
    assert np.array_equal(sweep.prices, prices)
    # the routes carrying more than round-off are the certified equilibrium's
    for k, eq in enumerate(cold):
        clear = eq.flows > 1e-9 * market.demand.max()
        assert (sweep.support[k] | ~clear).all()
    assert sweep.support.shape == (len(prices), *market.shape)
    assert (sweep.iterations >= 1).all()
    # warm starts: a solve after the first rarely needs more than a couple of linear solves
    assert sweep.iterations[1:].mean() <= np.mean([eq.iterations for eq in cold])


def test_profit_curve_is_the_sweeps_profit_bit_for_bit() -> None:
    _, _, _, prob = _problem(5, 8, 6, 0.02)
    prices = np.linspace(prob.p_min, prob.p_max, 200)
    assert np.array_equal(profit_curve(prob, prices), price_sweep(prob, prices).profit)


def test_curve_from_pieces_equals_the_sweep_along_the_exact_path() -> None:
    market, prefs, s, prob = _problem(7, 8, 6, 0.03)
    res = optimal_price(market, prefs, s, "exact", marginal_cost=0.03, full_path=True)
    prices = np.linspace(res.p_min, res.p_max, 150)
    got = curve_from_pieces(res.diagnostics["pieces"], prices, 0.03)
    want = profit_curve(prob, prices)
    assert np.allclose(got, want, rtol=0, atol=1e-9 * np.abs(want).max())


def test_curve_from_pieces_chooses_the_piece_at_a_breakpoint() -> None:
    # two pieces that do not meet at p = 1, so that the piece used is visible
    pieces = [(0.0, 1.0, 2e6, -1e6), (1.0, 2.0, 5e5, -1e6)]
    assert curve_from_pieces(pieces, np.array(1.0)).item() == 0.5  # the piece starting there
    assert curve_from_pieces(pieces, np.array(1.0), side="left").item() == 1.0
    # explicit pieces, broadcast against the prices; a negative load counts as zero
    got = curve_from_pieces(pieces, np.array([1.0, 1.0, 2.0]), piece=np.array([0, 1, 1]))
    assert got.tolist() == [1.0, 0.5, 0.0]
    assert curve_from_pieces(pieces, np.array([0.5]), 0.25, piece=0).tolist() == [0.375]
    # prices outside the path are clipped to its ends
    assert curve_from_pieces(pieces, np.array([-1.0, 9.0])).tolist() == [0.0, 0.0]


def test_curve_from_pieces_rejects_bad_input() -> None:
    pieces = [(0.0, 1.0, 2e6, -1e6)]
    with pytest.raises(ValueError, match="side: expected 'right' or 'left', got 'middle'"):
        curve_from_pieces(pieces, np.array([0.5]), side="middle")
    with pytest.raises(ValueError, match=r"piece: expected indices in \[0, 0\], got 1"):
        curve_from_pieces(pieces, np.array([0.5]), piece=1)
    with pytest.raises(ValueError, match="pieces: the price path has no pieces"):
        pieces_array([])


def test_explanation_samples_each_piece_on_itself() -> None:
    mkt = Market(
        demand=[1e6, 2e6, 5e5],
        price=[1.0, 2.0, 1.5],
        capacity=[1e6, 1e6, 2e6],
        latency=[[0.2, 0.9, 0.5], [0.8, 0.3, 0.6], [0.5, 0.5, 0.1]],
        provider_ids=["a", "b", "c"],
    )
    ex = explain_price(mkt, Preferences(w_q=1.0, w_d=1.0), "a", remove_rivals=False)
    assert len(ex.pieces) >= 2
    prices, profits = ex.profit_curve(points_per_piece=5)
    assert prices.shape == profits.shape == (5 * len(ex.pieces),)
    for k, (p0, p1, f0, df) in enumerate(ex.pieces):
        p = prices[5 * k : 5 * (k + 1)]
        assert p[0] == p0 and p[-1] == p1
        want = (p - ex.marginal_cost) * np.maximum(f0 + df * (p - p0), 0.0) / 1e6
        assert np.array_equal(profits[5 * k : 5 * (k + 1)], want)
    # a breakpoint's profit is the one of the piece that ends there
    for bp in ex.breakpoints:
        k = next(i for i, pc in enumerate(ex.pieces) if pc[0] <= bp["price"] <= pc[1])
        p0, _, f0, df = ex.pieces[k]
        assert (
            bp["profit"]
            == (bp["price"] - ex.marginal_cost) * max(f0 + df * (bp["price"] - p0), 0.0) / 1e6
        )


def test_the_abstraction_samples_its_curves_with_the_same_function() -> None:
    from prillm.abstraction import curves

    assert curves.curve_from_pieces is curve_from_pieces
    assert curves.pieces_array is pieces_array
