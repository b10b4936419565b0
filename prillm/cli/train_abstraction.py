"""``prillm train-abstraction``: train the deep aggregation network of the game abstraction.

Usage::

    prillm train-abstraction --out weights.pt [--scenarios N] [--epochs E] [--seed S]
                             [--quick] [--quiet] [--json]

Builds ``N`` seeded scenarios from the shipped panel (``prillm.abstraction.dataset``), trains
by the curve loss of paper Eq. (7) (``prillm.abstraction.training``) and writes the stamped
weights to ``--out`` and the learning curve beside it (``--out`` with the suffix ``.png``).
Without ``--scenarios`` / ``--epochs`` the recipe's numbers are used: the full recipe (2,400
scenarios, 30 epochs: the shipped weights) or, with ``--quick``, a small one that trains in
well under a minute. Both files are written only after training and the figure have succeeded,
each atomically. Bad options exit with status 2.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``train-abstraction`` sub-command (``set_defaults(func=run)``)."""
    p = subparsers.add_parser(
        "train-abstraction",
        help="train the game abstraction's scoring network (Section 5, Eq. 7)",
        description="Train the game abstraction's scoring network by the curve loss of "
        "Eq. (7); writes the weights and, beside them, the learning curve (.png). Defaults: the "
        "full recipe (2,400 scenarios, 30 epochs), the one of the shipped weights.",
    )
    p.add_argument("--out", required=True, help="weights file to write (.pt)")
    p.add_argument("--scenarios", type=int, default=None, help="scenarios (default: recipe's)")
    p.add_argument("--epochs", type=int, default=None, help="epochs (default: recipe's)")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    p.add_argument("--quick", action="store_true", help="the small, fast recipe")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.set_defaults(func=run)
    return p


def _check(args: argparse.Namespace) -> tuple[Path, Path]:
    from prillm.market import MarketError

    if args.scenarios is not None and args.scenarios < 60:
        raise MarketError(f"--scenarios: expected an integer >= 60, got {args.scenarios}")
    if args.epochs is not None and args.epochs < 1:
        raise MarketError(f"--epochs: expected a positive integer, got {args.epochs}")
    if args.seed < 0:
        raise MarketError(f"--seed: expected a non-negative integer, got {args.seed}")
    out = Path(args.out)
    if out.suffix != ".pt":
        raise MarketError(f"--out: expected a .pt file name, got {args.out!r}")
    if out.is_dir():
        raise MarketError(f"--out: {args.out!r} is a folder")
    if not out.parent.is_dir():
        raise MarketError(f"--out: the folder {str(out.parent)!r} does not exist")
    return out, out.with_suffix(".png")


def run(args: argparse.Namespace) -> int:
    """Run the sub-command; returns the exit status (input errors raise MarketError)."""
    out, png = _check(args)
    from tqdm import tqdm

    from prillm.abstraction.plots import learning_curve_figure
    from prillm.abstraction.recipe import run_recipe
    from prillm.abstraction.weights import atomic_write_bytes, weights_bytes

    bars: dict[str, Any] = {}
    quiet = args.quiet or args.json

    def progress(stage: str, done: int, total: int, loss: float | None) -> None:
        if quiet:
            return
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            unit = "scenario" if stage == "prepare" else "step"
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=unit, file=sys.stderr)
        bar.update(done - bar.n)
        if loss is not None:
            bar.set_postfix(loss=f"{loss:.3g}")

    try:
        result = run_recipe(args.scenarios, args.epochs, args.seed, args.quick, progress)
    finally:
        for bar in bars.values():
            bar.close()
    rec = result.record
    fig = learning_curve_figure(
        rec["history"], title=f"{rec['scenarios']} scenarios, seed {rec['seed']}"
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    data = weights_bytes(result.network, rec)
    atomic_write_bytes(out, data)
    atomic_write_bytes(png, buf.getvalue())
    summary = {
        "out": str(out),
        "learning_curve": str(png),
        "bytes": len(data),
        **{k: rec[k] for k in ("seed", "scenarios", "epochs", "quick", "best_epoch")},
        "validation_loss": {
            "initial": rec["history"]["validation_initial"],
            "best": rec["best_validation_loss"],
        },
        "split_sizes": rec["split_sizes"],
        "wall_time_s": rec["wall_time_s"],
        "cpu_time_s": rec["cpu_time_s"],
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"Trained on {rec['split_sizes']['train']} scenarios "
            f"({rec['split_sizes']['validation']} validation) for {rec['epochs']} epochs in "
            f"{rec['wall_time_s']:.1f} s (CPU {rec['cpu_time_s']:.1f} s)\n"
            f"  validation loss (Eq. 7): {rec['history']['validation_initial']:.4g} untrained -> "
            f"{rec['best_validation_loss']:.4g} (epoch {rec['best_epoch']})\n"
            f"wrote {out} ({len(data) / 1024:.0f} kB) and {png}"
        )
    return 0
