"""Optional dependencies: imported only where used, and one clear line when one is missing.

The core of prillm (the market model, the exact equilibrium, the exact price) needs only numpy,
scipy and threadpoolctl. Everything else comes with an extra of ``pip install "prillm[EXTRA]"``:

=============  ==============================================  ====================================
extra          packages                                        enables
=============  ==============================================  ====================================
``torch``      torch, tqdm                                     :mod:`prillm.torch_equilibrium`,
                                                               calibration, ``prillm calibrate``
``reference``  cvxpy, cvxpylayers                              :func:`prillm.equilibrium_reference`,
                                                               the cvxpylayers reference layer
``mpec``       pyomo, highspy, pyomo-ripopt, pyscipopt         pricing methods ``pmpec``,
                                                               ``smooth``, ``scip``; Algorithm 1
                                                               through Pyomo
``baselines``  xgboost (and the ``torch`` extra)               :mod:`prillm.baselines`
``plot``       matplotlib                                      figures (``prillm calibrate --plot``)
``dask``       dask, distributed                               experiments on a Dask cluster
                                                               (:func:`prillm.experiments.run_sweep`)
``all``        every extra above, the test and book tools      the book and the test suite
=============  ==============================================  ====================================

A missing optional module raises :class:`MissingDependencyError` (an :class:`ImportError`) whose
message is one line naming the extra to install; the ``prillm`` command prints that line and
exits with status 2. Packages use :func:`require` for an import inside a function,
:func:`require_installed` to check before long work that needs a module later,
:func:`optional_dependency` around a block of imports, and :func:`lazy_exports` for a package
namespace whose names are imported on first use (PEP 562).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

__all__ = [
    "EXTRAS",
    "MissingDependencyError",
    "lazy_exports",
    "missing_dependency",
    "optional_dependency",
    "require",
    "require_installed",
]

#: Top-level module name -> the extra that installs it.
EXTRAS: dict[str, str] = {
    "torch": "torch",
    "tqdm": "torch",
    "cvxpy": "reference",
    "cvxpylayers": "reference",
    "diffcp": "reference",
    "pyomo": "mpec",
    "highspy": "mpec",
    "pyomo_ripopt": "mpec",
    "pyscipopt": "mpec",
    "xgboost": "baselines",
    "matplotlib": "plot",
    "dask": "dask",
    "distributed": "dask",
}


class MissingDependencyError(ImportError):
    """An optional dependency is not installed; the message names the extra that provides it.

    Attributes
    ----------
    feature
        What needed it (``"calibration"``).
    module
        The missing top-level module (``"torch"``); also :attr:`name`.
    extra
        The extra to install (``"torch"`` for ``pip install "prillm[torch]"``).
    """

    def __init__(self, feature: str, module: str, extra: str) -> None:
        super().__init__(
            f"prillm: {feature} needs the optional dependency {module!r}: "
            f'pip install "prillm[{extra}]"',
            name=module,
        )
        self.feature = feature
        self.module = module
        self.extra = extra


def missing_dependency(exc: ImportError, feature: str) -> MissingDependencyError | None:
    """The :class:`MissingDependencyError` an import error means, or ``None`` if it is not about
    a module of an extra (then the original error should propagate).

    Examples
    --------
    >>> err = missing_dependency(ModuleNotFoundError("x", name="torch.nn"), "calibration")
    >>> str(err)
    'prillm: calibration needs the optional dependency \\'torch\\': pip install "prillm[torch]"'
    >>> missing_dependency(ModuleNotFoundError("x", name="numpy"), "calibration") is None
    True
    """
    if isinstance(exc, MissingDependencyError):
        return exc
    root = (exc.name or "").partition(".")[0]
    extra = EXTRAS.get(root)
    if extra is None:
        return None
    return MissingDependencyError(feature, root, extra)


@contextmanager
def optional_dependency(feature: str) -> Iterator[None]:
    """Turn a missing optional module inside the block into :class:`MissingDependencyError`.

    Only a ``ModuleNotFoundError`` for a module listed in :data:`EXTRAS` is translated; any other
    error (including a missing core module) propagates unchanged. An inner translation (a more
    specific ``feature``) is kept.

    Examples
    --------
    >>> with optional_dependency("the demo"):
    ...     import math
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        err = missing_dependency(exc, feature)
        if err is None:
            raise
        raise err from None


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (e.g. ``"pyomo.environ"``) for ``feature``, or raise one clear line.

    Raises
    ------
    MissingDependencyError
        If the module, or an optional module it needs, is not installed.

    Examples
    --------
    >>> require("math", "the demo").sqrt(4.0)
    2.0
    """
    with optional_dependency(feature):
        return importlib.import_module(module)


def require_installed(modules: Iterable[str], feature: str) -> None:
    """Check that top-level ``modules`` are installed, without importing them (a cheap check
    before long work that will need them).

    Raises
    ------
    MissingDependencyError
        For the first one that is not installed (its extra from :data:`EXTRAS`).

    Examples
    --------
    >>> require_installed(["json"], "the demo")
    """
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            raise MissingDependencyError(feature, module, EXTRAS.get(module, "all"))


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str], feature: str | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` that import a package's names on first use.

    Parameters
    ----------
    namespace
        The package's ``globals()``; an imported name is cached there.
    exports
        Public name -> the module that defines it.
    feature
        What a missing optional dependency is reported against (default: the name's module).

    Returns
    -------
    (__getattr__, __dir__)
        To assign at the end of the package's ``__init__``. Names that are not exports but
        submodules of the package are imported as submodules.

    Examples
    --------
    >>> ns = {"__name__": "demo"}
    >>> getattr_, dir_ = lazy_exports(ns, {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0), "sqrt" in ns, "sqrt" in dir_()
    (3.0, True, True)
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            if not name.startswith("__") and _is_submodule(namespace, name):
                with optional_dependency(f"{package}.{name}"):
                    return importlib.import_module(f"{package}.{name}")
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        with optional_dependency(feature or module_name):
            value = getattr(importlib.import_module(module_name), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__


def _is_submodule(namespace: dict[str, Any], name: str) -> bool:
    path = namespace.get("__path__")
    return (
        path is not None and importlib.machinery.PathFinder.find_spec(name, list(path)) is not None
    )
