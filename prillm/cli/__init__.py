"""The ``prillm`` command: market file in, answer out.

Sub-commands::

    prillm solve MARKET.json [--prefs PREFS.json] [--json]     the user-side equilibrium
    prillm demo                                                a worked example on a built-in market
    prillm price MARKET.json --target ID [--method M] [--json] the target's optimal price
    prillm calibrate PANEL --out PREFS.json                    learn preferences from flows
    prillm train-abstraction --out WEIGHTS.pt                  train the game abstraction

Errors in the input (a missing or malformed file, a bad value, an unknown provider) are reported
as one line on standard error with exit status 2; a solver that cannot certify its answer exits
with status 3. Neither prints a traceback.

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

__all__ = ["EXIT_INPUT", "EXIT_SOLVER", "SUBCOMMANDS", "build_parser", "main"]

#: Sub-command modules, in the order ``prillm --help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "prillm.cli.solve",
    "prillm.cli.demo",
    "prillm.cli.price",
    "prillm.cli.calibrate",
    "prillm.cli.train_abstraction",
)


def build_parser(modules: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser of the ``prillm`` command (``modules``: the sub-commands to offer,
    default :data:`SUBCOMMANDS`)."""
    parser = argparse.ArgumentParser(
        prog="prillm",
        description="Price an LLM service in a Stackelberg routing game (PriLLM).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS if modules is None else modules:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, modules: Sequence[str] | None = None) -> int:
    """Entry point of the ``prillm`` command; returns the exit status."""
    from prillm._validation import MarketError

    parser = build_parser(modules)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MarketError as exc:
        print(f"prillm: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except OSError as exc:
        print(f"prillm: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except RuntimeError as exc:
        from prillm.equilibrium import EquilibriumError

        if isinstance(exc, EquilibriumError):
            print(f"prillm: solver error: {exc}", file=sys.stderr)
            return EXIT_SOLVER
        raise
