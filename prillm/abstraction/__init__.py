"""Game abstraction (paper Section 5): the deep aggregation network and PriLLM's pricing pipeline.

A target provider facing many rivals prices in a *smaller* game: the rivals the network ranks
highest are kept, the others merged into one representative rival, and the small game is solved
by any pricing method; the price is then evaluated in the true game.

- :func:`abstract` — the market reduced to the target and ``K`` rivals, by deep aggregation
  (``"da"``, the network's scores), or the baselines ``"min"`` (the ``K`` rivals of lowest
  list price; the others leave with the traffic they carry today) and ``"avg"`` (``K``
  identical averaged rivals); returns an :class:`Abstraction`.
- ``prillm.optimal_price(..., method="prillm", K=2, solver="spiter")`` — the pipeline
  (:mod:`prillm.abstraction.method`).
- :mod:`~prillm.abstraction.features` (what the network sees), :mod:`~prillm.abstraction.network`
  (Set Attention Blocks, two positive score heads), :mod:`~prillm.abstraction.aggregate` (the
  formulas of Section 5.1, MIN, AVG), :mod:`~prillm.abstraction.curves` (profit curves and the
  curve loss of paper Eq. 7), :mod:`~prillm.abstraction.dataset` (training scenarios, split by
  day), :mod:`~prillm.abstraction.prepare`, :mod:`~prillm.abstraction.training`,
  :mod:`~prillm.abstraction.weights` (stamped weights files; the shipped ones),
  :mod:`~prillm.abstraction.evaluation` (profit shares and timings as tidy records),
  :mod:`~prillm.abstraction.recipe` (the full and quick training recipes end to end).

Importing this package imports torch; without it, the import raises
:class:`prillm.MissingDependencyError`, one line naming the extra (``prillm[torch]``).

References
----------
Paper Section 5 (Eq. 7), Section 6.2 and Table 3; Lee et al. 2019 (Set Transformer).
"""

from prillm._optional import optional_dependency

# one line naming the extra (torch) when it is missing, not a bare ModuleNotFoundError
with optional_dependency("the game abstraction (prillm.abstraction)"):
    from prillm.abstraction.aggregate import (
        RivalTensors,
        average_rivals,
        merge_rivals,
        min_rivals,
        select_kept,
    )
    from prillm.abstraction.core import METHODS, Abstraction, abstract, score_rivals
    from prillm.abstraction.curves import abstract_profits, curve_from_pieces, curve_loss
    from prillm.abstraction.dataset import FAMILIES, Scenario, base_markets, build_scenarios
    from prillm.abstraction.features import FEATURE_NAMES, FEATURE_SPEC, rival_features
    from prillm.abstraction.network import NetworkConfig, ScoreNetwork, SetAttentionBlock
    from prillm.abstraction.weights import (
        SHIPPED_WEIGHTS,
        default_network,
        load_weights,
        save_weights,
    )

__all__ = [
    "FAMILIES",
    "FEATURE_NAMES",
    "FEATURE_SPEC",
    "METHODS",
    "SHIPPED_WEIGHTS",
    "Abstraction",
    "NetworkConfig",
    "RivalTensors",
    "Scenario",
    "ScoreNetwork",
    "SetAttentionBlock",
    "abstract",
    "abstract_profits",
    "average_rivals",
    "base_markets",
    "build_scenarios",
    "curve_from_pieces",
    "curve_loss",
    "default_network",
    "load_weights",
    "merge_rivals",
    "min_rivals",
    "rival_features",
    "save_weights",
    "score_rivals",
    "select_kept",
]
