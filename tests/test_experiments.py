"""The experiment harnesses return tidy records computed honestly (pricing methods)."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from prillm import MarketError, optimal_price
from prillm.experiments import compare_pricing_methods, summarise_pricing
from prillm.synthetic import random_market


def test_pricing_records_are_measured_in_the_true_game() -> None:
    methods = ["exact", "grid", "odca"]
    rows = compare_pricing_methods(
        [(3, 3), (4, 2)], methods, n_markets=2, rng=5, options={"grid": {"n_points": 300}}
    )
    assert len(rows) == 2 * 2 * len(methods)
    assert {r["size"] for r in rows} == {"3x3", "4x2"}
    # the same markets, drawn again in the same order, give the same exact optimum
    rng = np.random.default_rng(5)
    for size in ((3, 3), (4, 2)):
        for k in range(2):
            market, prefs = random_market(rng, *size)
            best = optimal_price(market, prefs, 0)
            mine = [r for r in rows if r["size"] == f"{size[0]}x{size[1]}" and r["market"] == k]
            exact = next(r for r in mine if r["method"] == "exact")
            assert exact["profit"] == pytest.approx(best.profit, rel=1e-12)
            assert exact["ratio"] == 1.0
            for r in mine:  # no method beats the certified optimum in the true game
                assert r["ratio"] <= 1 + 1e-9


def test_pricing_summary_is_the_median_of_the_records() -> None:
    rows = compare_pricing_methods([(3, 2)], ["exact", "spgce"], n_markets=3, rng=1)
    summary = {r["method"]: r for r in summarise_pricing(rows)}
    spgce = [r for r in rows if r["method"] == "spgce"]
    assert summary["spgce"]["ratio_median"] == statistics.median(r["ratio"] for r in spgce)
    assert summary["spgce"]["ratio_min"] == min(r["ratio"] for r in spgce)
    assert summary["spgce"]["markets"] == 3 and summary["exact"]["ratio_min"] == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"methods": ["exakt"]}, "unknown pricing method 'exakt'"),
        ({"options": {"gird": {}}}, "unknown pricing method 'gird'"),
        ({"sizes": [(0, 2)]}, "sizes"),
    ],
)
def test_pricing_harness_refuses_bad_arguments(kwargs, field) -> None:
    args = {"sizes": [(2, 2)], "methods": ["exact"], **kwargs}
    with pytest.raises(MarketError, match=field):
        compare_pricing_methods(args.pop("sizes"), args.pop("methods"), n_markets=1, **args)


def test_one_market_priced_by_every_method_against_the_exact_optimum() -> None:
    from prillm.experiments import price_with_methods

    market, prefs = random_market(np.random.default_rng(3), 3, 3)
    best = optimal_price(market, prefs, 0)
    rows = price_with_methods(market, prefs, 0, ["exact", "bf", "odca"])
    assert [r["method"] for r in rows] == ["exact", "bf", "odca"]
    assert rows[0]["ratio"] == 1.0 and rows[0]["price_ratio"] == 1.0
    assert rows[1]["profit"] == pytest.approx(best.profit, rel=1e-9)  # BF is exact too
    odca = optimal_price(market, prefs, 0, method="odca")
    assert rows[2]["price_ratio"] == pytest.approx(odca.price / best.price, rel=1e-12)
    assert rows[2]["ratio"] <= 1 + 1e-9
    with pytest.raises(MarketError, match="unknown pricing method 'exakt'"):
        price_with_methods(market, prefs, 0, ["exakt"])


def test_pricing_summary_has_the_median_price_over_the_optimal_price() -> None:
    rows = compare_pricing_methods([(3, 2)], ["exact", "odca"], n_markets=3, rng=2)
    summary = {r["method"]: r for r in summarise_pricing(rows)}
    odca = [r["price"] / r2["price"] for r, r2 in zip(rows[1::2], rows[::2], strict=True)]
    assert summary["odca"]["price_ratio_median"] == pytest.approx(statistics.median(odca))
    assert summary["exact"]["price_ratio_median"] == 1.0


def test_ratio_figure_draws_each_record_on_shared_axes() -> None:
    from prillm.experiments import ratio_figure

    rows = compare_pricing_methods([(3, 2), (2, 2)], ["exact", "spgce"], n_markets=2, rng=4)
    fig = ratio_figure(rows, ["3x2", "2x2"])
    left, right = fig.axes
    assert left.get_shared_y_axes().joined(left, right)
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["3x2 markets", "2x2 markets"]
    drawn = sorted(y for line in right.lines for y in line.get_ydata())
    assert drawn == sorted(r["ratio"] for r in rows if r["size"] == "2x2")
