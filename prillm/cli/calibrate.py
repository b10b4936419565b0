"""``prillm calibrate``: learn the users' preferences from a panel of observed days.

Usage::

    prillm calibrate PANEL --out prefs.json [--plot fit.png] [--method gradient]
                     [--optimizer lbfgs|adam] [--steps N] [--test-fraction F] [--json]

``PANEL`` is a panel file (see :mod:`prillm.data.panel_file`): a ``prillm-panel`` JSON file
(plain or ``.gz``, e.g. the shipped ``prillm/data/panel_seed0.json.gz``), a JSON list of market
files (one per day, with ``observed_flows``), or a file of an earlier version. The last
``--test-fraction`` of the days is held out for the reported R^2 and MAE. ``--method`` is a
calibration method that learns preferences (:data:`prillm.calibration.METHODS`). The learned
preferences are written atomically to ``--out`` (the ``prillm-preferences`` format, usable as
``prillm solve MARKET --prefs prefs.json``); ``--plot`` saves predicted against observed flows
on the held-out days. Parameters the panel does not identify are named in the report.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``calibrate`` sub-command (``set_defaults(func=run)``)."""
    p = subparsers.add_parser(
        "calibrate",
        help="learn the users' preferences from observed flows (Algorithm 1 + Eq. 6)",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument(
        "panel", help="panel file: prillm-panel JSON (or .json.gz), list of market files"
    )
    p.add_argument("--out", required=True, help="where to write the preferences (JSON)")
    p.add_argument("--plot", metavar="PNG", help="save the fit on the held-out days here")
    p.add_argument(
        "--method",
        default="gradient",
        help="calibration method (gradient, fd, a2c, npm, noq; see prillm.calibration.METHODS)",
    )
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument("--steps", type=int, default=100, help="optimiser steps (default 100)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam step size")
    p.add_argument(
        "--test-fraction", type=float, default=0.2, help="share of days held out (default 0.2)"
    )
    p.add_argument(
        "--demand",
        choices=("check", "flows", "market"),
        default="check",
        help="JSON panels: demand must match the flows (check), or use the flows' totals, "
        "or keep the markets' demand",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the sub-command; returns the exit status (errors are raised as MarketError)."""
    import warnings

    from tqdm import tqdm

    from prillm.calibration import METHODS, IdentifiabilityWarning
    from prillm.calibration.metrics import preference_errors
    from prillm.calibration.result import predict_flows
    from prillm.data import load_panel
    from prillm.market import MarketError

    if args.steps < 1:
        raise MarketError(f"--steps: expected a positive integer, got {args.steps}")
    if args.method not in METHODS or not METHODS[args.method].learns:
        learners = [name for name, m in METHODS.items() if m.learns]
        raise MarketError(
            f"--method: expected a method that learns preferences ({', '.join(learners)}), "
            f"got {args.method!r}"
        )
    panel = load_panel(args.panel, demand=args.demand)
    train, test = panel.split(args.test_fraction)
    bar = tqdm(
        total=args.steps if args.method != "a2c" else None,
        desc=f"calibrate ({args.method})",
        unit="step",
        disable=args.quiet or args.json,
        file=sys.stderr,
    )

    def progress(step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}")

    try:
        with warnings.catch_warnings():  # reported below, in the summary
            warnings.simplefilter("ignore", IdentifiabilityWarning)
            result = _fit(args, train, test, progress)
    finally:
        bar.close()
    assert result.prefs is not None
    result.prefs.to_json(args.out)
    if args.plot:
        from prillm.calibration.plot import fit_figure

        fig = fit_figure(
            {f"{args.method} (held-out days)": predict_flows(test, result.prefs)}, test.flows
        )
        fig.savefig(args.plot, dpi=120)
    summary = result.to_dict()
    summary.pop("loss_history")
    summary["days"] = {"train": train.n_days, "test": test.n_days}
    summary["out"] = args.out
    summary["not_identified"] = list(result.not_identified)
    if panel.truth is not None:
        summary["recovery_error"] = preference_errors(result.prefs, panel.truth)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_report(summary, result.prefs))
    return 0


def _fit(args: argparse.Namespace, train: Any, test: Any, progress: Any) -> Any:
    from prillm.calibration import run_method

    if args.method == "a2c":
        options = {"max_evaluations": 40 * args.steps}
    else:
        options = {"optimizer": args.optimizer, "steps": args.steps, "lr": args.lr}
    return run_method(args.method, train, test=test, progress=progress, **options)


def _report(summary: dict[str, Any], prefs: Any) -> str:
    lines = [
        f"Calibrated with {summary['method']} on {summary['days']['train']} days "
        f"({summary['days']['test']} held out) in {summary['wall_time_s']:.2f} s",
        f"  w_p = {prefs.w_p:g}, w_q = {prefs.w_q:.6g}, w_d = {prefs.w_d:.6g}",
        "  b: "
        + ", ".join(
            f"{pid} {v:.4g}" for pid, v in zip(prefs.provider_ids or (), prefs.b, strict=False)
        ),
        f"  loss (scaled Eq. 6): {summary['info']['initial_loss']:.4g} -> "
        f"{summary['info']['final_loss']:.4g}",
        f"  train: R^2 {summary['train']['r2']:.4f}, MAE {summary['train']['mae'] / 1e6:.4g} M",
    ]
    if summary["test"] is not None:
        lines.append(
            f"  held-out: R^2 {summary['test']['r2']:.4f}, "
            f"MAE {summary['test']['mae'] / 1e6:.4g} M tokens"
        )
    for finding in summary.get("identifiability", []):
        lines.append(f"  not identified: {', '.join(finding['parameters'])} ({finding['reason']})")
    if "recovery_error" in summary:
        e = summary["recovery_error"]
        lines.append(
            f"  vs planted truth: w_q {e['w_q']:.2%}, w_d {e['w_d']:.2%}, "
            f"b (centred) max error {e['b']:.3g}"
        )
    lines.append(f"wrote {summary['out']}")
    return "\n".join(lines)
