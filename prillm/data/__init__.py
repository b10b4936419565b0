"""Market data: public OpenRouter figures, the panel type, and planted panels.

Two kinds of data, each documented column by column in ``DATASHEET.md`` beside this file:

- **facts** — compact tables of public OpenRouter figures (Source: OpenRouter
  (openrouter.ai/rankings), CC BY 4.0; dates in each table's ``meta``):
  :func:`load_models_daily`, :func:`load_price_history`, :func:`load_app_flows`,
  :func:`load_performance`, returned as a small immutable column :class:`Table`;
- **generated** — :func:`generate_planted_panel`, panels of daily markets whose flows are exact
  equilibria of planted preferences plus stated noise, so calibration can be scored against the
  truth; :func:`load_panel` reads the shipped seed-0 panel (OpenRouter-shaped).

:class:`Panel` is the one panel type: T days of one market with observed flows, validated on
construction, optionally with the planted truth, exact flows, dates, segments and provenance;
one file format (:mod:`prillm.data.panel_file`). :func:`augment_scenarios` perturbs the rivals of
a target provider, as the paper does to build its training scenarios.
"""

from __future__ import annotations

import os
from pathlib import Path

from prillm.data.generate import (
    DEFAULT_PANEL_SEED,
    DEFAULT_START,
    DesignDraw,
    generate_planted_panel,
    noise_factors,
)
from prillm.data.openrouter import (
    DATA_DIR,
    SOURCE,
    load_app_flows,
    load_models_daily,
    load_performance,
    load_price_history,
    price_on,
)
from prillm.data.openrouter_design import OpenRouterDesign
from prillm.data.panel import (
    DEMAND_FLOOR,
    DEMAND_RTOL,
    FLOW_TOTALS,
    Panel,
    aligned_b,
    latency_from_factors,
)
from prillm.data.panel_file import PANEL_FORMAT, PANEL_VERSION, read_panel, write_panel
from prillm.data.random_design import RandomDesign
from prillm.data.scenarios import augment_scenarios
from prillm.data.segments import PROVIDER_SEGMENTS
from prillm.data.table import Table, read_table, write_table

__all__ = [
    "DATA_DIR",
    "DEFAULT_PANEL_FILE",
    "DEFAULT_PANEL_SEED",
    "DEFAULT_START",
    "DEMAND_FLOOR",
    "DEMAND_RTOL",
    "FLOW_TOTALS",
    "PANEL_FORMAT",
    "PANEL_VERSION",
    "PROVIDER_SEGMENTS",
    "SOURCE",
    "DesignDraw",
    "OpenRouterDesign",
    "Panel",
    "RandomDesign",
    "Table",
    "aligned_b",
    "augment_scenarios",
    "generate_planted_panel",
    "latency_from_factors",
    "load_app_flows",
    "load_models_daily",
    "load_panel",
    "load_performance",
    "load_price_history",
    "noise_factors",
    "price_on",
    "read_panel",
    "read_table",
    "write_panel",
    "write_table",
]

#: The shipped planted panel (seed 0, 100 days x 20 apps x 20 models; ``DATASHEET.md``).
DEFAULT_PANEL_FILE = DATA_DIR / "panel_seed0.json.gz"


def load_panel(path: str | os.PathLike[str] | None = None, *, demand: str = "check") -> Panel:
    """Read a panel file (default: the shipped seed-0 planted panel).

    Reads the panel format of :mod:`prillm.data.panel_file` (plain or gzip-compressed JSON), a
    JSON list of market files, and the files of earlier versions (see
    :func:`prillm.data.read_panel`, which also explains ``demand``).

    Returns
    -------
    Panel
        20 apps x 20 models x 100 days with its planted truth for the shipped file.

    Raises
    ------
    prillm.MarketError
        One line naming the file and the field for a missing or malformed file.

    Examples
    --------
    >>> panel = load_panel()
    >>> panel.shape, panel.truth.w_q, panel.flow_totals
    ((100, 20, 20), 1.2, 'noisy')
    """
    return read_panel(Path(path) if path is not None else DEFAULT_PANEL_FILE, demand=demand)
