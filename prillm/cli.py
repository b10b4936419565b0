"""The ``prillm`` command: market file in, answer out.

Sub-commands::

    prillm solve MARKET.json [--prefs PREFS.json] [--json]     the user-side equilibrium
    prillm demo                                                a worked example on a built-in market
    prillm price MARKET.json --target ID [--method M] [--json] the target's optimal price
    prillm calibrate PANEL --out PREFS.json                    learn preferences from flows

Errors in the input (a missing or malformed file, a bad value, an unknown provider) are reported
as one line on standard error with exit status 2; a solver that cannot certify its answer exits
with status 3. Neither prints a traceback.

Each sub-command lives in a module with ``add_parser(subparsers)``, which registers an
``argparse`` parser whose ``func`` default takes the parsed arguments and returns an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

import numpy as np

from prillm.equilibrium import DEFAULT_TOL, Equilibrium, EquilibriumError, solve_equilibrium
from prillm.market import Market, MarketError, Preferences

__all__ = ["main"]

EXIT_INPUT = 2
EXIT_SOLVER = 3

#: Modules that add further sub-commands (each defines ``add_parser(subparsers)``).
PLUGIN_MODULES: tuple[str, ...] = ("prillm.pricing.cli", "prillm.calibration.cli")


def load_market_and_prefs(
    market_path: str, prefs_path: str | None
) -> tuple[Market, Preferences, str]:
    """Read a market file and the preferences to use with it.

    Preferences come from ``--prefs`` if given, else from the market file's ``preferences``
    section, else the defaults (``w_p = w_q = w_d = 1``, ``b = 0``). The third value says which.
    """
    market = Market.from_json(market_path)
    if prefs_path is not None:
        return market, Preferences.from_json(prefs_path), f"from {prefs_path}"
    embedded = Market.preferences_from_json(market_path)
    if embedded is not None:
        return market, embedded, "from the market file"
    return market, Preferences(), "defaults (w_p = w_q = w_d = 1, b = 0)"


def format_equilibrium(eq: Equilibrium, prefs_source: str) -> str:
    """A readable report of an equilibrium: providers, users, and the certificate."""
    mkt = eq.market
    lines = [
        f"User-side Nash equilibrium: {mkt.n_users} users x {mkt.n_providers} providers "
        f"(preferences: {prefs_source})",
        "",
        _table(
            ["provider", "price $/M", "load tokens", "share", "congestion", "revenue $"],
            [
                [
                    pid,
                    f"{mkt.price[j]:.4g}",
                    f"{eq.loads[j]:.6g}",
                    f"{eq.shares[j]:.2%}",
                    f"{eq.congestion[j]:.4g}",
                    f"{eq.revenue(j):.6g}",
                ]
                for j, pid in enumerate(mkt.provider_ids)
            ],
        ),
        "",
        _table(
            ["user", "demand tokens", "providers used", "lambda $/M", "cost $"],
            [
                [
                    uid,
                    f"{mkt.demand[i]:.6g}",
                    ", ".join(
                        f"{mkt.provider_ids[j]} {eq.flows[i, j] / mkt.demand[i]:.1%}"
                        for j in np.flatnonzero(eq.support[i])
                    )
                    or "-",
                    f"{eq.multipliers[i]:.6g}",
                    f"{eq.user_costs[i]:.6g}",
                ]
                for i, uid in enumerate(mkt.user_ids)
            ],
        ),
        "",
        "KKT certificate (relative residuals): "
        + ", ".join(
            f"{k} {getattr(eq.certificate, k):.1e}"
            for k in ("primal", "stationarity", "dual", "complementarity", "nash_gap")
        )
        + f" -> certified at tol {eq.certificate.tol:.0e}",
    ]
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{w}}}" if k == 0 else f"{{:>{w}}}" for k, w in enumerate(widths))
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out.extend(fmt.format(*r) for r in rows)
    return "\n".join(out)


def _cmd_solve(args: argparse.Namespace) -> int:
    market, prefs, source = load_market_and_prefs(args.market, args.prefs)
    eq = solve_equilibrium(market, prefs, tol=args.tol, check_nash=True)
    if args.json:
        payload = eq.to_dict()
        payload["preferences"] = source
        print(json.dumps(payload, indent=2))
    else:
        print(format_equilibrium(eq, source))
    return 0


def demo_market() -> tuple[Market, Preferences]:
    """A small built-in market (4 apps, 3 providers) used by ``prillm demo`` and the README."""
    market = Market(
        demand=[4.0e9, 2.5e9, 1.0e9, 0.5e9],
        price=[3.0, 0.8, 0.3],
        capacity=[6.0e9, 4.0e9, 2.0e9],
        latency=[[0.9, 0.5, 0.4], [1.1, 0.6, 0.5], [0.8, 0.7, 0.3], [1.0, 0.4, 0.6]],
        provider_ids=["premium-llm", "mid-llm", "budget-llm"],
        user_ids=["coding-agent", "chat-app", "translator", "summariser"],
    )
    prefs = Preferences(
        w_q=2.0, w_d=1.0, b=[4.0, 1.5, 0.0], provider_ids=["premium-llm", "mid-llm", "budget-llm"]
    )
    return market, prefs


def _cmd_demo(args: argparse.Namespace) -> int:
    market, prefs = demo_market()
    eq = solve_equilibrium(market, prefs, check_nash=True)
    print(format_equilibrium(eq, "built-in demo preferences"))
    if args.write:
        market.to_json(args.write, prefs)
        print(f"\nwrote the demo market to {args.write}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``prillm`` command."""
    parser = argparse.ArgumentParser(
        prog="prillm",
        description="Price an LLM service in a Stackelberg routing game (PriLLM).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="the user-side Nash equilibrium of a market file")
    p.add_argument("market", help="market file (JSON, format 'prillm-market')")
    p.add_argument("--prefs", help="preferences file (JSON); overrides the market file's")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--tol", type=float, default=DEFAULT_TOL, help="KKT tolerance (relative)")
    p.set_defaults(func=_cmd_solve)
    d = sub.add_parser("demo", help="solve a small built-in market")
    d.add_argument("--write", metavar="PATH", help="also write the demo market file here")
    d.set_defaults(func=_cmd_demo)
    for name in PLUGIN_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``prillm`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except MarketError as exc:
        print(f"prillm: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except EquilibriumError as exc:
        print(f"prillm: solver error: {exc}", file=sys.stderr)
        return EXIT_SOLVER
    except OSError as exc:
        print(f"prillm: error: {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
