"""The registry of pricing methods: name -> a loader of the method's solver.

A pricing method is a function ``solve(prob: PricingProblem, **options) -> (price,
diagnostics)``; the diagnostics carry ``status`` (one of
:data:`prillm.pricing.result.STATUSES`) and ``reason``. The methods of this package register
themselves below; a method of a higher layer (the game abstraction's ``"prillm"``) is
registered by module path in the facade ``prillm/__init__.py`` and imported only when it is
used, so the pricing layer never imports upwards and ``import prillm`` stays cheap.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from prillm._validation import MarketError

__all__ = ["METHODS", "Solver", "method_options", "register_method", "solver_for"]


#: A method's solver: ``solve(prob, **options) -> (price, diagnostics)``.
Solver = Callable[..., tuple[float, dict[str, Any]]]

#: Method name -> loader: a callable returning the method's solver (imported on first use).
METHODS: dict[str, Callable[[], Solver]] = {}


def register_method(
    name: str, loader: Callable[[], Solver] | str, *, replace: bool = False
) -> None:
    """Add a pricing method to :data:`METHODS` (how a higher layer joins the registry).

    Parameters
    ----------
    name
        The method's name for ``optimal_price(..., method=name)``.
    loader
        A callable returning the solver ``solve(prob, **options) -> (price, diagnostics)``,
        or ``"package.module"`` / ``"package.module:function"`` naming it (``solve`` by
        default), imported on first use.
    replace
        Allow replacing an existing method.

    Raises
    ------
    ValueError
        If ``name`` is taken (and ``replace`` is false) or ``loader`` is neither callable nor a
        module path.

    Examples
    --------
    >>> register_method("exact-again", "prillm.pricing.exact")
    >>> "exact-again" in METHODS
    True
    >>> del METHODS["exact-again"]
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    if name in METHODS and not replace:
        raise ValueError(f"name: pricing method {name!r} is already registered")
    if isinstance(loader, str):
        module, _, attr = loader.partition(":")
        METHODS[name] = lambda: getattr(importlib.import_module(module), attr or "solve")
    elif callable(loader):
        METHODS[name] = loader
    else:
        raise ValueError(f"loader: expected a callable or a module path, got {loader!r}")


for _name in ("exact", "grid", "bf", "spiter", "pmpec", "smooth", "odca", "spgce", "scip"):
    register_method(_name, f"prillm.pricing.{_name}")


def method_options(method: str) -> tuple[str, ...] | None:
    """The options ``method`` accepts (``None`` if its solver takes any keyword).

    Examples
    --------
    >>> method_options("grid")
    ('n_points', 'refine_iter')
    """
    solver = solver_for(method)
    params = list(inspect.signature(solver).parameters.values())[1:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return tuple(p.name for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL)


def solver_for(method: str) -> Solver:
    """The solver of ``method`` (imports its module).

    Raises
    ------
    prillm.MarketError
        For an unknown method, naming it and the registered ones (a ``ValueError``, so
        ``except ValueError`` still catches it).
    """
    if method not in METHODS:
        raise MarketError(f"method: unknown pricing method {method!r}; valid: {', '.join(METHODS)}")
    return METHODS[method]()


#: A price outside the bounds by at most this (relative to ``max(1, p_max)``) is a solver's
#: bound tolerance (interior-point solvers relax bounds slightly): recorded, not a failure.
