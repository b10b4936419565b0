"""The deep aggregation network: a stack of Set Attention Blocks with two positive score heads.

Each rival's feature vector (:mod:`prillm.abstraction.features`) is embedded by one linear
layer, then passed through ``blocks`` Set Attention Blocks (Lee et al. 2019):

.. math::

    \\mathrm{MAB}(X, Y) = \\mathrm{LN}(H + \\mathrm{rFF}(H)),\\quad
    H = \\mathrm{LN}(X + \\mathrm{Multihead}(X, Y, Y)),\\qquad
    \\mathrm{SAB}(X) = \\mathrm{MAB}(X, X),

with multi-head scaled dot-product attention, layer normalisation ``LN`` and a row-wise
feed-forward network ``rFF`` (two linear layers with a ReLU). There is no positional input, so
the map from the set of rivals to their scores is *permutation-equivariant* (permuting the rivals
permutes the scores) and accepts any number of rivals. A final linear layer gives two outputs
per rival, made positive by a softplus (paper Section 5.1):

* ``score_sum`` weighs the rival's capacity in the merged rival's (a weighted *sum*),
* ``score_avg`` ranks the rivals (the ``K - 1`` highest are kept) and weighs the merged rival's
  price, latencies and perceived value (a weighted *average*).

The score layer starts near zero with biases that make both scores 1: an untrained network
merges by plain sums (total capacity kept) and plain averages.

References
----------
Lee, Lee, Kim, Kosiorek, Choi and Teh, "Set Transformer: a framework for attention-based
permutation-invariant neural networks", ICML 2019. Paper Section 5.1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["NetworkConfig", "ScoreNetwork", "SetAttentionBlock", "count_parameters"]

_SOFTPLUS_ONE = math.log(math.e - 1.0)  # softplus(x) = 1


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the network.

    Attributes
    ----------
    n_features
        Input features per rival.
    dim
        Width of the embedding and of every block (a multiple of ``heads``).
    heads
        Attention heads.
    blocks
        Set Attention Blocks stacked.
    hidden
        Width of the row-wise feed-forward layer inside each block.
    """

    n_features: int
    dim: int = 32
    heads: int = 4
    blocks: int = 2
    hidden: int = 64

    def __post_init__(self) -> None:
        for name in ("n_features", "dim", "heads", "blocks", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if self.dim % self.heads:
            raise ValueError(f"dim: must be a multiple of heads={self.heads}, got {self.dim}")

    def to_dict(self) -> dict[str, int]:
        """The sizes as a plain dict (stored in weights files)."""
        return asdict(self)


class SetAttentionBlock(nn.Module):
    """``SAB(X) = LN(H + rFF(H))``, ``H = LN(X + Multihead(X, X, X))`` (Lee et al. 2019)."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.o = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-head scaled dot-product self-attention over the set axis of ``x (B, R, dim)``."""
        batch, size, dim = x.shape
        h = self.heads

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, size, h, dim // h).transpose(1, 2)  # (B, h, R, dh)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim // h), dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(batch, size, dim)
        return self.o(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, R, dim) -> (B, R, dim)``, permutation-equivariant over ``R``."""
        hid = self.norm1(x + self.attention(x))
        return self.norm2(hid + self.ff(hid))


class ScoreNetwork(nn.Module):
    """Rival features ``(B, R, F)`` (or ``(R, F)``) to ``(score_sum, score_avg)``, each ``(B, R)``.

    Parameters
    ----------
    config
        The sizes (:class:`NetworkConfig`).

    Examples
    --------
    >>> import torch
    >>> net = ScoreNetwork(NetworkConfig(n_features=3, dim=8, heads=2, blocks=1, hidden=8))
    >>> s_sum, s_avg = net(torch.zeros(5, 3, dtype=torch.float64))
    >>> tuple(s_sum.shape), bool((s_avg > 0).all())
    ((5,), True)
    """

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Linear(config.n_features, config.dim)
        self.blocks = nn.ModuleList(
            SetAttentionBlock(config.dim, config.heads, config.hidden) for _ in range(config.blocks)
        )
        self.score = nn.Linear(config.dim, 2)
        with torch.no_grad():
            self.score.weight.mul_(0.05)
            self.score.bias.fill_(_SOFTPLUS_ONE)
        self.double()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of a batch of rival sets; both strictly positive."""
        single = x.dim() == 2
        if single:
            x = x[None]
        if x.dim() != 3 or x.shape[-1] != self.config.n_features:
            raise ValueError(
                f"features: expected shape (B, R, {self.config.n_features}), got {tuple(x.shape)}"
            )
        h = self.embed(x.to(self.embed.weight.dtype))
        for block in self.blocks:
            h = block(h)
        out = nn.functional.softplus(self.score(h)) + 1e-6
        s_sum, s_avg = out[..., 0], out[..., 1]
        if single:
            return s_sum[0], s_avg[0]
        return s_sum, s_avg

    def extra_repr(self) -> str:  # pragma: no cover - printing only
        return ", ".join(f"{k}={v}" for k, v in self.config.to_dict().items())


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
