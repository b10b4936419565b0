"""``prillm calibrate``: learn the users' preferences from a panel of observed days.

Usage::

    prillm calibrate PANEL --out prefs.json [--plot fit.png] [--method gradient]
                     [--optimizer lbfgs|adam] [--steps N] [--lr LR] [--test-fraction F]
                     [--seed S] [--json]

``PANEL`` is a panel file (see :mod:`prillm.data.panel_file`): a ``prillm-panel`` JSON file
(plain or ``.gz``, e.g. the shipped ``prillm/data/panel_seed0.json.gz``), a JSON list of market
files (one per day, with ``observed_flows``), or a file of an earlier version. The last
``--test-fraction`` of the days is held out for the reported R^2 and MAE (a panel of one day is
fitted whole, nothing held out, and the report says so). ``--method`` is a calibration method
that learns preferences (:data:`prillm.calibration.METHODS`). The learned
preferences are written to ``--out`` (the ``prillm-preferences`` format, usable as
``prillm solve MARKET --prefs prefs.json``); ``--plot`` saves predicted against observed flows
on the held-out days (``.png``, ``.pdf``, ``.svg``, ...). Parameters the panel does not
identify are named in the report.

Every option and both output paths are checked before the panel is read, and so are the optional
dependencies the run needs (the ``torch`` extra; ``plot`` for ``--plot``). The preferences file
and the figure are written together, atomically, only once the fit, the figure and the report
have all been computed: a failure leaves no file behind.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from prillm.cli._options import IMAGE_SUFFIXES, JSON_SUFFIXES, integer, number, seed

__all__ = ["MAX_LR", "MAX_STEPS", "add_parser", "run"]

#: Largest ``--steps`` (a run of this many steps already takes hours on a real panel).
MAX_STEPS = 100_000
#: Largest Adam step size ``--lr`` (the parameters are scaled to order one).
MAX_LR = 10.0


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
    p.add_argument(
        "--plot",
        metavar="FIG",
        help="save the fit on the held-out days here (" + ", ".join(IMAGE_SUFFIXES) + ")",
    )
    from prillm.calibration import METHODS

    learners = [name for name, method in METHODS.items() if method.learns]
    p.add_argument(
        "--method",
        choices=learners,
        default="gradient",
        help="calibration method that learns preferences (prillm.calibration.METHODS)",
    )
    p.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    p.add_argument(
        "--steps",
        type=integer(1, MAX_STEPS),
        default=100,
        help=f"optimiser steps (default 100, at most {MAX_STEPS})",
    )
    p.add_argument(
        "--lr",
        type=number(0.0, MAX_LR, lo_open=True),
        default=0.05,
        help=f"Adam step size, in (0, {MAX_LR:g}] (default 0.05)",
    )
    p.add_argument(
        "--test-fraction",
        type=number(0.0, 1.0, lo_open=True, hi_open=True),
        default=0.2,
        help="share of days held out, in (0, 1) (default 0.2)",
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of the a2c agent (default 0; other methods are deterministic)",
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
    from prillm._optional import require_installed
    from prillm.cli._options import check_outputs

    # everything that can be checked before the work starts
    check_outputs(
        {"--out": (args.out, JSON_SUFFIXES), "--plot": (args.plot, IMAGE_SUFFIXES)},
        inputs=[args.panel],
    )
    require_installed(["torch"], "prillm calibrate")
    show_bar = not (args.quiet or args.json)
    if show_bar:
        require_installed(["tqdm"], "the progress bar of prillm calibrate (or use --quiet)")
    if args.plot:
        require_installed(["matplotlib"], "prillm calibrate --plot")

    from prillm.calibration.metrics import preference_errors
    from prillm.calibration.result import predict_flows
    from prillm.data import load_panel
    from prillm.io import atomic_write, dump_json

    panel = load_panel(args.panel, demand=args.demand)
    if panel.n_days > 1:
        train, test = panel.split(args.test_fraction)
    else:  # one day: nothing can be held out; fitted whole (the scale is then not identified)
        train, test = panel, None
    result = _fit_with_progress(args, train, test, show_bar)
    assert result.prefs is not None

    # every output is computed before anything is written
    outputs: dict[str, str | bytes] = {args.out: dump_json(result.prefs.to_dict())}
    if args.plot:
        from prillm.calibration.plot import fit_figure

        shown, label = (train, "the one day, fitted") if test is None else (test, "held-out days")
        fig = fit_figure(
            {f"{args.method} ({label})": predict_flows(shown, result.prefs)}, shown.flows
        )
        buffer = io.BytesIO()
        fig.savefig(buffer, format=Path(args.plot).suffix.lower()[1:], dpi=120)
        outputs[args.plot] = buffer.getvalue()
    summary = result.to_dict()
    summary.pop("loss_history")
    summary["days"] = {"train": train.n_days, "test": 0 if test is None else test.n_days}
    summary["out"] = args.out
    summary["not_identified"] = list(result.not_identified)
    if panel.truth is not None:
        summary["recovery_error"] = preference_errors(result.prefs, panel.truth)
    text = json.dumps(summary, indent=2) if args.json else _report(summary, result.prefs)
    atomic_write(outputs)
    print(text)
    return 0


def _fit_with_progress(args: argparse.Namespace, train: Any, test: Any, show_bar: bool) -> Any:
    """The fit, with a progress bar on standard error unless ``show_bar`` is false."""
    import warnings

    from prillm.calibration import IdentifiabilityWarning

    if not show_bar:
        with warnings.catch_warnings():  # reported in the summary
            warnings.simplefilter("ignore", IdentifiabilityWarning)
            return _fit(args, train, test, None)
    from tqdm import tqdm

    bar = tqdm(
        total=args.steps if args.method != "a2c" else None,
        desc=f"calibrate ({args.method})",
        unit="step",
        file=sys.stderr,
    )

    def progress(step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4g}")

    try:
        with warnings.catch_warnings():  # reported in the summary
            warnings.simplefilter("ignore", IdentifiabilityWarning)
            return _fit(args, train, test, progress)
    finally:
        bar.close()


def _fit(args: argparse.Namespace, train: Any, test: Any, progress: Any) -> Any:
    from prillm.calibration import run_method

    if args.method == "a2c":
        options: dict[str, Any] = {"max_evaluations": 40 * args.steps, "rng": args.seed}
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
    else:
        lines.append("  held-out: none (a panel of one day is fitted whole)")
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
