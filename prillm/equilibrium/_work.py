"""Small shared work arrays of the equilibrium kernels (a vector of ones per length)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=64)
def ones(size: int) -> np.ndarray:
    """A read-only vector of ``size`` ones (for row and column sums by matrix products).

    Cached: the solver sums rows and columns of the same few sizes many times per call, and on
    small markets allocating the vector costs as much as the product.
    """
    vec = np.ones(size)
    vec.setflags(write=False)
    return vec
