"""``PricingResult`` accepts only the statuses the pricing module defines and a stated reason."""

from __future__ import annotations

import pytest

from prillm import MarketError, solve_equilibrium
from prillm.pricing import optimal_price
from prillm.pricing.result import STATUSES, PricingResult
from prillm.synthetic import demo_market


def _result(**changes):
    market, prefs = demo_market()
    fields = {
        "price": 1.0,
        "profit": 0.0,
        "equilibrium": solve_equilibrium(market, prefs),
        "wall_time": 0.0,
        "method": "exact",
        "target": "mid-llm",
        "status": "converged",
        "reason": "given by hand",
    }
    return PricingResult(**{**fields, **changes})


def test_a_valid_result_is_accepted():
    for status in STATUSES:
        assert _result(status=status).status == status


def test_an_unknown_status_is_refused_with_the_valid_ones():
    with pytest.raises(
        MarketError, match=r"status: expected one of .*'global_optimum'.*got 'great'"
    ):
        _result(status="great")


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_an_empty_reason_is_refused(reason):
    with pytest.raises(MarketError, match="reason: "):
        _result(reason=reason)


def test_optimal_price_gives_a_reason_when_the_method_gives_none(monkeypatch):
    """A method that reports a status without a reason still yields a valid result."""
    import prillm.pricing.optimal as optimal

    def silent(prob):
        return 1.0, {"status": "converged"}

    monkeypatch.setattr(optimal, "solver_for", lambda method: silent)
    monkeypatch.setattr(optimal, "method_options", lambda method: ())
    market, prefs = demo_market()
    res = optimal_price(market, prefs, "mid-llm", method="silent")
    assert res.status == "converged" and "gave no reason" in res.reason


def test_an_unknown_pricing_method_is_a_market_error_naming_the_valid_ones():
    from prillm.pricing.registry import METHODS, solver_for

    market, prefs = demo_market()
    with pytest.raises(
        MarketError, match=r"method: unknown pricing method 'newton'; valid: exact, "
    ):
        optimal_price(market, prefs, "mid-llm", method="newton")
    with pytest.raises(ValueError, match="unknown pricing method 'newton'") as e:
        solver_for("newton")  # existing ``except ValueError`` callers keep working
    assert isinstance(e.value, MarketError)
    assert all(name in str(e.value) for name in METHODS)
