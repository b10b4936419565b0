"""prillm: pricing online LLM services with a data-calibrated Stackelberg routing game.

The public API, re-exported here:

- :class:`Market`, :class:`Preferences` — the validated market model (``prillm.market``);
- :func:`solve_equilibrium` — the exact, certified user-side Nash equilibrium
  (``prillm.equilibrium``) and :func:`equilibrium_reference`, the same potential solved by cvxpy
  (``prillm.reference``);
- :func:`water_filling` — a user's exact best response;
- :func:`optimal_price` — the target's optimal price by any method of ``prillm.pricing``.

Sub-packages: ``prillm.pricing`` (Problem 1), ``prillm.calibration`` and ``prillm.baselines``
(Section 4), ``prillm.torch_equilibrium`` (the differentiable equilibrium; imports torch),
``prillm.data`` (shipped data and the planted panel), ``prillm.abstraction`` (the game
abstraction of Section 5; ``optimal_price(..., method="prillm")``).
"""

from prillm.equilibrium import (
    DEFAULT_TOL,
    Equilibrium,
    EquilibriumError,
    KKTCertificate,
    kkt_certificate,
    single_threaded_blas,
    solve_equilibrium,
)
from prillm.market import (
    TOKENS_PER_PRICE_UNIT,
    GameCoefficients,
    Market,
    MarketError,
    Preferences,
    game_coefficients,
)
from prillm.pricing import METHODS as _PRICING_METHODS
from prillm.pricing import PricingResult, optimal_price, vanishing_price
from prillm.reference import equilibrium_reference
from prillm.water_filling import water_filling

__version__ = "0.1.0"

# PriLLM's own pipeline (game abstraction, then a solver: Section 5), a method of a higher layer:
# registered here by module path and imported only when it is used.
_PRICING_METHODS.setdefault("prillm", "prillm.abstraction.method")

__all__ = [
    "DEFAULT_TOL",
    "TOKENS_PER_PRICE_UNIT",
    "Equilibrium",
    "EquilibriumError",
    "GameCoefficients",
    "KKTCertificate",
    "Market",
    "MarketError",
    "Preferences",
    "PricingResult",
    "equilibrium_reference",
    "game_coefficients",
    "kkt_certificate",
    "optimal_price",
    "single_threaded_blas",
    "solve_equilibrium",
    "vanishing_price",
    "water_filling",
]
