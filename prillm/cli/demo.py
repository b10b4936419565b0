"""``prillm demo [--write PATH]``: solve a small built-in market (and write it as a market file)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``demo`` on an ``argparse`` sub-parser collection."""
    d = subparsers.add_parser("demo", help="solve a small built-in market")
    d.add_argument(
        "--write", metavar="PATH", help="also write the demo market file here (a .json file)"
    )
    d.set_defaults(func=run)
    return d


def run(args: argparse.Namespace) -> int:
    """Run ``prillm demo``; returns the exit status."""
    from prillm.cli._options import JSON_SUFFIXES, check_outputs
    from prillm.cli.solve import format_equilibrium
    from prillm.equilibrium import solve_equilibrium
    from prillm.synthetic import demo_market

    check_outputs({"--write": (args.write, JSON_SUFFIXES)})
    market, prefs = demo_market()
    eq = solve_equilibrium(market, prefs, check_nash=True)
    text = format_equilibrium(eq, "built-in demo preferences")
    if args.write:  # once the solve succeeded: atomically, with a plain write's mode
        market.to_json(args.write, prefs)
        text += f"\n\nwrote the demo market to {args.write}"
    print(text)
    return 0
