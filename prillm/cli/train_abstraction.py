"""``prillm train-abstraction``: train the deep aggregation network of the game abstraction.

Usage::

    prillm train-abstraction --out weights.pt [--scenarios N] [--epochs E] [--seed S]
                             [--quick] [--quiet] [--json]

Builds ``N`` seeded scenarios from the shipped panel (``prillm.abstraction.dataset``), trains
by the curve loss of paper Eq. (7) (``prillm.abstraction.training``; the recipe's additions,
demand rescaling and a tail-aware loss and selection, are listed in
``prillm.abstraction.recipe``) and writes the stamped weights to ``--out`` and the learning
curve beside it (``--out`` with the suffix ``.png``).
Without ``--scenarios`` / ``--epochs`` the recipe's numbers are used: the full recipe (4,800
scenarios, 60 epochs: the shipped weights) or, with ``--quick``, a small one that trains in
well under a minute. ``--scenarios`` is an integer in [60, :data:`MAX_SCENARIOS`], ``--epochs``
in [1, :data:`MAX_EPOCHS`], ``--seed`` in [0, 2**63 - 1]; they, both output paths and the optional
dependencies (the ``torch`` extra, ``plot`` for the curve) are checked before any work. Both files
are written together, all-or-nothing and atomically, only after training and the figure have
succeeded. Bad options exit with status 2.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from prillm.cli._options import integer, seed

__all__ = ["MAX_EPOCHS", "MAX_SCENARIOS", "MIN_SCENARIOS", "add_parser", "run"]

#: ``--scenarios`` range: fewer than 60 leave a split empty; the full recipe uses 4,800.
MIN_SCENARIOS, MAX_SCENARIOS = 60, 100_000
#: Largest ``--epochs`` (the full recipe uses 60).
MAX_EPOCHS = 10_000


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``train-abstraction`` sub-command (``set_defaults(func=run)``)."""
    p = subparsers.add_parser(
        "train-abstraction",
        help="train the game abstraction's scoring network (Section 5, Eq. 7)",
        description="Train the game abstraction's scoring network by the curve loss of "
        "Eq. (7); writes the weights and, beside them, the learning curve (.png). Defaults: the "
        "full recipe (4,800 scenarios, 60 epochs), the one of the shipped weights.",
    )
    p.add_argument("--out", required=True, help="weights file to write (.pt)")
    p.add_argument(
        "--scenarios",
        type=integer(MIN_SCENARIOS, MAX_SCENARIOS),
        default=None,
        help=f"scenarios, in [{MIN_SCENARIOS}, {MAX_SCENARIOS}] (default: the recipe's)",
    )
    p.add_argument(
        "--epochs",
        type=integer(1, MAX_EPOCHS),
        default=None,
        help=f"epochs, in [1, {MAX_EPOCHS}] (default: the recipe's)",
    )
    p.add_argument("--seed", type=seed, default=0, help="seed of everything (default 0)")
    p.add_argument("--quick", action="store_true", help="the small, fast recipe")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.set_defaults(func=run)
    return p


def _check(args: argparse.Namespace) -> tuple[Path, Path]:
    """The weights file and the learning curve beside it, checked (suffix, folder, clash)."""
    from prillm.cli._options import check_outputs

    out = Path(args.out)
    check_outputs({"--out": (args.out, (".pt",))})
    png = out.with_suffix(".png")
    check_outputs({"--out": (str(png), (".png",))})  # the curve written beside it
    return out, png


def run(args: argparse.Namespace) -> int:
    """Run the sub-command; returns the exit status (input errors raise MarketError)."""
    from prillm._optional import require_installed

    out, png = _check(args)
    require_installed(["torch", "tqdm"], "prillm train-abstraction")
    require_installed(["matplotlib"], "the learning curve of prillm train-abstraction")
    from tqdm import tqdm

    from prillm.abstraction.plots import learning_curve_figure
    from prillm.abstraction.recipe import run_recipe
    from prillm.abstraction.weights import weights_bytes
    from prillm.io import atomic_write

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
    atomic_write({out: data, png: buf.getvalue()})  # both or neither
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
