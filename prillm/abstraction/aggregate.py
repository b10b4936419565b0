"""Aggregation: from the rivals and their scores to ``K`` abstract rivals (paper Section 5.1).

With ``R`` rivals and scores ``score_sum``, ``score_avg`` (one pair per rival), the deep
aggregation (DA) keeps the ``K - 1`` rivals with the highest ``score_avg`` unchanged and merges
the rest, ``R_agg``, into one representative rival ``a``:

.. math::

    \\alpha_a = \\sum_{j \\in R_{agg}} \\mathrm{score}^{sum}_j \\alpha_j, \\qquad
    (p_a, \\{d_{ia}\\}, b_a) = \\frac{\\sum_{j \\in R_{agg}} \\mathrm{score}^{avg}_j
        (p_j, \\{d_{ij}\\}, b_j)}{\\sum_{j \\in R_{agg}} \\mathrm{score}^{avg}_j}.

The formulas are those of the paper; they are differentiable in the scores (the choice of the
kept rivals is a ranking, piecewise constant in the scores). :func:`merge_rivals` implements them
once, in torch and batched, for training and for :func:`prillm.abstraction.abstract` alike.

Two baselines share the interface (paper Table 3's caption: "MIN selects the K cheapest
rivals. AVG returns K identical providers with averaged attributes"):

* **MIN** (:func:`min_rivals`): the ``K`` rivals of lowest list price ``p_j`` (the paper's
  "unit price"; not the perceived cost ``w_p p_j + w_d d_ij - b_j``), copied unchanged; ties in
  price go to the rival listed first. The other rivals are dropped with their capacity.
  :func:`prillm.abstraction.abstract` then sets the users' demand (``min_demand``):

  - ``"served"`` (the default): each user's demand becomes its flow, at the current prices, to
    the target and the kept rivals. The dropped rivals leave *with the traffic they carry*, the
    restriction :mod:`prillm.abstraction.dataset` uses to cut the Economy-8 market out of the
    Economy segment: at the current prices the abstracted game's equilibrium is exactly the
    true one on the providers it keeps (the target's load included).
  - ``"all"``: every user keeps its whole demand. This is the literal reading, but it is not a
    usable abstraction of a congested market: the whole demand must go through the target and
    ``K`` rivals holding a fraction of the capacity, so the congestion term ``w_q F_j / alpha_j``
    of every route explodes, the target's demand becomes nearly captive, and its abstracted
    optimum sits at the top of the price range, ``p_max``, the price at which it loses its last
    user in the *true* game. Evaluated there, its true profit is zero.

  Why MIN scores what it scores, even with ``"served"``: in the Economy markets the cheapest
  models are the small ones with low perceived value ``b_j`` (cheap *because* users value
  them less), not the target's real competition; and a dropped rival's traffic cannot come
  back to it when the target raises its price, so the abstracted demand is less elastic than
  the true one and MIN overprices. How much is measured in the book's abstraction chapter and
  by ``benchmarks/bench_abstraction.py``.
* **AVG** (:func:`average_rivals`): ``K`` identical providers with the rivals' plain
  (unweighted) averages of price, per-user latency and perceived value, each with ``1/K`` of
  the rivals' total capacity (so the total capacity, and the demand, are kept; the users see
  ``K`` copies of the average rival).

With ``K >= R`` every method returns the rivals unchanged (the identity).

References
----------
Paper Section 5.1 (the aggregation formulas), Section 6.2 and Table 3 (MIN, AVG).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RivalTensors", "average_rivals", "merge_rivals", "min_rivals", "select_kept"]


@dataclass(frozen=True)
class RivalTensors:
    """The attributes of a batch of rival sets (``B`` sets of ``R`` rivals, ``n`` users).

    Attributes
    ----------
    price
        ``(B, R)`` USD per million tokens.
    capacity
        ``(B, R)`` tokens per period.
    latency
        ``(B, n, R)`` seconds.
    value
        ``(B, R)`` perceived values ``b_j`` (USD per million tokens).
    """

    price: torch.Tensor
    capacity: torch.Tensor
    latency: torch.Tensor
    value: torch.Tensor

    @property
    def n_rivals(self) -> int:
        """``R``."""
        return int(self.price.shape[-1])


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"K: expected an integer >= 1, got {k!r}")
    return k


def select_kept(score_avg: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``K - 1`` rivals with the highest ``score_avg`` (ascending positions) and the rest.

    Parameters
    ----------
    score_avg
        ``(B, R)`` scores.
    k
        Rivals of the abstracted game, ``1 <= K < R``.

    Returns
    -------
    kept, merged
        ``(B, K - 1)`` positions (sorted ascending; ties to the lower position) and the ``(B, R)``
        boolean mask of the merged rivals.
    """
    _check_k(k)
    batch, r = score_avg.shape
    if k >= r:
        raise ValueError(f"K: select_kept needs K < R={r}, got {k}")
    merged = torch.ones(batch, r, dtype=torch.bool, device=score_avg.device)
    if k == 1:
        return torch.zeros(batch, 0, dtype=torch.long, device=score_avg.device), merged
    # a stable descending sort: equal scores keep their order, so ties go to the first rival
    order = torch.sort(score_avg.detach(), dim=1, descending=True, stable=True).indices
    kept = torch.sort(order[:, : k - 1], dim=1).values
    merged.scatter_(1, kept, False)
    return kept, merged


def merge_rivals(
    rivals: RivalTensors, score_sum: torch.Tensor, score_avg: torch.Tensor, k: int
) -> tuple[RivalTensors, torch.Tensor, torch.Tensor]:
    """DA: keep the top ``K - 1`` rivals by ``score_avg``, merge the rest into one (Section 5.1).

    Parameters
    ----------
    rivals
        The rivals' attributes (batched, :class:`RivalTensors`).
    score_sum, score_avg
        ``(B, R)`` positive scores.
    k
        Rivals of the abstracted game (``K >= 1``). With ``K >= R`` the rivals are returned
        unchanged.

    Returns
    -------
    abstract, kept, merged
        The ``K`` abstract rivals (the kept ones in market order, then the representative), the
        kept positions ``(B, K - 1)`` and the merged mask ``(B, R)``. Differentiable in the
        scores and in the attributes.

    Examples
    --------
    >>> import torch
    >>> t = lambda *v: torch.tensor([v], dtype=torch.float64)
    >>> riv = RivalTensors(price=t(1.0, 2.0, 4.0), capacity=t(1.0, 1.0, 2.0),
    ...                    latency=torch.zeros(1, 1, 3, dtype=torch.float64), value=t(0., 0., 0.))
    >>> out, kept, merged = merge_rivals(riv, t(1.0, 1.0, 0.5), t(3.0, 1.0, 1.0), 2)
    >>> kept.tolist(), out.price.tolist(), out.capacity.tolist()
    ([[0]], [[1.0, 3.0]], [[1.0, 2.0]])
    """
    _check_k(k)
    r = rivals.n_rivals
    if k >= r:
        batch = rivals.price.shape[0]
        kept = torch.arange(r, device=rivals.price.device).expand(batch, r)
        return rivals, kept, torch.zeros_like(rivals.price, dtype=torch.bool)
    kept, merged = select_kept(score_avg, k)
    mask = merged.to(rivals.price.dtype)
    w_avg = score_avg * mask
    norm = w_avg.sum(dim=1, keepdim=True)
    price_a = (w_avg * rivals.price).sum(dim=1, keepdim=True) / norm
    value_a = (w_avg * rivals.value).sum(dim=1, keepdim=True) / norm
    latency_a = (w_avg[:, None, :] * rivals.latency).sum(dim=2, keepdim=True) / norm[:, None, :]
    capacity_a = (score_sum * mask * rivals.capacity).sum(dim=1, keepdim=True)
    lat_idx = kept[:, None, :].expand(-1, rivals.latency.shape[1], -1)
    out = RivalTensors(
        price=torch.cat([rivals.price.gather(1, kept), price_a], dim=1),
        capacity=torch.cat([rivals.capacity.gather(1, kept), capacity_a], dim=1),
        latency=torch.cat([rivals.latency.gather(2, lat_idx), latency_a], dim=2),
        value=torch.cat([rivals.value.gather(1, kept), value_a], dim=1),
    )
    return out, kept, merged


def min_rivals(rivals: RivalTensors, k: int) -> tuple[RivalTensors, torch.Tensor]:
    """MIN: the ``K`` rivals of lowest price unchanged (ties to the first listed), the rest dropped.

    Only the rivals are chosen here; what happens to the dropped rivals' traffic is decided by
    :func:`prillm.abstraction.abstract` (``min_demand``, see the module docstring).

    Returns
    -------
    abstract, kept
        The ``min(K, R)`` kept rivals in market order and their positions ``(B, min(K, R))``.
    """
    _check_k(k)
    r = rivals.n_rivals
    batch = rivals.price.shape[0]
    if k >= r:
        return rivals, torch.arange(r, device=rivals.price.device).expand(batch, r)
    order = torch.sort(rivals.price.detach(), dim=1, stable=True).indices
    kept = torch.sort(order[:, :k], dim=1).values
    lat_idx = kept[:, None, :].expand(-1, rivals.latency.shape[1], -1)
    out = RivalTensors(
        price=rivals.price.gather(1, kept),
        capacity=rivals.capacity.gather(1, kept),
        latency=rivals.latency.gather(2, lat_idx),
        value=rivals.value.gather(1, kept),
    )
    return out, kept


def average_rivals(rivals: RivalTensors, k: int) -> RivalTensors:
    """AVG: ``K`` identical providers with the rivals' averages, ``1/K`` of their capacity each.

    Price, per-user latency and perceived value are plain means over the ``R`` rivals; the
    total capacity ``sum_j alpha_j`` is split equally. With ``K >= R`` the rivals are returned
    unchanged.
    """
    _check_k(k)
    r = rivals.n_rivals
    if k >= r:
        return rivals
    batch, n = rivals.latency.shape[:2]

    def rep(t: torch.Tensor) -> torch.Tensor:
        return t.mean(dim=-1, keepdim=True).expand(*t.shape[:-1], k)

    return RivalTensors(
        price=rep(rivals.price),
        capacity=(rivals.capacity.sum(dim=1, keepdim=True) / k).expand(batch, k),
        latency=rep(rivals.latency).reshape(batch, n, k),
        value=rep(rivals.value),
    )
