"""prillm: pricing online LLM services with a data-calibrated Stackelberg routing game.

The public API, re-exported here:

- :class:`Market`, :class:`Preferences` — the validated market model (``prillm.market``);
- :func:`solve_equilibrium` — the exact, certified user-side Nash equilibrium
  (``prillm.equilibrium``) and :func:`equilibrium_reference`, the same potential solved by cvxpy
  (``prillm.reference``; needs the ``reference`` extra);
- :func:`water_filling` — a user's exact best response;
- :func:`optimal_price` — the target's optimal price by any method of ``prillm.pricing``.

Sub-packages: ``prillm.pricing`` (Problem 1), ``prillm.calibration`` and ``prillm.baselines``
(Section 4), ``prillm.torch_equilibrium`` (the differentiable equilibrium; the ``torch`` extra),
``prillm.data`` (shipped data and the planted panel), ``prillm.abstraction`` (the game
abstraction of Section 5; ``optimal_price(..., method="prillm")``).

Names are imported on first use (PEP 562), so ``import prillm`` costs nothing and needs no
optional dependency; the core (market, equilibrium, exact price) needs only numpy, scipy and
threadpoolctl. A missing optional dependency raises :class:`MissingDependencyError`, one line
naming the extra to install (see :mod:`prillm._optional`).
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

from prillm._optional import MissingDependencyError, lazy_exports

# Higher layers that join a registry of a lower one: imported when the registry is first read.
from prillm.calibration.registry import join as _join_calibration_methods
from prillm.pricing.registry import register_method as _register_pricing_method

_join_calibration_methods("prillm.baselines")
# PriLLM's own pipeline (game abstraction, then a solver: Section 5), a pricing method of a
# higher layer: registered by module path, imported only when it is used.
_register_pricing_method("prillm", "prillm.abstraction.method", replace=True)

__version__ = "0.1.0"

#: Public name -> the module that defines it (imported when the name is first used).
_EXPORTS: dict[str, str] = {
    "DEFAULT_TOL": "prillm.equilibrium",
    "Equilibrium": "prillm.equilibrium",
    "EquilibriumError": "prillm.equilibrium",
    "KKTCertificate": "prillm.equilibrium",
    "kkt_certificate": "prillm.equilibrium",
    "single_threaded_blas": "prillm.equilibrium",
    "solve_equilibrium": "prillm.equilibrium",
    "TOKENS_PER_PRICE_UNIT": "prillm.market",
    "GameCoefficients": "prillm.market",
    "Market": "prillm.market",
    "MarketError": "prillm._validation",
    "Preferences": "prillm.market",
    "game_coefficients": "prillm.market",
    "PricingResult": "prillm.pricing",
    "optimal_price": "prillm.pricing",
    "vanishing_price": "prillm.pricing",
    "equilibrium_reference": "prillm.reference",
    "water_filling": "prillm.water_filling",
}

__all__ = ["MissingDependencyError", *sorted(_EXPORTS)]

__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)


class _Facade(ModuleType):
    """The package module: an export that shares its name with a submodule (``water_filling``)
    stays the exported function when the import system binds the submodule to the package."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, ModuleType) and _EXPORTS.get(name) == f"{__name__}.{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Facade
