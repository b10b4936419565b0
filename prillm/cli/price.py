"""The ``prillm price`` sub-command: the target provider's optimal price (Problem 1, Eq. 2).

::

    prillm price MARKET.json --target ID [--method M] [--p-max X] [--p-min X]
                 [--marginal-cost C] [--prefs PREFS.json] [--json]

Input errors (unknown target, bad bounds, a method that refuses the market's size) exit with
status 2 through the command's common error handling. Price bounds and the marginal cost are
finite numbers in ``[0, MAX_PRICE]`` USD per million tokens (``--p-max`` > 0), with
``--p-min`` < ``--p-max``, all checked before the market file is read. A result whose method
could not certify it (status ``not_certified``) is printed, and the command exits with status 3.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prillm.cli._common import EXIT_SOLVER, load_market_and_prefs, report
from prillm.cli._options import add_target_pricing, check_price_bounds

if TYPE_CHECKING:
    from prillm.pricing import PricingResult

__all__ = ["add_parser", "format_result", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``price`` on an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser(
        "price",
        help="the profit-maximising price of one provider (Stackelberg pricing, Eq. 2)",
        description="Optimal price of the target provider, the rivals' prices held fixed.",
    )
    add_target_pricing(p, cost_help="profit = (price - cost) x load; default 0")
    p.add_argument(
        "--method",
        default="exact",
        choices=_Methods(),
        metavar="METHOD",
        help="pricing method: %(choices)s (default: exact, the certified global optimum)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)
    return p


class _Methods:
    """The pricing methods as argparse ``choices``, read from :data:`prillm.pricing.METHODS`
    only when a ``--method`` is checked or the help is shown (building the parser of every
    sub-command must not import the pricing package)."""

    def _names(self) -> list[str]:
        from prillm.pricing import METHODS

        return sorted(METHODS)

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())


def format_result(res: PricingResult, prefs_source: str) -> str:
    """A readable report of a pricing result."""
    eq = res.equilibrium
    d = res.diagnostics
    share = eq.shares[eq.market.provider_index(res.target)]
    lines = [
        f"Optimal price of {res.target!r} by method {res.method!r} (preferences: {prefs_source})",
        "",
        f"  price          {res.price:.6g} USD per 1M tokens   (bounds [{res.p_min:.6g}, "
        f"{res.p_max:.6g}])",
        f"  load           {res.load:.6g} tokens ({share:.2%} of demand)",
        f"  profit         {res.profit:.6g} USD   (marginal cost {res.marginal_cost:.6g})",
        f"  time           {res.wall_time * 1e3:.3g} ms",
        f"  status         {res.status}: {res.reason}",
    ]
    if "n_breakpoints" in d and res.status == "global_optimum":  # the exact path's proof
        checked = d.get("kkt_max_violation")
        lines.append(
            f"  certificate    global optimum over {len(d['pieces'])} pieces of the "
            "equilibrium path"
            + (
                " (rebuilt from certified equilibria)"
                if checked is None
                else f" (KKT violation {checked:.1e})"
            )
            + (
                ""
                if d.get("stopped_at") is None
                else f"; above {d['stopped_at']['price']:.6g} no price earns more"
            )
        )
    if "success" in d:
        lines.append(f"  solver         {d.get('solver', '')}: success={d['success']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``prillm price``; returns the exit status."""
    from prillm._validation import MarketError
    from prillm.pricing import optimal_price

    check_price_bounds(args)
    market, prefs, source = load_market_and_prefs(args.market, args.prefs)
    try:
        res = optimal_price(
            market,
            prefs,
            args.target,
            method=args.method,
            p_max=args.p_max,
            p_min=args.p_min,
            marginal_cost=args.marginal_cost,
        )
    except MarketError:
        raise
    except ValueError as exc:  # a method refusing the market's size, or a bad option
        raise MarketError(str(exc)) from None
    print(report(res.to_dict(), source, format_result(res, source), args.json))
    # the exact method could not certify its answer: printed as it is, and said by the status
    return EXIT_SOLVER if res.status == "not_certified" else 0
