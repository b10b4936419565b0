"""Open every page of the built book in headless Chromium and report what is wider than the page.

Usage::

    python scripts/check_book_browser.py                      # every page of _build/html
    python scripts/check_book_browser.py --pages 01_market    # some pages (by file stem)
    python scripts/check_book_browser.py --json report.json   # also write the findings as JSON

How it measures. The built HTML is copied to a temporary folder; in each page a small script is
added that waits for the mathematics to be typeset, then walks the elements of the article and
records two kinds of findings at the given window width (1280 px by default):

* ``beyond-column``: an element whose right edge lies beyond the right edge of the article
  column (it overlaps the margin or the table of contents, or leaves the page);
* ``clipped``: a block with ``overflow-x`` hidden, auto or scroll whose content is wider than
  the block (part of it is hidden, or behind a scroll bar: a clipped table, a code cell or an
  output whose lines are too long);
* ``equation`` (``inline-math``): a typeset formula wider than its box or than the column.

Only the outermost offending element is reported; nothing inside a clipped block or inside a
formula is reported again. Chromium is launched with
``--dump-dom`` and a virtual-time budget; the added script writes its report into the DOM, which
this script reads back. Only the standard library is used.

Mathematics. The book loads MathJax 3 from a CDN, unreachable offline. If a local copy of
MathJax 3 is installed (the ``mathjax`` package of ``django-static-mathjax``, which ``make
book-check`` installs into the virtual environment), the copied pages load it instead, so
equations are typeset with MathJax's own metrics and measured like any other element. Without
it, display equations are not typeset, and their width is *estimated* from the TeX source by a
coarse rule (``tex_width_em``: glyphs and common commands counted in em, fractions by their
wider part, sub- and superscripts at 70 %); such findings are marked as estimates.

Figures. For every image the natural and the displayed size are recorded; for a PNG with a
resolution chunk (matplotlib writes one), the report gives the smallest font size (in points in
the figure) that is still displayed at 9 pt (12 CSS px) at this width.

The exit status is 1 if anything is reported, 2 on a usage error (no Chromium, no book).
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--hide-scrollbars",
)
REPORT_ID = "prillm-layout-report"
CDN_MATHJAX = re.compile(
    r'<script[^>]*src="https://cdn\.jsdelivr\.net/npm/mathjax@3[^"]*"[^>]*>\s*</script>'
)
PROBE = r"""
<script>
(function () {
  function describe(el) {
    var text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 90);
    var sec = el.closest("section");
    var head = sec ? sec.querySelector("h1, h2, h3, h4") : null;
    var cls = (typeof el.className === "string" ? el.className : "").trim().replace(/\s+/g, ".");
    return {tag: el.tagName.toLowerCase(), cls: cls, id: el.id || "",
            section: head ? head.textContent.replace(/[#\s]+$/, "").trim() : "", text: text};
  }
  function texOf(el, map) {
    var c = el.closest("mjx-container");
    if (c && map.has(c)) return map.get(c);
    var m = el.closest(".math");
    return m ? m.textContent.trim().slice(0, 400) : "";
  }
  function run() {
    var report = {viewport: document.documentElement.clientWidth, findings: [], images: [],
                  displays: [], mathjax: ""};
    var map = new Map();
    if (window.MathJax && MathJax.version && MathJax.startup && MathJax.startup.document) {
      report.mathjax = MathJax.version;
      Array.from(MathJax.startup.document.math).forEach(function (item) {
        if (item.typesetRoot) map.set(item.typesetRoot, item.math);
      });
    }
    var article = document.querySelector("article.bd-article") || document.querySelector("main")
                  || document.body;
    var ar = article.getBoundingClientRect();
    report.column = {left: ar.left, right: ar.right, width: ar.width};
    var beyond = [], clipped = [];
    article.querySelectorAll("*").forEach(function (el) {
      if (el.closest("#%REPORT%") || el.closest("mjx-container")) return;  // math: below
      if (clipped.some(function (b) { return b !== el && b.contains(el); })) return;
      var r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return;
      var cs = getComputedStyle(el);
      if (cs.visibility === "hidden" || cs.display === "none") return;
      if (r.right > ar.right + 1.5 && !beyond.some(function (b) { return b.contains(el); })) {
        beyond.push(el);
        var f = describe(el);
        f.kind = "beyond-column"; f.width = Math.round(r.width);
        f.overflow = Math.round(r.right - ar.right); f.tex = "";
        report.findings.push(f);
      }
      var ox = cs.overflowX;
      if (!cs.display.startsWith("inline")
          && (ox === "auto" || ox === "scroll" || ox === "hidden" || ox === "clip")
          && el.scrollWidth > el.clientWidth + 1) {
        clipped.push(el);
        var g = describe(el);
        g.kind = "clipped"; g.width = el.clientWidth;
        g.overflow = el.scrollWidth - el.clientWidth; g.tex = "";
        report.findings.push(g);
      }
    });
    // typeset mathematics: the whole formula (mjx-math) against its box and the column
    article.querySelectorAll("mjx-container").forEach(function (c) {
      if (c.parentElement && c.parentElement.closest("mjx-container")) return;
      var m = c.querySelector("mjx-math");
      if (!m) return;
      var mr = m.getBoundingClientRect(), cr = c.getBoundingClientRect();
      var display = c.getAttribute("display") === "true";
      var room = display ? Math.min(cr.right, ar.right) : ar.right;
      var inScroll = clipped.some(function (b) { return b.contains(c); });
      var hidden = display ? c.scrollWidth - c.clientWidth : 0;  // inline boxes: no scroll
      if (!inScroll && (mr.right > room + 1.5 || hidden > 1.5)) {
        var f = describe(c.closest(".math") || c);
        f.kind = display ? "equation" : "inline-math"; f.width = Math.round(mr.width);
        f.overflow = Math.round(Math.max(mr.right - room, hidden));
        f.tex = map.has(c) ? map.get(c) : "";
        report.findings.push(f);
      }
    });
    article.querySelectorAll("img").forEach(function (img) {
      var r = img.getBoundingClientRect();
      report.images.push({src: img.getAttribute("src"), natural_w: img.naturalWidth,
                          natural_h: img.naturalHeight, shown_w: Math.round(r.width),
                          shown_h: Math.round(r.height), alt: img.getAttribute("alt") || ""});
    });
    article.querySelectorAll("div.math").forEach(function (d) {
      var r = d.getBoundingClientRect();
      var c = d.querySelector("mjx-container");
      var tex = c && map.has(c) ? map.get(c) : d.textContent.trim();
      report.displays.push({id: d.id || "", tex: tex,
                            width: Math.round(c ? c.scrollWidth : r.width),
                            box: Math.round(r.width), typeset: !!c});
    });
    var pre = document.createElement("pre");
    pre.id = "%REPORT%";
    pre.style.display = "none";
    pre.textContent = JSON.stringify(report);
    document.body.appendChild(pre);
  }
  window.addEventListener("load", function () {
    var ready = (window.MathJax && MathJax.startup && MathJax.startup.promise)
                ? MathJax.startup.promise : Promise.resolve();
    ready.then(function () { setTimeout(run, 300); }, function () { setTimeout(run, 300); });
  });
})();
</script>
""".replace("%REPORT%", REPORT_ID)


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium (or Chrome) executable, or None."""
    if explicit:
        return explicit if Path(explicit).exists() or shutil.which(explicit) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def local_mathjax() -> Path | None:
    """The ``tex-mml-chtml.js`` (or ``tex-chtml.js``) of a local MathJax 3, or None.

    MathJax 3 is found as the static files of the package ``mathjax`` (``django-static-mathjax``
    on PyPI).
    """
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        for name in ("tex-mml-chtml.js", "tex-chtml.js"):  # the first is what the book loads
            path = Path(base) / "static" / "mathjax" / "es5" / name
            if path.is_file():
                return path
    return None


# ------------------------------------------------------------------ TeX width estimate
_WIDE = {
    "sum": 1.45,
    "prod": 1.45,
    "int": 0.9,
    "partial": 0.6,
    "infty": 1.0,
    "cdot": 0.5,
    "le": 1.05,
    "ge": 1.05,
    "leq": 1.05,
    "geq": 1.05,
    "ne": 1.05,
    "neq": 1.05,
    "in": 0.95,
    "quad": 1.0,
    "qquad": 2.0,
    "perp": 1.05,
    "to": 1.25,
    "mapsto": 1.25,
    "times": 1.05,
    "approx": 1.05,
    "equiv": 1.05,
    "dots": 1.2,
    "ldots": 1.2,
    "cdots": 1.2,
    "max": 1.6,
    "min": 1.4,
    "log": 1.3,
    "exp": 1.5,
    "sqrt": 0.9,
    "mid": 0.6,
    "cup": 0.9,
    "cap": 0.9,
}
_ZERO = {
    "left",
    "right",
    "big",
    "Big",
    "bigg",
    "Bigg",
    "mathcal",
    "mathbf",
    "boldsymbol",
    "mathrm",
    "text",
    "textstyle",
    "displaystyle",
    "operatorname",
    "mathbb",
    "underbrace",
    "overbrace",
    "label",
    "nonumber",
    "notag",
    "hat",
    "bar",
    "tilde",
    "limits",
    "begin",
    "end",
}


def _group(s: str, i: int) -> tuple[str, int]:
    """The braced group (or single token) starting at ``s[i]``, and the index after it."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        return "", i
    if s[i] != "{":
        if s[i] == "\\":
            m = re.match(r"\\[A-Za-z]+", s[i:])
            if m:
                return m.group(0), i + len(m.group(0))
        return s[i], i + 1
    depth, j = 0, i
    while j < len(s):
        if s[j] == "{":
            depth += 1
        elif s[j] == "}":
            depth -= 1
            if depth == 0:
                return s[i + 1 : j], j + 1
        j += 1
    return s[i + 1 :], len(s)


def _width(s: str) -> float:
    width, i = 0.0, 0
    while i < len(s):
        ch = s[i]
        if ch == "\\":
            m = re.match(r"\\([A-Za-z]+|.)", s[i:])
            name = m.group(1)
            i += len(m.group(0))
            if name in ("frac", "dfrac", "tfrac"):
                num, i = _group(s, i)
                den, i = _group(s, i)
                width += max(_width(num), _width(den)) + 0.3
            elif name in ("begin", "end", "label", "text", "mathrm", "operatorname"):
                arg, i = _group(s, i)
                if name in ("text", "mathrm", "operatorname"):
                    width += 0.5 * len(arg)
            elif name in ("underbrace", "overbrace"):
                arg, i = _group(s, i)
                width += _width(arg)
            elif name in _ZERO:
                continue
            elif name in (",", ";", ":", "!", " "):
                width += 0.2
            else:
                width += _WIDE.get(name, 0.65)
        elif ch in "_^":
            arg, i = _group(s, i + 1)
            width += 0.7 * _width(arg)
        elif ch in "{}&":
            i += 1
        elif ch in "=<>+-":
            width += 1.05
            i += 1
        elif ch in " \n\t":
            i += 1
        else:
            width += 0.55 if ch.isalnum() else 0.4
            i += 1
    return width


def tex_width_em(tex: str) -> float:
    r"""A coarse estimate of the typeset width of a display equation, in em.

    The widest line (lines split at ``\\``) counts; see the module docstring for the rule. It
    over- or underestimates by perhaps 20 %: a check of the order of magnitude, not a measure.
    """
    body = tex.strip()
    body = re.sub(r"^\\\[|\\\]$", "", body)
    return max((_width(line) for line in re.split(r"\\\\", body)), default=0.0)


# ------------------------------------------------------------------ images
def png_dpi(path: Path) -> float | None:
    """The resolution stored in a PNG's pHYs chunk (dots per inch), or None."""
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


# ------------------------------------------------------------------ running the browser
def default_pages(html_root: Path) -> list[Path]:
    """The chapter pages and the book's own pages of a built book."""
    pages = sorted((html_root / "_build" / "executed").glob("*.html"))
    pages += sorted((html_root / "book").glob("*.html"))
    return pages


def prepare_copy(html_root: Path, dest: Path, mathjax: Path | None) -> None:
    """Copy the built book to ``dest``; point MathJax at the local copy; add the probe."""
    shutil.copytree(html_root, dest, dirs_exist_ok=True)
    for page in dest.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if mathjax is not None:
            text = CDN_MATHJAX.sub(
                f'<script defer="defer" src="{mathjax.as_uri()}"></script>', text
            )
        text = text.replace("</body>", PROBE + "</body>", 1)
        page.write_text(text, encoding="utf-8")


def measure(chromium: str, page: Path, width: int, profile: Path, timeout: float = 90) -> dict:
    """Load one page in headless Chromium and return the probe's report."""
    cmd = [
        chromium,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={width},1000",
        "--virtual-time-budget=20000",
        "--dump-dom",
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    match = re.search(rf'<pre id="{REPORT_ID}"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    if not match:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise RuntimeError(f"{page.name}: no layout report from Chromium ({' / '.join(tail)})")
    return json.loads(html.unescape(match.group(1)))


def analyse(report: dict, page_copy: Path, mathjax_typeset: bool) -> dict:
    """Add the equation estimates (without MathJax) and the figures' legibility to a report."""
    column = report["column"]["width"]
    font_px = 16.0  # the theme's body font size; MathJax typesets display math at about 1.2 em
    if not mathjax_typeset:
        for d in report["displays"]:
            est = 1.2 * font_px * tex_width_em(d["tex"])
            d["estimated_width"] = round(est)
            if est > column:
                report["findings"].append(
                    {
                        "kind": "equation-estimate",
                        "tag": "div",
                        "cls": "math",
                        "id": d["id"],
                        "section": "",
                        "text": d["tex"][:90],
                        "width": round(est),
                        "overflow": round(est - column),
                        "tex": d["tex"],
                    }
                )
    for img in report["images"]:
        src = img["src"] or ""
        path = (page_copy.parent / src).resolve() if not src.startswith("data:") else None
        dpi = png_dpi(path) if path is not None and path.suffix == ".png" else None
        img["dpi"] = round(dpi) if dpi else None
        if dpi and img["natural_w"] and img["shown_w"]:
            css_px_per_pt = img["shown_w"] / img["natural_w"] * dpi / 72.0
            img["min_font_pt"] = round(12.0 / css_px_per_pt, 1)
    return report


def format_report(name: str, report: dict) -> list[str]:
    lines = [
        f"== {name}: column {report['column']['width']:.0f} px of {report['viewport']} px; "
        + (
            f"MathJax {report['mathjax']}; "
            if report["mathjax"]
            else ("equations estimated from TeX; " if report["displays"] else "no mathematics; ")
        )
        + f"{len(report['findings'])} finding(s)"
    ]
    for f in report["findings"]:
        where = f" [{f['section']}]" if f.get("section") else ""
        ident = f"#{f['id']}" if f.get("id") else (f".{f['cls']}" if f.get("cls") else "")
        what = f["tex"][:110] if f.get("tex") else f["text"]
        lines.append(
            f"  {f['kind']:<17} <{f['tag']}{ident[:60]}> {f['width']} px, "
            f"{f['overflow']} px too wide{where}: {what}"
        )
    for img in report["images"]:
        if img.get("min_font_pt") is not None:
            lines.append(
                f"  figure {Path(img['src']).name[:40]}: {img['natural_w']}x{img['natural_h']} px "
                f"at {img['dpi']} dpi shown {img['shown_w']} px wide: 9 pt on screen needs "
                f">= {img['min_font_pt']} pt in the figure"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=REPO_ROOT / "_build" / "html")
    parser.add_argument("--pages", nargs="+", metavar="STEM", help="only these pages")
    parser.add_argument("--width", type=int, default=1280, help="window width in px")
    parser.add_argument("--chromium", help="the browser executable (default: chromium)")
    parser.add_argument("--json", type=Path, help="also write the reports as JSON")
    parser.add_argument("--no-mathjax", action="store_true", help="do not use a local MathJax")
    args = parser.parse_args(argv)
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print(
            "check_book_browser: no Chromium found (Debian: apt-get install chromium)",
            file=sys.stderr,
        )
        return 2
    html_root = args.html.resolve()
    if not (html_root / "index.html").exists():
        print(f"check_book_browser: no built book at {html_root} (run make book)", file=sys.stderr)
        return 2
    pages = default_pages(html_root)
    if args.pages:
        wanted = {Path(p).stem for p in args.pages}
        pages = [p for p in pages if p.stem in wanted]
        missing = wanted - {p.stem for p in pages}
        if missing:
            print(
                f"check_book_browser: no such page: {', '.join(sorted(missing))}", file=sys.stderr
            )
            return 2
    mathjax = None if args.no_mathjax else local_mathjax()
    print(
        f"check_book_browser: {chromium}, width {args.width} px, "
        + (f"MathJax from {mathjax}" if mathjax else "no local MathJax: equations estimated")
    )
    reports, total = {}, 0
    with tempfile.TemporaryDirectory(prefix="prillm-book-check-") as tmp:
        copy = Path(tmp) / "html"
        prepare_copy(html_root, copy, mathjax)
        for page in pages:
            rel = page.relative_to(html_root)
            report = measure(chromium, copy / rel, args.width, Path(tmp) / "profile")
            report = analyse(report, copy / rel, mathjax_typeset=bool(report["mathjax"]))
            reports[str(rel)] = report
            total += len(report["findings"])
            print("\n".join(format_report(str(rel), report)), flush=True)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1), encoding="utf-8")
    print(f"check_book_browser: {len(pages)} page(s), {total} finding(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
