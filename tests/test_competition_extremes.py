"""The game among providers where a capacity dwarfs the demand: best responses stay proven.

A best response follows the player's price path in double precision. Where a capacity is
1e4..1e13 times the demand the path's pieces can fail their end checks, or the path cannot be
followed at all; the best response then solves the player's whole range by the exact method
(which repairs such pieces from certified equilibria) and says whether that checked out. What
it could not prove is never labelled proven: the Nash certificate, the price equilibrium, the
collusive prices and the command line say so.
"""

from __future__ import annotations

import numpy as np
import pytest

from prillm.cli import main
from prillm.pricing import exact, optimal_price
from prillm.pricing.best_response import best_response
from prillm.pricing.collusion import collusive_prices
from prillm.pricing.competition import price_equilibrium
from prillm.pricing.game import make_game
from prillm.pricing.nash import nash_certificate
from prillm.synthetic import demo_market
from scripts.stress_equilibrium import random_market as stress_market


@pytest.mark.parametrize("kind", ["huge_capacity", "wide", "one_token"])
def test_best_responses_at_extreme_scales_are_the_certified_optimum(kind):
    """Against ``optimal_price(method="exact")`` on the same market (its repair and rebuild
    included). Before the fallback, on this sample 4 "huge capacity" best responses earned up
    to 2e-6 less than the optimum, 10 reported a profit above it (read from unchecked pieces),
    and 4 "wide" ones raised a bare LinAlgError or PathError."""
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(15):
        market, prefs = stress_market(rng, kind, 5)
        if market.demand.sum() <= 0 or market.n_providers < 2:
            continue
        checked += 1
        game = make_game(market, prefs, players=[0, 1])
        prices = game.start_prices()
        br = best_response(game, prices, 0)
        ref = optimal_price(game.at(prices), prefs, 0, method="exact")
        assert ref.status == "global_optimum"
        assert br.certified
        # the best response's profit is the optimum's, to round-off of the loads
        assert br.profit == pytest.approx(ref.profit, rel=1e-9, abs=1e-12)
    assert checked >= 10  # most draws have demand and two providers


def _force_unproven(monkeypatch):
    """Every price path fails its checks and no repair is available: nothing can be proven."""
    from prillm.pricing import best_response as br_module

    for module in (exact, br_module):
        monkeypatch.setattr(module, "certified_path", lambda path: False)
    monkeypatch.setattr(exact, "_repair", lambda prob, path: None)


def test_an_unproven_best_response_is_never_labelled_proven(monkeypatch, tmp_path, capsys):
    market, prefs = demo_market()
    game = make_game(market, prefs)
    assert best_response(game, game.start_prices(), 0).certified
    res = price_equilibrium(market, prefs)
    assert res.status == "converged" and res.certificate.proven
    path = tmp_path / "market.json"
    market.to_json(path, prefs)
    assert main(["compete", str(path)]) == 0
    capsys.readouterr()

    _force_unproven(monkeypatch)
    br = best_response(game, game.start_prices(), 0)
    assert not br.certified
    cert, _ = nash_certificate(game, res.prices)
    assert not cert.proven and not cert.certified.any()
    assert cert.to_dict()["proven"] is False
    again = price_equilibrium(market, prefs)
    assert again.status == "not_certified" and "lower bound" in again.reason
    assert not again.converged
    assert main(["compete", str(path)]) == 3
    assert "not_certified" in capsys.readouterr().out


def test_unproven_line_searches_are_not_a_coordinatewise_optimum(monkeypatch):
    market, prefs = demo_market()
    players = ["mid-llm", "budget-llm"]
    proven = collusive_prices(market, prefs, players, p_bounds=(0.5, 2.0))
    assert proven.status == "coordinate-wise optimum"
    _force_unproven(monkeypatch)
    res = collusive_prices(market, prefs, players, p_bounds=(0.5, 2.0))
    assert res.status == "not_certified" and "not proven" in res.reason


def test_a_cycle_with_unproven_best_responses_says_its_epsilon_is_a_lower_bound(monkeypatch):
    from .test_competition import _cycling_duopoly

    market, prefs = _cycling_duopoly()
    proven = price_equilibrium(market, prefs, max_rounds=60)
    assert proven.status == "cycle" and "lower bound" not in proven.reason
    _force_unproven(monkeypatch)
    res = price_equilibrium(market, prefs, max_rounds=60)
    assert res.status != "converged" and "a lower bound" in res.reason
    assert not res.certificate.proven
