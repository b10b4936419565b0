"""Check the built book's HTML against the book's presentation rules.

Usage::

    python scripts/check_book_html.py                          # every page of _build/html
    python scripts/check_book_html.py --pages 01_market notation

A page fails when

* ``figure-caption``: an image is not inside a figure with a caption (numbered, on the pages of
  the numbered part of the book);
* ``figure-alt``: an image has no alt text (none, empty, or its own file name);
* ``figure-resolution``: a PNG figure is stored at less than 150 dpi (matplotlib writes the
  resolution into the file);
* ``table-caption``: a table has no caption (numbered, on numbered pages); a pandas DataFrame
  displayed raw is such a table;
* ``text-table``: a code cell prints a table as text (a ``<pre>`` output whose lines have
  aligned columns, a rule of dashes, or the rows of a printed 2-D array);
* ``visible-glue``: a code cell shown to readers calls ``glue(``;
* ``visible-parameters``: the ``parameters`` cell or papermill's injected parameters are shown;
* ``long-cell``: a code cell shown to readers has more than ``MAX_CELL_LINES`` non-blank lines;
* ``wide-line``: a line of a code cell shown to readers, or of its printed output, is longer than
  ``MAX_LINE_CHARS`` characters: at a 1280 px window the book's code boxes are 684 px wide, and
  ``scripts/check_book_browser.py`` found a 79-character line 14 px too wide for them (about
  8.4 px a character and 34 px of padding: 77 characters fit), so a longer line is cut off
  behind a scroll bar.

The exit status is 1 if any page fails, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_CELL_LINES = 20
MAX_LINE_CHARS = 76
MIN_DPI = 150
UNNUMBERED = ("intro", "notation", "bibliography", "status", "index", "genindex", "search")


@dataclass(frozen=True)
class Problem:
    """One rule broken on one page."""

    page: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.rule}: {self.detail}"


def png_dpi(path: Path) -> float | None:
    """The resolution in a PNG's pHYs chunk (dots per inch), or None if it has none."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"pHYs":
            ppx, _, unit = struct.unpack(">IIB", data[pos + 8 : pos + 17])
            return ppx * 0.0254 if unit == 1 else None
        if kind == b"IDAT":
            return None
        pos += 12 + length
    return None


_RULE = re.compile(r"^\s*[-=+|: ]{5,}\s*$")


def looks_like_text_table(text: str) -> bool:
    """Whether printed text is laid out as a table.

    True when at least three lines share a column start (a character that follows a run of two
    or more spaces at the same position), when a line is a rule of dashes or equals signs, or
    when at least two lines are rows of a printed 2-D array (``[[`` then `` [``).
    """
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    if any(_RULE.match(ln) and ln.count("-") + ln.count("=") >= 5 for ln in lines):
        return True
    if sum(1 for ln in lines if re.match(r"^\s*\[?\[\s*[-+0-9.]", ln)) >= 2:
        return True
    starts: dict[int, int] = {}
    for ln in lines:
        cols = {m.end() for m in re.finditer(r"(?<=\S) {2,}(?=\S)", ln)}
        for col in cols:
            starts[col] = starts.get(col, 0) + 1
    return any(count >= 3 for count in starts.values())


def _caption_text(node) -> str:
    text = node.select_one(".caption-text")
    return (text or node).get_text(" ", strip=True)


def _has_number(node) -> bool:
    return node.select_one(".caption-number") is not None


def check_page(path: Path, html_root: Path, numbered: bool | None = None) -> list[Problem]:
    """Every rule broken on one HTML page of the built book."""
    name = str(path.relative_to(html_root)) if path.is_relative_to(html_root) else path.name
    if numbered is None:
        numbered = path.stem not in UNNUMBERED
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    article = soup.select_one("article.bd-article") or soup.select_one("main") or soup
    problems: list[Problem] = []

    def add(rule: str, detail: str) -> None:
        problems.append(Problem(name, rule, detail))

    for img in article.find_all("img"):
        src = img.get("src", "")
        short = Path(src).name or src[:40]
        figure = img.find_parent("figure")
        caption = figure.find("figcaption") if figure else None
        if caption is None or not _caption_text(caption):
            add("figure-caption", f"image {short} is not in a captioned figure")
        elif numbered and not _has_number(caption):
            add("figure-caption", f"figure with image {short} has no number")
        alt = (img.get("alt") or "").strip()
        if not alt or alt == src or Path(alt).name == Path(src).name or alt.endswith(".png"):
            add("figure-alt", f"image {short} has no alt text")
        if src.endswith(".png") and not src.startswith("data:"):
            dpi = png_dpi((path.parent / src).resolve())
            if dpi is None or dpi < MIN_DPI - 0.5:
                found = "no resolution" if dpi is None else f"{dpi:.0f} dpi"
                add("figure-resolution", f"image {short}: {found} (at least {MIN_DPI} dpi)")

    for table in article.find_all("table"):
        if table.find_parent("table") is not None:
            continue
        caption = table.find("caption", recursive=False)
        figure = table.find_parent("figure")
        if caption is None and figure is not None:
            caption = figure.find("figcaption")
        head = " ".join(th.get_text(" ", strip=True) for th in table.find_all("th")[:4])
        if caption is None or not _caption_text(caption):
            add("table-caption", f"table ({head[:60]}) has no caption")
        elif numbered and not _has_number(caption):
            add("table-caption", f"table ({head[:60]}) has no number")

    for cell in article.select("div.cell"):
        classes = cell.get("class", [])
        source = cell.select_one("div.cell_input pre")
        code = source.get_text() if source is not None else ""
        first = code.lstrip().splitlines()[0] if code.strip() else ""
        if "tag_parameters" in classes or "tag_injected-parameters" in classes:
            add("visible-parameters", f"parameters cell shown: {first[:60]!r}")
        elif source is not None and re.match(r"# Parameters|quick\s*=", first):
            add("visible-parameters", f"parameters cell shown: {first[:60]!r}")
        if source is not None and re.search(r"\bglue\w*\(", code):
            line = next(ln for ln in code.splitlines() if re.search(r"\bglue\w*\(", ln))
            add("visible-glue", f"code cell shows {line.strip()[:70]!r}")
        n_lines = sum(1 for ln in code.splitlines() if ln.strip())
        if source is not None and n_lines > MAX_CELL_LINES:
            add(
                "long-cell",
                f"code cell of {n_lines} lines shown (at most {MAX_CELL_LINES}): {first[:50]!r}",
            )
        if source is not None:
            wide = [ln for ln in code.splitlines() if len(ln) > MAX_LINE_CHARS]
            if wide:
                add(
                    "wide-line",
                    f"{len(wide)} code line(s) over {MAX_LINE_CHARS} characters: "
                    f"{wide[0].strip()[:50]!r}",
                )
        for pre in cell.select("div.cell_output pre"):
            text = pre.get_text()
            wide = [ln for ln in text.splitlines() if len(ln) > MAX_LINE_CHARS]
            if wide:
                add(
                    "wide-line",
                    f"{len(wide)} output line(s) over {MAX_LINE_CHARS} characters: "
                    f"{wide[0].strip()[:50]!r}",
                )
            if looks_like_text_table(text):
                snippet = " / ".join(ln.strip() for ln in text.strip().splitlines()[:2])
                add("text-table", f"printed text table: {snippet[:80]!r}")
    return problems


def pages_of(html_root: Path) -> list[Path]:
    """The chapter pages and the book's own pages of a built book."""
    pages = sorted((html_root / "_build" / "executed").glob("*.html"))
    pages += sorted((html_root / "book").glob("*.html"))
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=REPO_ROOT / "_build" / "html")
    parser.add_argument("--pages", nargs="+", metavar="STEM", help="only these pages")
    args = parser.parse_args(argv)
    html_root = args.html.resolve()
    if not (html_root / "index.html").exists():
        print(f"check_book_html: no built book at {html_root}", file=sys.stderr)
        return 2
    pages = pages_of(html_root)
    if args.pages:
        wanted = {Path(p).stem for p in args.pages}
        pages = [p for p in pages if p.stem in wanted]
        missing = wanted - {p.stem for p in pages}
        if missing:
            print(f"check_book_html: no such page: {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    problems = [p for page in pages for p in check_page(page, html_root)]
    for problem in problems:
        print(problem)
    print(f"check_book_html: {len(pages)} page(s), {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
