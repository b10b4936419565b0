"""The unconstrained parameter vector that calibration methods search over.

The preferences :math:`\\theta = (w_p = 1, w_q, w_d, b)` are mapped to a vector ``u`` of free
reals: ``log w_q``, ``log w_d`` (so the weights stay positive, as Eq. 8 requires of ``w_q``;
clipped to ``[1e-4, 1e4]``) and the ``b_j`` themselves. Any of them can be held fixed (the
NPM and noQ simulators do).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from prillm.market import MarketError, Preferences

__all__ = ["FREE_NAMES", "Parametrisation"]

FREE_NAMES = ("w_q", "w_d", "b")
#: ``log w`` is clipped to +-this (weights between 1e-4 and 1e4): a line search that tries a huge
#: step then sees a finite, flat loss instead of a zero congestion slope or an overflow.
LOG_WEIGHT_BOUND = float(np.log(1e4))


class Parametrisation:
    """Map between preferences and the free vector ``u`` (log-weights and ``b``).

    Parameters
    ----------
    provider_ids
        Providers, in the order of ``b``.
    fit
        Which of ``"w_q"``, ``"w_d"``, ``"b"`` are learned.
    fixed
        Values of the others (``w_q``/``w_d`` floats > 0, ``b`` a float or one per provider).
    """

    def __init__(
        self,
        provider_ids: Iterable[str],
        fit: Iterable[str] = FREE_NAMES,
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        self.provider_ids = tuple(provider_ids)
        self.fit = tuple(fit)
        unknown = [f for f in self.fit if f not in FREE_NAMES]
        if unknown:
            raise MarketError(f"fit: unknown parameter {unknown[0]!r}; expected {FREE_NAMES}")
        m = len(self.provider_ids)
        fixed = dict(fixed or {})
        defaults = {"w_q": 1.0, "w_d": 1.0, "b": 0.0}
        self.fixed = {k: fixed.get(k, defaults[k]) for k in FREE_NAMES if k not in self.fit}
        for k in ("w_q", "w_d"):
            if k in self.fixed and not float(self.fixed[k]) > 0:
                raise MarketError(f"{k}: a fixed weight must be > 0, got {self.fixed[k]!r}")
        if "b" in self.fixed:
            self.fixed["b"] = np.broadcast_to(np.asarray(self.fixed["b"], float), (m,)).copy()
        self.sizes = {"w_q": 1, "w_d": 1, "b": m}

    @property
    def size(self) -> int:
        """Length of ``u``."""
        return sum(self.sizes[k] for k in self.fit)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Box for each coordinate of ``u``: the clipping range for log-weights, none for ``b``."""
        out: list[tuple[float | None, float | None]] = []
        for k in self.fit:
            if k == "b":
                out.extend([(None, None)] * self.sizes[k])
            else:
                out.append((-LOG_WEIGHT_BOUND, LOG_WEIGHT_BOUND))
        return out

    def encode(self, prefs: Preferences) -> np.ndarray:
        """``u`` for given preferences (``b`` taken in ``provider_ids`` order)."""
        parts = []
        for k in self.fit:
            if k == "b":
                parts.append(_b_in_order(prefs, self.provider_ids))
            else:
                parts.append(np.array([np.log(getattr(prefs, k))]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def split(self, u: Any) -> dict[str, Any]:
        """The named pieces of ``u`` (numpy or torch), fixed values filled in, weights > 0."""
        out: dict[str, Any] = {}
        pos = 0
        is_torch = isinstance(u, torch.Tensor)
        for k in self.fit:
            piece = u[pos : pos + self.sizes[k]]
            pos += self.sizes[k]
            if k == "b":
                out[k] = piece
            elif is_torch:
                out[k] = torch.exp(torch.clamp(piece[0], -LOG_WEIGHT_BOUND, LOG_WEIGHT_BOUND))
            else:
                out[k] = float(np.exp(np.clip(piece[0], -LOG_WEIGHT_BOUND, LOG_WEIGHT_BOUND)))
        for k, v in self.fixed.items():
            if is_torch and k == "b":
                out[k] = torch.as_tensor(v, dtype=u.dtype, device=u.device)
            else:
                out[k] = v
        return out

    def decode(self, u: np.ndarray) -> Preferences:
        """Preferences for a vector ``u``."""
        parts = self.split(np.asarray(u, dtype=float))
        return Preferences(
            w_q=parts["w_q"],
            w_d=parts["w_d"],
            b=np.asarray(parts["b"], dtype=float),
            provider_ids=self.provider_ids,
        )


def _b_in_order(prefs: Preferences, provider_ids: tuple[str, ...]) -> np.ndarray:
    b = np.asarray(prefs.b, dtype=float)
    m = len(provider_ids)
    if b.ndim == 0:
        return np.full(m, float(b))
    if prefs.provider_ids is None:
        if b.shape[0] != m:
            raise MarketError(f"b: expected {m} values (one per provider), got {b.shape[0]}")
        return b.copy()
    lookup = dict(zip(prefs.provider_ids, b, strict=True))
    missing = [p for p in provider_ids if p not in lookup]
    if missing:
        raise MarketError(f"b: no value for provider id {missing[0]!r}")
    return np.array([lookup[p] for p in provider_ids])
