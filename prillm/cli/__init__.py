"""The ``prillm`` command: market file in, answer out.

Sub-commands::

    prillm solve MARKET.json [--prefs PREFS.json] [--json]     the user-side equilibrium
    prillm demo                                                a worked example on a built-in market
    prillm price MARKET.json --target ID [--method M] [--json] the target's optimal price
    prillm explain MARKET.json --target ID [--json] [--plot F] why that price: curve, rivals
    prillm calibrate PANEL --out PREFS.json                    learn preferences from flows
    prillm compete MARKET.json [--players a,b] [--json]        the price equilibrium among providers
    prillm train-abstraction --out WEIGHTS.pt                  train the game abstraction

Errors in the input (a missing or malformed file, a bad value, an unknown provider, a bad option
or output file) are reported as one line on standard error with exit status 2, before any work
starts where they can be detected then; so is a missing optional dependency (the line names the
extra to install). A solver that cannot certify its answer exits with status 3. None of them
prints a traceback, and no output file is left half-written.

The command line sits on top of the library and is never imported by it. Each sub-command is a
module of this package (listed in :data:`SUBCOMMANDS`) with ``add_parser(subparsers)``, which
registers an ``argparse`` parser whose ``func`` default takes the parsed arguments and returns an
exit status. Those modules import the library inside ``run`` only, so that building the parser
costs nothing and each sub-command imports only what it needs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from prillm.cli._common import EXIT_INPUT, EXIT_SOLVER
from prillm.cli._options import OneLineParser

__all__ = ["EXIT_INPUT", "EXIT_SOLVER", "SUBCOMMANDS", "build_parser", "main"]

#: Sub-command modules, in the order ``prillm --help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "prillm.cli.solve",
    "prillm.cli.demo",
    "prillm.cli.price",
    "prillm.cli.explain",
    "prillm.cli.calibrate",
    "prillm.cli.compete",
    "prillm.cli.train_abstraction",
)


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``prillm`` command (``modules``: the sub-commands to offer,
    default :data:`SUBCOMMANDS`)."""
    parser: argparse.ArgumentParser = OneLineParser(
        prog="prillm",
        description="Price an LLM service in a Stackelberg routing game (PriLLM).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS if modules is None else modules:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, modules: Sequence[str] | None = None) -> int:
    """Entry point of the ``prillm`` command; returns the exit status.

    Bad input, a bad option and a missing optional dependency give one line on standard error
    and :data:`EXIT_INPUT`; an uncertified solve gives :data:`EXIT_SOLVER`.
    """
    parser = build_parser(modules)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a one-line usage error (2)
        return int(exc.code or 0)
    from prillm._optional import missing_dependency
    from prillm._validation import MarketError  # after parsing: --help imports no numpy

    try:
        return int(args.func(args))
    except MarketError as exc:
        _error(f"prillm: error: {exc}")
        return EXIT_INPUT
    except ImportError as exc:
        missing = missing_dependency(exc, f"prillm {args.command}")
        if missing is None:
            raise
        _error(str(missing))
        return EXIT_INPUT
    except OSError as exc:
        _error(f"prillm: error: {exc}")
        return EXIT_INPUT
    except RuntimeError as exc:
        from prillm.equilibrium import EquilibriumError

        if isinstance(exc, EquilibriumError):
            _error(f"prillm: solver error: {exc}")
            return EXIT_SOLVER
        raise


def _error(message: str) -> None:
    """One line on standard error, whatever the message contains."""
    print(message.replace("\r", " ").replace("\n", " "), file=sys.stderr)
