"""The ``prillm explain`` sub-command: the target's exact optimal price and why (Eq. 2).

::

    prillm explain MARKET.json --target ID [--p-max X] [--p-min X] [--marginal-cost C]
                   [--prefs PREFS.json] [--no-scores] [--json] [--plot FILE]

Prints the exact optimal price and profit, the breakpoints of the profit curve (which users
start or stop buying from the target at each), the own-price elasticity at the optimum, the
rivals ranked by how much the target's optimal profit changes when each is removed (with the
abstraction network's scores, paper Section 5.1, when torch is installed; ``--no-scores`` skips
them), and what the target would give up by charging the market's median price. ``--json``
prints the same as JSON (keys ``price``, ``profit``, ``breakpoints``, ``elasticity``,
``rivals``, ...). ``--plot FILE`` draws the profit curve and the rivals' effect; it is checked
before any work and written atomically only once everything succeeded.

Input errors exit with status 2 through the command's common error handling; an optimum the
exact path could not certify (status ``not_certified``) is printed and exits with status 3.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from prillm.cli._common import EXIT_SOLVER, load_market_and_prefs, table
from prillm.cli._options import (
    IMAGE_SUFFIXES,
    add_target_pricing,
    check_outputs,
    check_price_bounds,
)

if TYPE_CHECKING:
    from prillm.pricing.explain import Explanation

__all__ = ["add_parser", "figure", "format_explanation", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``explain`` on an ``argparse`` sub-parser collection."""
    p = subparsers.add_parser(
        "explain",
        help="the target's exact optimal price, its profit curve, elasticity and key rivals",
        description="Explain the exact optimal price of one provider (rivals' prices fixed).",
    )
    add_target_pricing(p)
    p.add_argument(
        "--no-scores", action="store_true", help="skip the abstraction network's rival scores"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument(
        "--plot", metavar="FILE", help="draw the profit curve and the rivals' effect (.png, ...)"
    )
    p.set_defaults(func=run)
    return p


def _network_scores(market: Any, prefs: Any, target: str) -> tuple[dict[str, Any] | None, str]:
    """The abstraction network's rival scores, or ``None`` and why not."""
    try:
        from prillm.abstraction import score_rivals
    except ImportError:
        return (
            None,
            "network scores not computed: torch is not installed (pip install prillm[torch])",
        )
    s_sum, s_avg, rivals = score_rivals(market, prefs, target)
    scores = {
        market.provider_ids[int(j)]: {"score_sum": float(a), "score_avg": float(b)}
        for j, a, b in zip(rivals, s_sum, s_avg, strict=True)
    }
    return scores, "network scores: the shipped abstraction network (paper Section 5.1)"


def format_explanation(ex: Explanation, prefs_source: str) -> str:
    """A readable report of an explanation."""
    e = ex.elasticity
    lines = [
        f"Why {ex.target!r} charges what it charges (exact price path; preferences: "
        f"{prefs_source})",
        "",
        f"  optimal price  {ex.price:.6g} USD per 1M tokens   (bounds [{ex.p_min:.6g}, "
        f"{ex.p_max:.6g}]; {ex.status})",
        f"  profit         {ex.profit:.6g} USD   (load {ex.load:.6g} tokens, marginal cost "
        f"{ex.marginal_cost:.6g})",
        f"  elasticity     {e['value']:.4g} at the optimum (left {e['left']:.4g}, right "
        f"{e['right']:.4g})",
        f"  median price   {ex.median_price:.6g}: profit {ex.profit_at_median:.6g} USD, "
        f"{ex.loss_at_median:.6g} USD less than at the optimum",
        "",
        f"Profit curve: {len(ex.pieces)} pieces, {len(ex.breakpoints)} breakpoints",
    ]
    if ex.breakpoints:
        lines.append(
            table(
                ["price", "profit $", "starts buying", "stops buying", "other routes"],
                [
                    [
                        f"{bp['price']:.6g}",
                        f"{bp['profit']:.6g}",
                        ", ".join(bp["starts_buying"]) or "-",
                        ", ".join(bp["stops_buying"]) or "-",
                        f"+{len(bp['other_routes_opened'])} / -{len(bp['other_routes_closed'])}",
                    ]
                    for bp in ex.breakpoints
                ],
            )
        )
    if ex.rivals:
        has_scores = any("scores" in r for r in ex.rivals)
        header = ["rival", "price $/M", "share", "profit w/o $", "change $"]
        header += ["score_sum", "score_avg"] if has_scores else []
        rows = []
        for r in ex.rivals:
            row = [
                r["id"],
                f"{r['price']:.4g}",
                f"{r['share']:.2%}",
                f"{r.get('profit_without', float('nan')):.6g}",
                f"{r.get('profit_change', float('nan')):+.6g}",
            ]
            if has_scores:
                sc = r.get("scores", {})
                row += [f"{sc.get('score_sum', float('nan')):.3g}"]
                row += [f"{sc.get('score_avg', float('nan')):.3g}"]
            rows.append(row)
        lines += ["", "Rivals (the target's optimal profit without each):", table(header, rows)]
    lines += [f"note: {n}" for n in ex.notes]
    return "\n".join(lines)


def figure(ex: Explanation) -> Any:
    """The profit curve (breakpoints, optimum, median price) and the rivals' effect."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps, vs = ex.profit_curve()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=150, width_ratios=[3, 2])
    ax1.plot(ps, vs, color="C0", lw=1.6, label="profit (exact)")
    for bp in ex.breakpoints:
        ax1.axvline(bp["price"], color="grey", lw=0.6, ls=":")
    if ex.breakpoints:
        ax1.plot(
            [bp["price"] for bp in ex.breakpoints],
            [bp["profit"] for bp in ex.breakpoints],
            "o",
            ms=3,
            color="grey",
            label="breakpoint (a route opens or closes)",
        )
    ax1.plot([ex.price], [ex.profit], "*", ms=12, color="C3", label=f"optimum {ex.price:.4g}")
    ax1.plot(
        [ex.median_price],
        [ex.profit_at_median],
        "s",
        ms=6,
        color="C2",
        label=f"median price {ex.median_price:.4g}",
    )
    ax1.set_xlabel("target's price (USD / 1M tokens)")
    ax1.set_ylabel("target's profit (USD)")
    ax1.set_title(f"profit of {ex.target}", fontsize=10)
    ax1.legend(fontsize=7)
    shown = [r for r in ex.rivals if "profit_change" in r][:12]
    if shown:
        names = [r["id"] for r in shown][::-1]
        values = [r["profit_change"] for r in shown][::-1]
        ax2.barh(names, values, color=["C0" if v >= 0 else "C1" for v in values])
        ax2.axvline(0, color="black", lw=0.6)
        ax2.set_xlabel("change in optimal profit without the rival (USD)")
        ax2.set_title("which rivals matter", fontsize=10)
    else:
        ax2.set_axis_off()
    fig.tight_layout()
    return fig


def run(args: argparse.Namespace) -> int:
    """Run ``prillm explain``; returns the exit status."""
    from prillm._validation import MarketError
    from prillm.io import atomic_write_bytes
    from prillm.pricing.explain import explain_price

    check_outputs({"--plot": (args.plot, IMAGE_SUFFIXES)}, inputs=[args.market, args.prefs])
    check_price_bounds(args)
    market, prefs, source = load_market_and_prefs(args.market, args.prefs)
    target = args.target
    if target not in market.provider_index_map:
        raise MarketError(
            f"--target: unknown provider id {target!r}; known ids: "
            + ", ".join(repr(p) for p in market.provider_ids[:10])
            + (" ..." if market.n_providers > 10 else "")
        )
    scores, score_note = (None, "network scores skipped (--no-scores)")
    if not args.no_scores and market.n_providers > 1:
        scores, score_note = _network_scores(market, prefs, target)
    ex = explain_price(
        market,
        prefs,
        target,
        p_max=args.p_max,
        p_min=args.p_min,
        marginal_cost=args.marginal_cost,
        scores=scores,
    )
    ex.notes.append(score_note)
    if args.json:
        payload = ex.to_dict()
        payload["preferences"] = source
        out = json.dumps(_finite(payload), indent=2, allow_nan=False)
    else:
        out = format_explanation(ex, source)
    if args.plot is not None:
        fig = figure(ex)
        buf = io.BytesIO()
        fig.savefig(buf, format=args.plot.rsplit(".", 1)[-1].lower())
        atomic_write_bytes(args.plot, buf.getvalue())
    print(out)
    if args.plot is not None and not args.json:
        print(f"wrote {args.plot}", file=sys.stderr)
    # an optimum the exact path could not certify: printed as it is, and said by the status
    return EXIT_SOLVER if ex.status == "not_certified" else 0


def _finite(value: Any) -> Any:
    """NaN and infinities as strings (JSON has none)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
