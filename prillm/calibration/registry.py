"""The registry of calibration methods: every way of learning a market simulator from a panel.

:data:`METHODS` maps a name to a :class:`CalibrationMethod`; :func:`run_method` fits one on a
panel with checked options. The learning methods of this package register here (``gradient``,
``fd``, ``a2c``); packages of higher layers join by registering their own methods with
:func:`register_method` when they are imported (``prillm.baselines`` adds ``npm``, ``noq``
and ``xgboost``). This package never imports them: the facade ``prillm/__init__.py`` declares
each join with :func:`join`, and the registry imports a joined package the first time it is
read. This module imports nothing heavy (no torch), so reading the registry is cheap.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from prillm._optional import optional_dependency
from prillm._validation import MarketError

__all__ = [
    "METHODS",
    "CalibrationMethod",
    "checked_options",
    "join",
    "register_method",
    "run_method",
]

#: The arguments every method takes that are not options: the training and held-out panels.
_DATA_ARGS = ("panel", "test")

_F = TypeVar("_F", bound=Callable[..., Any])


def checked_options(fn: _F) -> _F:
    """Make an unknown keyword of ``fn`` a :class:`~prillm.MarketError` naming the valid ones.

    A Python ``TypeError`` says only which keyword was unexpected; the wrapped function raises
    ``"{name}: unknown option of {fn}(); valid: ..."`` (every keyword but the panel), as
    :func:`run_method` does. The signature seen by :func:`inspect.signature` is ``fn``'s.
    """
    params = inspect.signature(fn).parameters
    names = {p.name for p in params.values() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
    listed = [p for p in params if p in names and p != "panel"]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        unknown = [k for k in kwargs if k not in names]
        if unknown:
            raise MarketError(
                f"{unknown[0]}: unknown option of {fn.__name__}(); valid: {', '.join(listed)}"
            )
        return fn(*args, **kwargs)

    return call  # type: ignore[return-value]


@dataclass(frozen=True)
class CalibrationMethod:
    """A calibration method in the registry.

    Attributes
    ----------
    name
        Registry key (``"gradient"``, ``"npm"``, ...).
    target
        ``"module:function"``; the function is ``f(panel, *, test=None, **options)`` returning
        a :class:`~prillm.calibration.CalibrationResult`. Imported only when used.
    summary
        One line for listings (``prillm calibrate --help``, the book).
    learns
        The preference parameters it learns (``()`` for a model without a game, which gives
        no preferences).
    preset
        ``(option, value)`` pairs the method always passes (``fd`` is ``gradient`` with
        ``gradient="fd"``); not options of the method.
    """

    name: str
    target: str
    summary: str
    learns: tuple[str, ...] = ("w_q", "w_d", "b")
    preset: tuple[tuple[str, Any], ...] = ()

    def load(self) -> Callable[..., Any]:
        """The method's function (imports its module).

        Raises
        ------
        prillm.MissingDependencyError
            One line naming the extra to install, when the module needs a missing optional
            dependency (torch for every learning method).
        """
        module, _, attr = self.target.partition(":")
        with optional_dependency(f"the calibration method {self.name!r}"):
            return getattr(importlib.import_module(module), attr)

    def options(self) -> tuple[str, ...]:
        """The names of the method's options (keyword arguments other than the panels)."""
        params = inspect.signature(self.load()).parameters.values()
        fixed = {k for k, _ in self.preset}
        return tuple(
            p.name
            for p in params
            if p.name not in _DATA_ARGS
            and p.name not in fixed
            and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        )


class _Registry(Mapping[str, CalibrationMethod]):
    """A read-only mapping that imports the joined packages before it is first read."""

    def __init__(self) -> None:
        self._methods: dict[str, CalibrationMethod] = {}
        self._joins: list[str] = []
        self._loaded = True

    def _load(self) -> None:
        while not self._loaded:
            self._loaded = True
            for package in list(self._joins):
                importlib.import_module(package)

    def __getitem__(self, name: str) -> CalibrationMethod:
        self._load()
        if name not in self._methods:
            raise MarketError(
                f"method: unknown calibration method {name!r}; choose from "
                f"{', '.join(self._methods)}"
            )
        return self._methods[name]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._methods

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(self._methods)

    def __len__(self) -> int:
        self._load()
        return len(self._methods)

    def __repr__(self) -> str:
        return f"METHODS({', '.join(self)})"


#: Name -> :class:`CalibrationMethod`, in registration order.
METHODS = _Registry()


def register_method(method: CalibrationMethod, *, replace: bool = False) -> None:
    """Add a method to :data:`METHODS` (a package joining the registry calls this).

    Raises
    ------
    prillm.MarketError
        If the name is taken (unless ``replace``) or ``target`` is not ``"module:function"``.
    """
    if not isinstance(method, CalibrationMethod):
        raise MarketError(f"method: expected a CalibrationMethod, got {type(method).__name__}")
    if method.target.count(":") != 1:
        raise MarketError(f"{method.name}: target must be 'module:function', got {method.target!r}")
    if method.name in METHODS._methods and not replace:
        raise MarketError(f"method: {method.name!r} is already registered")
    METHODS._methods[method.name] = method


def join(package: str) -> None:
    """Declare that ``package`` registers methods when imported; it is imported on first read.

    Called by the facade ``prillm/__init__.py`` for packages of higher layers.
    """
    if package not in METHODS._joins:
        METHODS._joins.append(package)
        METHODS._loaded = False


def run_method(name: str, panel: Any, *, test: Any = None, **options: Any) -> Any:
    """Fit the method ``name`` on ``panel`` (held-out days ``test``) with checked options.

    Raises
    ------
    prillm.MarketError
        For an unknown method, or an option the method does not take (naming the valid ones).
    prillm.MissingDependencyError
        One line naming the extra, when the method needs a missing optional dependency.

    Examples
    --------
    >>> try:
    ...     run_method("gradient", None, stepz=3)
    ... except MarketError as exc:
    ...     print(str(exc).split(";")[0])
    stepz: unknown option of calibration method 'gradient'
    """
    method = METHODS[name]
    valid = method.options()
    unknown = [k for k in options if k not in valid]
    if unknown:
        raise MarketError(
            f"{unknown[0]}: unknown option of calibration method {name!r}; valid: "
            f"{', '.join(valid)}"
        )
    return method.load()(panel, test=test, **options, **dict(method.preset))


for _method in (
    CalibrationMethod(
        "gradient",
        "prillm.calibration.gradient:calibrate",
        "PriLLM: Algorithm 1, then Eq. (6) by exact gradients through the equilibrium",
    ),
    CalibrationMethod(
        "fd",
        "prillm.calibration.gradient:calibrate",
        "FD: the same optimiser with central finite-difference gradients",
        preset=(("gradient", "fd"),),
    ),
    CalibrationMethod(
        "a2c",
        "prillm.calibration.a2c:calibrate_a2c",
        "A2C: an advantage actor-critic agent choosing the parameters",
    ),
):
    register_method(_method)
