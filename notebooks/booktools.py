"""Presentation helpers shared by the book's chapters (book plumbing, not part of the library).

Each chapter calls them from cells tagged ``remove-cell``, so readers see the lecture, not this:

* :func:`setup_book` loads the book's matplotlib style (``prillm.mplstyle``, next to this file);
* :func:`glue_figure` glues a figure for a ``{glue:figure}`` block (caption, ``:name:`` and
  ``:alt:`` in the chapter's text) and closes it, so that it is shown only there;
* :func:`table_markdown` turns a pandas DataFrame into a MyST ``list-table`` with a caption and a
  label, and :func:`glue_table` glues it; a ``{glue:md}`` block with ``:format: myst`` then
  renders it as a numbered, captioned HTML table that ``{numref}`` can point to.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

STYLE = Path(__file__).with_name("prillm.mplstyle")


def setup_book() -> None:
    """Load the book's figure style (legible at page width, 160 dpi, fixed SVG hash salt)."""
    import matplotlib.pyplot as plt

    plt.style.use(STYLE)


def glue_figure(name: str, fig) -> None:
    """Glue ``fig`` under ``name`` without displaying it, then close it."""
    import matplotlib.pyplot as plt
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


def _cell(value, fmt: str | Callable | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if callable(fmt):
        text = fmt(value)
    elif fmt:
        text = format(value, fmt)
    else:
        text = str(value)
    return " ".join(str(text).split()) or " "


def table_markdown(
    frame,
    caption: str,
    name: str,
    formats: Mapping[str, str | Callable] | None = None,
    index: bool = False,
    widths: str = "auto",
) -> str:
    """A DataFrame as a MyST ``list-table``: a header row, one row per record, a caption.

    Parameters
    ----------
    frame
        The table (a pandas DataFrame); its column names are the header (MyST markup, e.g.
        math, is allowed in them).
    caption
        The caption (one line of MyST).
    name
        The label (``{numref}`name``` points to it).
    formats
        Format spec (``"{:.3f}"`` style without braces, e.g. ``".3f"``) or function per column.
    index
        Whether to include the index as a first column.
    widths
        The list-table's ``:widths:`` option.
    """
    formats = dict(formats or {})
    columns = list(frame.columns)
    header = ([str(frame.index.name or "")] if index else []) + [
        str(c) for c in columns
    ]
    rows = []
    for k in range(
        len(frame)
    ):  # by column, so that each keeps its own dtype
        cells = [_cell(frame.index[k], None)] if index else []
        cells += [_cell(frame[c].iloc[k], formats.get(c)) for c in columns]
        rows.append(cells)
    lines = [
        # a colon fence: a backtick fence's first line may not contain backticks (CommonMark)
        f":::{{list-table}} {' '.join(caption.split())}",
        ":header-rows: 1",
        f":name: {name}",
        f":widths: {widths}",
        "",
    ]
    for row in [header, *rows]:
        lines.append(f"* - {row[0]}")
        lines += [f"  - {cell}" for cell in row[1:]]
    lines.append(":::")
    return "\n".join(lines)


def glue_table(name: str, frame, caption: str, **options) -> str:
    """Glue :func:`table_markdown` of ``frame`` under ``name`` (label ``name`` too).

    The DataFrame itself is displayed too, for readers who run the notebook (the book removes
    the cell and shows the rendered table where the chapter pastes it).
    """
    from IPython.display import Markdown, display
    from myst_nb import glue

    text = table_markdown(frame, caption, name, **options)
    glue(name, Markdown(text), display=False)
    display(frame)
    return text
