"""The training recipes end to end: scenarios, preparation, training, the record to stamp.

Two recipes, both seeded:

=============  ===========  ========  ====================================  ========  =====
recipe         scenarios    epochs    network (dim / heads / blocks / rFF)  prices L  batch
=============  ===========  ========  ====================================  ========  =====
full           4,800        60        32 / 4 / 2 / 64                       16        32
quick          240          4         16 / 2 / 1 / 32                       8         32
=============  ===========  ========  ====================================  ========  =====

Both use Adam with a step size of ``3e-3`` decayed along a cosine to 5 % of it, ``K`` drawn per
batch from ``{1, 2, 3}``, gradients clipped at norm 1. Three choices of ours, not the paper's,
aim at the worst case rather than the mean (each is a field of the recipe, so the paper's plain
recipe is one edit away):

* **demand rescaling**: every training scenario's demand is multiplied by one factor drawn
  uniformly from ``demand_range`` (:func:`~prillm.abstraction.dataset.scale_demand`), so the
  network also sees less and more congested markets than the base days give (the scenarios it
  got worst were the uncongested ones, rare in the base days); the validation split is used as
  built *and* once more rescaled the same way (separate seeded generators: the scenarios of
  every split, the test split included, stay exactly those :func:`build_scenarios` returns);
* **a tail-aware step**: the step's loss is half the batch's mean Eq. (7) loss and half the
  mean of its largest quarter (``tail_weight``, ``tail_fraction`` of
  :class:`~prillm.abstraction.training.TrainConfig`);
* **selection by the validation tail**: the epoch kept is the one with the lowest mean of the
  largest 5 % of the per-scenario validation losses (``select = "tail"``), not the lowest mean.

The shipped weights (:data:`~prillm.abstraction.weights.SHIPPED_WEIGHTS`) are the full recipe
with seed 0, i.e. ``prillm train-abstraction --out prillm/abstraction/weights.pt`` with the
defaults. Only the training and validation splits are prepared; the test split is never seen.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from prillm.abstraction.dataset import SPLITS, build_scenarios, scale_demand
from prillm.abstraction.features import FEATURE_SPEC
from prillm.abstraction.network import ScoreNetwork, count_parameters
from prillm.abstraction.prepare import PreparedScenarios
from prillm.abstraction.training import TrainConfig, train_network
from prillm.market import MarketError

__all__ = ["FULL", "QUICK", "RecipeResult", "recipe_config", "run_recipe"]

#: The full recipe (the shipped weights).
FULL: dict[str, Any] = {
    "scenarios": 4800,
    "demand_range": (0.5, 1.2),
    "config": {
        "epochs": 60,
        "batch_size": 32,
        "n_prices": 16,
        "tail_weight": 0.5,
        "tail_fraction": 0.25,
        "select": "tail",
        "select_fraction": 0.05,
        "network": {"dim": 32, "heads": 4, "blocks": 2, "hidden": 64},
    },
}
#: The quick recipe (tests, continuous integration, the book's quick mode): the full recipe with
#: fewer scenarios, epochs and sampled prices, and a smaller network.
QUICK: dict[str, Any] = {
    **FULL,
    "scenarios": 240,
    "config": {
        **FULL["config"],
        "epochs": 4,
        "n_prices": 8,
        "network": {"dim": 16, "heads": 2, "blocks": 1, "hidden": 32},
    },
}


@dataclass
class RecipeResult:
    """A trained network and the record stamped into its weights file.

    Attributes
    ----------
    network
        The trained network (best validation epoch).
    record
        JSON-able: ``seed``, ``scenarios``, ``epochs``, ``quick``, ``config``, ``history``,
        ``best_epoch``, ``split_sizes``, ``skipped``, ``equilibria``, ``parameters``, the
        times (``prepare_time_s``, ``train_time_s``, ``wall_time_s``, ``cpu_time_s``) and the
        conditions (``torch_threads``, ``cpu_count``, ``platform``, ``torch``).
    """

    network: ScoreNetwork
    record: dict[str, Any]


def recipe_config(quick: bool, epochs: int | None, seed: int) -> TrainConfig:
    """The :class:`~prillm.abstraction.training.TrainConfig` of a recipe (``epochs`` overrides)."""
    base = dict((QUICK if quick else FULL)["config"])
    if epochs is not None:
        base["epochs"] = epochs
    return TrainConfig(seed=seed, **base)


def run_recipe(
    scenarios: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
    quick: bool = False,
    progress: Callable[[str, int, int, float | None], None] | None = None,
) -> RecipeResult:
    """Build the scenarios, prepare the training and validation splits, train.

    Parameters
    ----------
    scenarios, epochs
        Override the recipe's numbers (``None``: the recipe's).
    seed
        Seeds the scenarios, the network and the training.
    quick
        The quick recipe instead of the full one.
    progress
        Optional ``progress(stage, done, total, loss)``, ``stage`` ``"prepare"`` or ``"train"``.

    Raises
    ------
    prillm.MarketError
        For a bad count or seed, or too few scenarios to fill the training and validation
        splits.
    """
    n = (QUICK if quick else FULL)["scenarios"] if scenarios is None else scenarios
    if isinstance(epochs, bool) or (
        epochs is not None and (not isinstance(epochs, int) or epochs < 1)
    ):
        raise MarketError(f"epochs: expected a positive integer, got {epochs!r}")
    config = recipe_config(quick, epochs, seed)
    t0, c0 = time.perf_counter(), time.process_time()
    all_sc = build_scenarios(n, seed)
    by_split = {k: [s for s in all_sc if s.split == k] for k in SPLITS}
    for k in ("train", "validation"):
        if not by_split[k]:
            raise MarketError(
                f"scenarios: {n} scenarios leave the {k} split empty; use more (at least 60)"
            )
    demand_range = (QUICK if quick else FULL)["demand_range"]
    # the training scenarios with their demand rescaled; the validation ones as built plus a
    # rescaled copy (separate generators: the scenarios of every split stay those built)
    train_sc = scale_demand(by_split["train"], demand_range, np.random.default_rng([seed, 1]))
    val_sc = by_split["validation"] + scale_demand(
        by_split["validation"], demand_range, np.random.default_rng([seed, 2])
    )

    def prep(done: int, total: int) -> None:
        if progress is not None:
            progress("prepare", done, total, None)

    total_prep = len(train_sc) + len(val_sc)
    train = PreparedScenarios(train_sc, lambda d, _t: prep(d, total_prep))
    validation = PreparedScenarios(val_sc, lambda d, _t: prep(len(train_sc) + d, total_prep))
    t1 = time.perf_counter()

    def step(done: int, total: int, loss: float) -> None:
        if progress is not None:
            progress("train", done, total, loss)

    res = train_network(train, validation, config, progress=step)
    t2, c2 = time.perf_counter(), time.process_time()
    record = {
        "seed": int(seed),
        "scenarios": int(n),
        "epochs": config.epochs,
        "quick": bool(quick),
        "config": config.to_dict(),
        "feature_version": FEATURE_SPEC["version"],
        "history": res.history,
        "best_epoch": res.best_epoch,
        "best_validation_loss": (
            [res.history["validation_initial"], *res.history["validation"]][res.best_epoch]
        ),
        "split_sizes": {k: len(v) for k, v in by_split.items()},
        "demand_range": list(demand_range),
        "selection_scenarios": validation.size,
        "skipped": {"train": train.skipped, "validation": validation.skipped},
        "equilibria": res.equilibria,
        "parameters": count_parameters(res.network),
        "prepare_time_s": t1 - t0,
        "train_time_s": t2 - t1,
        "wall_time_s": t2 - t0,
        "cpu_time_s": c2 - c0,
        "torch_threads": 1,
        "cpu_count": os.cpu_count() or 0,
        "platform": platform.platform(),
        "torch": str(torch.__version__),
    }
    return RecipeResult(network=res.network, record=record)
