"""Scenarios made ready for training: features, attributes as tensors, the exact profit curve.

For every scenario :class:`PreparedScenarios` computes, once:

* the exact price path of the original game (:func:`prillm.pricing.exact.price_path` over
  ``[0, p_max]``, ``p_max`` the price at which the target loses its last user): its pieces
  give the original profit curve at any price for free
  (:func:`~prillm.abstraction.curves.curve_from_pieces`), and its best piece the exact optimum;
* the rivals' features at the current prices (:func:`~prillm.abstraction.features.rival_features`);
* the rivals', the target's and the users' attributes as float64 tensors.

Scenarios whose target earns nothing at any price (optimal profit zero: the curve loss of
paper Eq. 7 is undefined) are left out and counted in ``skipped``. Scenarios of the same family
have the same shape, so each family is one group of stacked tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from prillm._threads import limit_threads
from prillm.abstraction.aggregate import RivalTensors
from prillm.abstraction.curves import TargetTensors, curve_from_pieces, pieces_array
from prillm.abstraction.dataset import Scenario
from prillm.abstraction.features import rival_features
from prillm.equilibrium import solve_equilibrium
from prillm.pricing.exact import price_path
from prillm.pricing.problem import make_problem

__all__ = ["Group", "PreparedScenarios", "sample_prices"]


@dataclass
class Group:
    """Stacked tensors of the scenarios of one family (the same shape).

    Attributes
    ----------
    family
        The family's name.
    scenarios
        The scenarios, in order.
    features
        ``(B, R, F)``.
    rivals
        The rivals' attributes.
    target
        The target's and the users' attributes.
    pieces
        Each scenario's price path, ``(P, 4)`` arrays.
    p_max
        ``(B,)`` upper price bound of each scenario.
    optimum
        ``(B, 2)``: the exact optimal price and profit (USD).
    """

    family: str
    scenarios: list[Scenario]
    features: torch.Tensor
    rivals: RivalTensors
    target: TargetTensors
    pieces: list[np.ndarray]
    p_max: np.ndarray
    optimum: np.ndarray

    @property
    def size(self) -> int:
        """Number of scenarios ``B``."""
        return len(self.scenarios)

    @property
    def n_rivals(self) -> int:
        """Rivals per scenario ``R``."""
        return self.rivals.n_rivals

    def take(self, idx: np.ndarray) -> Group:
        """The sub-group of the scenarios at positions ``idx``."""
        t = torch.as_tensor(np.asarray(idx, dtype=np.int64))

        def sel(x: torch.Tensor) -> torch.Tensor:
            return x.index_select(0, t)

        return Group(
            family=self.family,
            scenarios=[self.scenarios[i] for i in idx],
            features=sel(self.features),
            rivals=RivalTensors(*(sel(getattr(self.rivals, f)) for f in _RIVAL_FIELDS)),
            target=TargetTensors(*(sel(getattr(self.target, f)) for f in _TARGET_FIELDS)),
            pieces=[self.pieces[i] for i in idx],
            p_max=self.p_max[idx],
            optimum=self.optimum[idx],
        )

    def exact_curves(self, prices: np.ndarray) -> np.ndarray:
        """The original profit (USD) at ``prices (B, L)``."""
        return np.stack([curve_from_pieces(pc, prices[b]) for b, pc in enumerate(self.pieces)])


_RIVAL_FIELDS = ("price", "capacity", "latency", "value")
_TARGET_FIELDS = ("capacity", "value", "latency", "demand", "w_p", "w_q", "w_d")


def sample_prices(
    p_max: np.ndarray, n_prices: int, rng: np.random.Generator | None = None
) -> np.ndarray:
    """``L`` prices per scenario in ``[0, p_max]``: one per equal stratum.

    With ``rng`` a uniform draw inside each stratum (training); without, the strata's midpoints
    (validation and test).
    """
    u = 0.5 * np.ones((p_max.size, n_prices)) if rng is None else rng.random((p_max.size, n_prices))
    return (np.arange(n_prices)[None, :] + u) / n_prices * p_max[:, None]


class PreparedScenarios:
    """Scenarios with their exact curves, features and tensors, grouped by family.

    Parameters
    ----------
    scenarios
        The scenarios to prepare.
    progress
        Optional callable ``progress(done, total)``.

    Attributes
    ----------
    groups
        Family -> :class:`Group`.
    skipped
        Scenarios left out because the target's profit is zero at every price.
    """

    def __init__(self, scenarios: Sequence[Scenario], progress=None) -> None:
        rows: dict[str, list[tuple]] = {}
        self.skipped = 0
        with limit_threads():
            for k, sc in enumerate(scenarios):
                row = _prepare_one(sc)
                if row is None:
                    self.skipped += 1
                else:
                    rows.setdefault(sc.family, []).append(row)
                if progress is not None:
                    progress(k + 1, len(scenarios))
        self.groups = {fam: _stack(fam, r) for fam, r in rows.items()}

    @property
    def size(self) -> int:
        """Number of prepared scenarios."""
        return sum(g.size for g in self.groups.values())

    def scenarios(self) -> list[Scenario]:
        """All prepared scenarios, family by family."""
        return [s for g in self.groups.values() for s in g.scenarios]


def _prepare_one(sc: Scenario) -> tuple | None:
    prob = make_problem(sc.market, sc.prefs, sc.target, None, 0.0, 0.0)
    path = price_path(prob)
    best_p, best_v = path["best"]
    if not best_v > 0:
        return None
    flows = solve_equilibrium(sc.market, sc.prefs).flows
    x, rivals = rival_features(sc.market, sc.prefs, prob.s, flows=flows)
    w_p, w_q, w_d, b = sc.prefs.values_for(sc.market)
    mk = sc.market
    s = prob.s
    return (
        sc,
        x,
        (mk.price[rivals], mk.capacity[rivals], mk.latency[:, rivals], b[rivals]),
        (mk.capacity[s], b[s], mk.latency[:, s], mk.demand, w_p, w_q, w_d),
        pieces_array(path["pieces"]),
        prob.p_max,
        (best_p, best_v),
    )


def _stack(family: str, rows: list[tuple]) -> Group:
    def t(values: list) -> torch.Tensor:
        return torch.as_tensor(np.stack([np.asarray(v, dtype=float) for v in values]))

    return Group(
        family=family,
        scenarios=[r[0] for r in rows],
        features=t([r[1] for r in rows]),
        rivals=RivalTensors(*(t([r[2][k] for r in rows]) for k in range(4))),
        target=TargetTensors(*(t([r[3][k] for r in rows]) for k in range(7))),
        pieces=[r[4] for r in rows],
        p_max=np.array([r[5] for r in rows], dtype=float),
        optimum=np.array([r[6] for r in rows], dtype=float),
    )
