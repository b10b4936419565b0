"""Shipped market data: public OpenRouter figures and a planted calibration panel.

Two kinds of data, each documented column by column in ``DATASHEET.md`` beside this file:

- **facts** — compact tables of public OpenRouter figures (Source: OpenRouter
  (openrouter.ai/rankings), CC BY 4.0; dates in each table's ``meta``):
  :func:`load_models_daily`, :func:`load_price_history`, :func:`load_app_flows`,
  :func:`load_performance`, returned as a small immutable column :class:`Table`;
- **generated** — :func:`generate_planted_panel`, an OpenRouter-shaped panel of daily markets
  whose flows are exact equilibria of planted preferences plus stated noise, so calibration can
  be scored against the truth; :func:`load_panel` reads the shipped seed-0 panel.

:func:`augment_scenarios` perturbs the rivals of a target provider, as the paper does to build
its training scenarios.
"""

from prillm.data.openrouter import (
    DATA_DIR,
    SOURCE,
    load_app_flows,
    load_models_daily,
    load_performance,
    load_price_history,
    price_on,
)
from prillm.data.panel import (
    DEFAULT_PANEL_FILE,
    CalibrationPanel,
    load_panel,
    noise_factors,
    save_panel,
)
from prillm.data.planted import DEFAULT_PANEL_SEED, generate_planted_panel
from prillm.data.scenarios import augment_scenarios
from prillm.data.table import Table, read_table, write_table

__all__ = [
    "DATA_DIR",
    "DEFAULT_PANEL_FILE",
    "DEFAULT_PANEL_SEED",
    "SOURCE",
    "CalibrationPanel",
    "Table",
    "augment_scenarios",
    "generate_planted_panel",
    "load_app_flows",
    "load_models_daily",
    "load_panel",
    "load_performance",
    "load_price_history",
    "noise_factors",
    "price_on",
    "read_table",
    "save_panel",
    "write_table",
]
