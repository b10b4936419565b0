"""Figures of the pricing-method comparison (chapter 4).

:func:`ratio_figure` draws each method's profit in the true game as a share of the exact
optimum, one dot per market, one panel per market size; the panels share their axes. Like the
other figure modules of :mod:`prillm.experiments` it imports matplotlib inside the function and
returns a 7-inch-wide ``Figure`` at 160 dpi with text of at least 10 pt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prillm.experiments.real_data_plots import _STYLE, _WIDTH, _subplots

__all__ = ["ratio_figure"]


def ratio_figure(records: Sequence[Mapping[str, Any]], sizes: Sequence[str]) -> Any:
    """Share of the exact optimum of every method on every market, one panel per size.

    Parameters
    ----------
    records
        Records of :func:`~prillm.experiments.compare_pricing_methods` (``size``, ``method``,
        ``ratio``).
    sizes
        The sizes (``"8x8"``) to draw, one panel each, in this order.

    Returns
    -------
    matplotlib.figure.Figure
        One row of axes sharing both axes; the methods on the x axis, in the order met.
    """
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(r["method"] for r in records if r["size"] in sizes))
    with plt.rc_context(_STYLE):
        fig, axes = _subplots(
            1, len(sizes), figsize=(_WIDTH, 3.2), sharex=True, sharey=True, squeeze=False
        )
        for ax, size in zip(axes[0], sizes, strict=True):
            for k, method in enumerate(methods):
                ys = [r["ratio"] for r in records if r["size"] == size and r["method"] == method]
                xs = k + np.linspace(-0.15, 0.15, len(ys)) if len(ys) > 1 else [k] * len(ys)
                ax.plot(xs, ys, "o", ms=5, alpha=0.8, color=f"C{k}")
            ax.set_title(f"{size} markets", loc="left")
            ax.set_xticks(range(len(methods)), methods, rotation=45)
        axes[0, 0].set_ylabel("profit / exact optimum")
    return fig
