"""``prillm solve MARKET.json [--prefs PREFS.json] [--json] [--tol T]``: the equilibrium."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from prillm.cli._common import load_market_and_prefs, report, table
from prillm.cli._options import number

if TYPE_CHECKING:
    from prillm.equilibrium import Equilibrium

__all__ = ["TOL_MAX", "TOL_MIN", "add_parser", "format_equilibrium", "run"]

#: ``--tol`` range: below about 1e-13 round-off alone exceeds the relative KKT residual of
#: larger markets, so no answer could be certified; above 1e-2 "certified" would mean little.
TOL_MIN, TOL_MAX = 1e-13, 1e-2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``solve`` on an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser("solve", help="the user-side Nash equilibrium of a market file")
    p.add_argument("market", help="market file (JSON, format 'prillm-market')")
    p.add_argument("--prefs", help="preferences file (JSON); overrides the market file's")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument(
        "--tol",
        type=number(TOL_MIN, TOL_MAX),
        default=1e-9,
        help=f"KKT tolerance, relative (default 1e-9; from {TOL_MIN:g}, about the round-off "
        f"floor, to {TOL_MAX:g})",
    )
    p.set_defaults(func=run)
    return p


def format_equilibrium(eq: Equilibrium, prefs_source: str) -> str:
    """A readable report of an equilibrium: providers, users, and the certificate."""
    import numpy as np

    mkt = eq.market
    lines = [
        f"User-side Nash equilibrium: {mkt.n_users} users x {mkt.n_providers} providers "
        f"(preferences: {prefs_source})",
        "",
        table(
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
        table(
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


def run(args: argparse.Namespace) -> int:
    """Run ``prillm solve``; returns the exit status."""
    from prillm.equilibrium import solve_equilibrium

    market, prefs, source = load_market_and_prefs(args.market, args.prefs)
    eq = solve_equilibrium(market, prefs, tol=args.tol, check_nash=True)
    print(report(eq.to_dict(), source, format_equilibrium(eq, source), args.json))
    return 0
