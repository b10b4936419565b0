"""Double-double arithmetic on numpy arrays: error-free sums and products (about 106 bits).

A number is carried as an unevaluated sum ``hi + lo`` of two doubles with ``|lo| <= ulp(hi)/2``.
The building blocks are Knuth's ``two_sum`` (``a + b = s + e`` exactly) and Dekker's
``two_prod`` (``a * b = p + e`` exactly, by Veltkamp's split; valid while ``|a|, |b|`` stay
below about ``1e300``). The equilibrium uses them where double precision is not enough: when a
capacity is ``1e8`` or more times the demand, a flow ``K_j (lambda_i - c_ij) - F_j`` is a huge
factor times a small difference of two costs, and the difference must be known to far more
digits than a double holds (see :mod:`prillm.equilibrium.refine`).

References
----------
D. E. Knuth, *The Art of Computer Programming*, vol. 2, 4.2.2; T. J. Dekker, "A floating-point
technique for extending the available precision", Numer. Math. 18 (1971).
"""

from __future__ import annotations

import numpy as np

__all__ = ["dd_add", "dd_sub", "two_prod", "two_sum"]

_SPLIT = 134217729.0  # 2**27 + 1


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``s = fl(a + b)`` and the exact error ``e``: ``a + b = s + e``."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


def two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``p = fl(a * b)`` and the exact error ``e``: ``a * b = p + e``."""
    p = a * b
    a_hi, a_lo = _split(np.asarray(a, dtype=float))
    b_hi, b_lo = _split(np.asarray(b, dtype=float))
    e = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, e


def dd_add(
    a_hi: np.ndarray, a_lo: np.ndarray, b_hi: np.ndarray, b_lo: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(a_hi + a_lo) + (b_hi + b_lo)`` as a normalised double-double."""
    s, e = two_sum(a_hi, b_hi)
    e = e + (a_lo + b_lo)
    return two_sum(s, e)


def dd_sub(
    a_hi: np.ndarray, a_lo: np.ndarray, b_hi: np.ndarray, b_lo: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(a_hi + a_lo) - (b_hi + b_lo)`` as a normalised double-double."""
    return dd_add(a_hi, a_lo, -b_hi, -b_lo)
