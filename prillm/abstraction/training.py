"""Training the deep aggregation network by the curve loss of paper Eq. (7).

One step, for a mini-batch of scenarios of one family and one ``K``:

1. draw ``L`` prices per scenario in ``[0, p_max]`` (one uniform draw in each of ``L`` equal
   strata) and read the original profits ``Y`` off the exact price path (no equilibrium solve);
2. score the rivals (:class:`~prillm.abstraction.network.ScoreNetwork`), keep the top ``K - 1``
   by ``score_avg`` and merge the rest (:func:`~prillm.abstraction.aggregate.merge_rivals`);
3. solve the ``B L`` abstracted games (``n`` users x ``K + 1`` providers) with the
   differentiable equilibrium and take the target's profits ``Y_hat``
   (:func:`~prillm.abstraction.curves.abstract_profits`);
4. the loss of Eq. (7), normalised per scenario by the original curve's maximum over its ``L``
   prices, averaged over the batch, optionally mixed with the batch's tail
   (:attr:`TrainConfig.tail_weight`: the mean of the largest per-scenario losses, their CVaR;
   our addition, not the paper's, so that the rare scenarios the abstraction gets badly wrong
   weigh more than their share of the batch); one Adam step (cosine-decayed step size) on its
   gradient, which flows from the equilibrium (Eq. 19-20) through the merged rival's
   attributes into both scores and the network.

``K`` is drawn for each batch from :attr:`TrainConfig.k_choices` (those below the family's
number of rivals). After every epoch the validation losses (Eq. 7 at mid-stratum prices,
``K = 2``, or ``K = 1`` where there are only two rivals, one per scenario) are recorded: their
mean, their tail (the mean of the largest :attr:`TrainConfig.select_fraction` of them) and
their maximum. The returned network is the one of the epoch with the lowest validation mean or
tail (:attr:`TrainConfig.select`; model selection on validation data, never on the test split).
The history holds the raw per-epoch numbers; its ``train`` entries are the plain Eq. (7) batch
means, whatever the step's objective.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from prillm.abstraction.aggregate import merge_rivals
from prillm.abstraction.curves import abstract_profits, curve_loss
from prillm.abstraction.network import NetworkConfig, ScoreNetwork
from prillm.abstraction.prepare import Group, PreparedScenarios, sample_prices
from prillm.torch_equilibrium import torch_threads

__all__ = [
    "SELECTIONS",
    "TrainConfig",
    "TrainResult",
    "group_loss",
    "tail_mean",
    "train_network",
    "validation_loss",
]

#: Validation numbers that can pick the returned epoch (:attr:`TrainConfig.select`).
SELECTIONS = ("mean", "tail")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe.

    Attributes
    ----------
    epochs
        Passes over the training scenarios.
    batch_size
        Scenarios per step.
    n_prices
        ``L``, sampled prices per scenario (Eq. 7).
    lr, weight_decay
        Adam's initial step size and L2 penalty.
    final_lr_fraction
        The step size decays from ``lr`` to ``lr * final_lr_fraction`` along a cosine over all
        steps.
    k_choices
        The ``K`` values drawn for the batches.
    grad_clip
        Largest gradient norm per step.
    tail_weight, tail_fraction
        Our addition, not the paper's: the step's loss is
        ``(1 - tail_weight) * mean + tail_weight * CVaR``, where CVaR is the mean of the
        largest ``ceil(tail_fraction * B)`` per-scenario Eq. (7) losses of the batch (the
        batch's tail). ``tail_weight = 0`` is the paper's plain mean.
    select, select_fraction
        Which validation number picks the returned epoch: ``"mean"`` (the mean Eq. 7 loss) or
        ``"tail"`` (the mean of the largest ``select_fraction`` of the per-scenario validation
        losses, pooled over the families: the validation CVaR).
    network
        Sizes of the network (``n_features`` is set from the data).
    seed
        Seeds the network's initialisation, the batch order, the ``K`` draws and the prices.
    """

    epochs: int = 30
    batch_size: int = 32
    n_prices: int = 16
    lr: float = 3e-3
    weight_decay: float = 0.0
    final_lr_fraction: float = 0.05
    k_choices: tuple[int, ...] = (1, 2, 3)
    grad_clip: float = 1.0
    tail_weight: float = 0.0
    tail_fraction: float = 0.25
    select: str = "mean"
    select_fraction: float = 0.05
    network: dict[str, int] = field(
        default_factory=lambda: {"dim": 32, "heads": 4, "blocks": 2, "hidden": 64}
    )
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "n_prices"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        if not self.k_choices or any(int(k) < 1 for k in self.k_choices):
            raise ValueError(f"k_choices: expected integers >= 1, got {self.k_choices!r}")
        if not self.lr > 0:
            raise ValueError(f"lr: must be > 0, got {self.lr!r}")
        if not 0.0 <= self.tail_weight <= 1.0:
            raise ValueError(f"tail_weight: expected a number in [0, 1], got {self.tail_weight!r}")
        for name in ("tail_fraction", "select_fraction"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{name}: expected a number in (0, 1], got {v!r}")
        if self.select not in SELECTIONS:
            raise ValueError(f"select: expected one of {SELECTIONS}, got {self.select!r}")

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain JSON-able values."""
        d = asdict(self)
        d["k_choices"] = list(self.k_choices)
        return d


@dataclass
class TrainResult:
    """A trained network and its learning curve.

    Attributes
    ----------
    network
        The network of the epoch with the lowest validation mean or tail
        (:attr:`TrainConfig.select`).
    history
        ``train`` (mean Eq. 7 loss of each epoch's batches, as seen by the steps),
        ``validation``, ``validation_tail``, ``validation_max`` (the mean, the tail and the
        largest per-scenario validation loss after each epoch), ``validation_initial`` and
        ``validation_tail_initial`` (before training), ``epoch_seconds``, ``selected_epoch``
        (the epoch returned, as ``best_epoch``).
    best_epoch
        1-based epoch of the returned network (0: the untrained one).
    wall_time
        Seconds of training (preparation excluded).
    equilibria
        Abstracted games solved (forward and backward) in training steps.
    """

    network: ScoreNetwork
    history: dict[str, Any]
    best_epoch: int
    wall_time: float
    equilibria: int


def group_loss(
    net: ScoreNetwork,
    group: Group,
    k: int,
    prices: np.ndarray,
    reduction: str = "mean",
) -> torch.Tensor:
    """Eq. (7) of the DA abstraction with ``K`` rivals at ``prices (B, L)`` for one group."""
    y = torch.as_tensor(group.exact_curves(prices))
    s_sum, s_avg = net(group.features)
    merged, _, _ = merge_rivals(group.rivals, s_sum, s_avg, k)
    y_hat = abstract_profits(group.target, merged, torch.as_tensor(prices))
    return curve_loss(y, y_hat, reduction=reduction)


def _val_k(group: Group) -> int:
    return min(2, group.n_rivals - 1) if group.n_rivals > 1 else 1


def tail_mean(losses: torch.Tensor, fraction: float) -> torch.Tensor:
    """The mean of the largest ``ceil(fraction * n)`` of ``n`` losses (their CVaR).

    Examples
    --------
    >>> import torch
    >>> float(tail_mean(torch.tensor([1.0, 4.0, 2.0, 3.0]), 0.5))
    3.5
    """
    flat = losses.reshape(-1)
    if flat.numel() == 0:
        raise ValueError("losses: no loss to take the tail of")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction: expected a number in (0, 1], got {fraction!r}")
    n_tail = max(1, math.ceil(fraction * flat.numel() - 1e-9))
    return torch.topk(flat, n_tail).values.mean()


def validation_losses(
    net: ScoreNetwork, data: PreparedScenarios, n_prices: int = 16, k: int | None = None
) -> dict[str, np.ndarray]:
    """Eq. (7) of every scenario at mid-stratum prices, without gradients: family -> losses.

    ``k``: the ``K`` of the abstraction (default 2, or 1 where a family has only two rivals);
    families with no more rivals than ``K`` (nothing to abstract) are left out.
    """
    out: dict[str, np.ndarray] = {}
    with torch.no_grad(), torch_threads(1):
        for name, g in data.groups.items():
            kk = _val_k(g) if k is None else k
            if kk >= g.n_rivals:
                continue
            prices = sample_prices(g.p_max, n_prices)
            out[name] = group_loss(net, g, kk, prices, reduction="none").numpy().copy()
    return out


def validation_loss(
    net: ScoreNetwork,
    data: PreparedScenarios,
    n_prices: int = 16,
    k: int | None = None,
    per_family: bool = False,
) -> Any:
    """Mean Eq. (7) over every scenario at mid-stratum prices (:func:`validation_losses`).

    With ``per_family`` returns ``{family: mean loss}`` as well.
    """
    fam = validation_losses(net, data, n_prices, k)
    allv = np.concatenate(list(fam.values())) if fam else np.zeros(0)
    mean = float(allv.mean()) if allv.size else float("nan")
    if per_family:
        return mean, {name: float(v.mean()) for name, v in fam.items()}
    return mean


def _validation_numbers(
    net: ScoreNetwork, data: PreparedScenarios, config: TrainConfig
) -> dict[str, float]:
    fam = validation_losses(net, data, config.n_prices)
    allv = torch.as_tensor(np.concatenate(list(fam.values())))
    return {
        "mean": float(allv.mean()),
        "tail": float(tail_mean(allv, config.select_fraction)),
        "max": float(allv.max()),
    }


def _batches(
    data: PreparedScenarios, config: TrainConfig, rng: np.random.Generator
) -> list[tuple[str, np.ndarray, int]]:
    out = []
    for name, g in data.groups.items():
        ks = [int(k) for k in config.k_choices if int(k) < g.n_rivals]
        if not ks:
            continue
        perm = rng.permutation(g.size)
        for start in range(0, g.size, config.batch_size):
            out.append((name, perm[start : start + config.batch_size], int(rng.choice(ks))))
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def train_network(
    train: PreparedScenarios,
    validation: PreparedScenarios,
    config: TrainConfig | None = None,
    progress: Callable[[int, int, float], None] | None = None,
    network: ScoreNetwork | None = None,
) -> TrainResult:
    """Train the score network by Eq. (7) (see the module docstring).

    Parameters
    ----------
    train, validation
        Prepared scenarios of the two splits.
    config
        The recipe (default :class:`TrainConfig`).
    progress
        Optional ``progress(step, total_steps, loss)`` called after every step (``loss``: the
        step's objective).
    network
        Start from this network (default: a fresh one seeded by ``config.seed``).

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If the training set has no scenario with more rivals than the smallest ``K``.
    """
    config = TrainConfig() if config is None else config
    if not train.groups:
        raise ValueError("train: no usable training scenario")
    n_features = next(iter(train.groups.values())).features.shape[-1]
    torch.manual_seed(config.seed)
    net = network or ScoreNetwork(NetworkConfig(n_features=n_features, **config.network))
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = np.random.default_rng(config.seed)
    plan = [_batches(train, config, rng) for _ in range(config.epochs)]
    total_steps = sum(len(p) for p in plan)
    if total_steps == 0:
        raise ValueError(f"train: no scenario has more rivals than K in {list(config.k_choices)}")
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, T_max=total_steps, eta_min=config.lr * config.final_lr_fraction
    )
    history: dict[str, Any] = {
        "train": [],
        "validation": [],
        "validation_tail": [],
        "validation_max": [],
        "epoch_seconds": [],
    }
    net.eval()
    first = _validation_numbers(net, validation, config)
    best_val = first[config.select]
    history["validation_initial"] = first["mean"]
    history["validation_tail_initial"] = first["tail"]
    best_state, best_epoch = copy.deepcopy(net.state_dict()), 0
    step = 0
    equilibria = 0
    t0 = time.perf_counter()
    with torch_threads(1):
        for epoch, batches in enumerate(plan, start=1):
            te = time.perf_counter()
            net.train()
            losses = []
            for name, idx, k in batches:
                g = train.groups[name].take(idx)
                prices = sample_prices(g.p_max, config.n_prices, rng)
                per = group_loss(net, g, k, prices, reduction="none")
                loss = per.mean()
                if config.tail_weight > 0:
                    tail = tail_mean(per, config.tail_fraction)
                    loss = (1.0 - config.tail_weight) * loss + config.tail_weight * tail
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), config.grad_clip)
                opt.step()
                sched.step()
                value = loss.item()
                losses.append(per.mean().item())
                equilibria += g.size * config.n_prices
                step += 1
                if progress is not None:
                    progress(step, total_steps, value)
            net.eval()
            nums = _validation_numbers(net, validation, config)
            val = nums[config.select]
            history["train"].append(float(np.mean(losses)) if losses else float("nan"))
            history["validation"].append(nums["mean"])
            history["validation_tail"].append(nums["tail"])
            history["validation_max"].append(nums["max"])
            history["epoch_seconds"].append(time.perf_counter() - te)
            if val < best_val:
                best_val, best_state, best_epoch = val, copy.deepcopy(net.state_dict()), epoch
    wall = time.perf_counter() - t0
    history["selected_epoch"] = best_epoch
    net.load_state_dict(best_state)
    net.eval()
    return TrainResult(
        network=net, history=history, best_epoch=best_epoch, wall_time=wall, equilibria=equilibria
    )
