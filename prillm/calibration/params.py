"""The unconstrained parameter vector that calibration methods search over.

The preferences :math:`\\theta = (w_p = 1, w_q, w_d, b)` are mapped to a vector ``u`` of free
reals: ``log w_q``, ``log w_d`` (so the weights stay positive, as Eq. 8 requires of ``w_q``)
and the ``b_j`` themselves. The log-weights live in the box ``[-LOG_WEIGHT_BOUND,
LOG_WEIGHT_BOUND]`` (weights between 1e-4 and 1e4): L-BFGS-B keeps its iterates inside it and
Adam is projected back onto it, so decoding never clips a point the optimiser produced, and a
fit that ends on the box says so (:meth:`Parametrisation.at_bound`). Any parameter can be held
fixed (the NPM and noQ simulators do); ``w_p`` is the normalisation, never a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from prillm.data.panel import aligned_b
from prillm.market import MarketError, Preferences

__all__ = ["FREE_NAMES", "LOG_WEIGHT_BOUND", "Parametrisation"]

#: The preference parameters a calibration can learn or fix.
FREE_NAMES = ("w_q", "w_d", "b")
#: ``log w`` stays within +-this (weights between 1e-4 and 1e4): a line search that tries a huge
#: step then sees a finite loss instead of a zero congestion slope or an overflow.
LOG_WEIGHT_BOUND = float(np.log(1e4))


class Parametrisation:
    """Map between preferences and the free vector ``u`` (log-weights and ``b``).

    Parameters
    ----------
    provider_ids
        Providers, in the order of ``b``.
    fit
        Which of ``"w_q"``, ``"w_d"``, ``"b"`` are learned (each at most once).
    fixed
        Values of the others (``w_q``/``w_d`` numbers > 0, ``b`` a number or one per provider);
        a parameter neither learned nor given takes ``w_q = w_d = 1``, ``b = 0``.

    Raises
    ------
    prillm.MarketError
        For an unknown name in ``fit`` or ``fixed`` (the message lists the valid ones), a name
        both learned and fixed, or a bad fixed value.

    Examples
    --------
    >>> Parametrisation(["a"], fit=("w_d", "b"), fixed={"wq": 5})
    Traceback (most recent call last):
    ...
    prillm._validation.MarketError: fixed: unknown parameter 'wq'; valid: w_q, w_d, b
    """

    def __init__(
        self,
        provider_ids: Iterable[str],
        fit: Iterable[str] = FREE_NAMES,
        fixed: Mapping[str, Any] | None = None,
    ) -> None:
        self.provider_ids = tuple(provider_ids)
        if isinstance(fit, str):
            raise MarketError(f"fit: expected a list of parameter names, got the string {fit!r}")
        self.fit = tuple(fit)
        for k in self.fit:
            if k not in FREE_NAMES:
                raise MarketError(f"fit: unknown parameter {k!r}; valid: {', '.join(FREE_NAMES)}")
        if len(set(self.fit)) != len(self.fit):
            raise MarketError(f"fit: a parameter is listed twice in {list(self.fit)}")
        fixed = dict(fixed or {})
        for k in fixed:
            if k not in FREE_NAMES:
                raise MarketError(f"fixed: unknown parameter {k!r}; valid: {', '.join(FREE_NAMES)}")
            if k in self.fit:
                raise MarketError(
                    f"fixed: {k!r} is also learned (in fit); leave it out of fit to fix it"
                )
        m = len(self.provider_ids)
        defaults = {"w_q": 1.0, "w_d": 1.0, "b": 0.0}
        self.fixed: dict[str, Any] = {}
        for k in FREE_NAMES:
            if k in self.fit:
                continue
            value = fixed.get(k, defaults[k])
            self.fixed[k] = _weight(k, value) if k != "b" else _b_value(value, m)
        self.sizes = {"w_q": 1, "w_d": 1, "b": m}

    @property
    def size(self) -> int:
        """Length of ``u``."""
        return sum(self.sizes[k] for k in self.fit)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Box for each coordinate of ``u``: ``+-LOG_WEIGHT_BOUND`` for log-weights, none for b."""
        out: list[tuple[float | None, float | None]] = []
        for k in self.fit:
            if k == "b":
                out.extend([(None, None)] * self.sizes[k])
            else:
                out.append((-LOG_WEIGHT_BOUND, LOG_WEIGHT_BOUND))
        return out

    def project(self, u: np.ndarray) -> np.ndarray:
        """``u`` with its log-weights moved into the box (the projection step of Adam)."""
        out = np.array(u, dtype=float)
        pos = 0
        for k in self.fit:
            if k != "b":
                out[pos] = min(max(out[pos], -LOG_WEIGHT_BOUND), LOG_WEIGHT_BOUND)
            pos += self.sizes[k]
        return out

    def at_bound(self, u: np.ndarray, rtol: float = 1e-9) -> tuple[str, ...]:
        """The learned weights whose log lies on (or outside) the box at ``u``."""
        out = []
        pos = 0
        for k in self.fit:
            if k != "b" and abs(float(u[pos])) >= LOG_WEIGHT_BOUND * (1 - rtol):
                out.append(k)
            pos += self.sizes[k]
        return tuple(out)

    def encode(self, prefs: Preferences) -> np.ndarray:
        """``u`` for given preferences (``b`` taken in ``provider_ids`` order).

        Raises
        ------
        prillm.MarketError
            If a learned weight lies outside ``[1e-4, 1e4]`` (the box of ``u``).
        """
        parts = []
        for k in self.fit:
            if k == "b":
                parts.append(aligned_b(prefs, self.provider_ids))
            else:
                value = float(getattr(prefs, k))
                if not value > 0 or abs(math.log(value)) > LOG_WEIGHT_BOUND * (1 + 1e-12):
                    raise MarketError(
                        f"{k}: a learned weight must start in [1e-4, 1e4], got {value!r}"
                    )
                parts.append(np.array([math.log(value)]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def split(self, u: Any) -> dict[str, Any]:
        """The named pieces of ``u`` (numpy or torch), fixed values filled in, weights ``exp``.

        ``u`` is taken as it is: the optimisers keep it inside :meth:`bounds`.
        """
        out: dict[str, Any] = {}
        pos = 0
        is_torch = isinstance(u, torch.Tensor)
        for k in self.fit:
            piece = u[pos : pos + self.sizes[k]]
            pos += self.sizes[k]
            if k == "b":
                out[k] = piece
            elif is_torch:
                out[k] = torch.exp(piece[0])
            else:
                out[k] = float(np.exp(piece[0]))
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


def _weight(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise MarketError(f"fixed.{name}: expected a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise MarketError(f"fixed.{name}: a fixed weight must be finite and > 0, got {value!r}")
    return v


def _b_value(value: Any, m: int) -> np.ndarray:
    if isinstance(value, bool):
        raise MarketError(f"fixed.b: expected numbers, got {value!r}")
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=float), (m,)).copy()
    except (TypeError, ValueError):
        raise MarketError(f"fixed.b: expected a number or {m} numbers, got {value!r}") from None
    if not np.isfinite(arr).all():
        raise MarketError(f"fixed.b: must be finite, got {value!r}")
    return arr
