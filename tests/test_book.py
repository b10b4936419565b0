"""The book: notebook sources, table of contents, and a quick-mode build that must pass.

The build runs ``scripts/build_book.py`` on a copy of the book in a temporary folder (so the
developer's ``_build`` is left alone): every chapter in ``_toc.yml`` is executed in quick mode
and ``jupyter-book build -W -n`` must succeed, so a broken notebook, a Sphinx warning or a broken
reference fails the test suite. The built HTML of the pages in ``CHECKED_PAGES`` must then pass
``scripts/check_book_html.py`` (captioned figures with alt text, rendered tables, no plumbing on
show, short code cells), and, where Chromium is installed, no page may have anything wider than
its column in the browser check (``scripts/check_book_browser.py``). Both checkers are also
tested on planted pages.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build_book.py"
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))

sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402
import check_book_browser  # noqa: E402
import check_book_html  # noqa: E402

#: Pages that meet the book's presentation rules and are checked on every build (paths in the
#: built HTML, without ``.html``). A chapter joins this list when it has been brought up to the
#: rules; the others are reported by ``make book-check`` meanwhile.
CHECKED_PAGES = (
    "_build/executed/01_market",
    "_build/executed/02_user_game",
    "_build/executed/03_stackelberg_pricing",
    "_build/executed/04_pricing_methods",
    "_build/executed/05_calibration",
    "_build/executed/06_real_data",
    "_build/executed/07_abstraction",
    "_build/executed/08_evaluation",
    "_build/executed/09_price_competition",
    "_build/executed/10_scorecard",
    "_build/executed/status",
    "book/intro",
    "book/notation",
    "book/bibliography",
)
CHECKED_SOURCES = [ROOT / "notebooks" / f"{Path(p).name}.py" for p in CHECKED_PAGES]
CHECKED_SOURCES = [p for p in CHECKED_SOURCES if p.exists()]


def _copy_book(dest: Path) -> Path:
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "book", dest / "book")
    shutil.copytree(ROOT / "_static", dest / "_static")
    shutil.copytree(
        ROOT / "notebooks", dest / "notebooks", ignore=shutil.ignore_patterns("*.ipynb")
    )
    return dest


def _run_build(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _outputs(notebook: Path) -> list[list[str]]:
    """Text and image outputs of each code cell (glued ones too), except cells tagged ``timing``.

    Stream output is joined per cell: how the kernel splits it into messages depends on timing.
    """
    nb = json.loads(notebook.read_text())
    result = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "timing" in cell["metadata"].get("tags", []):
            continue
        stream = ""
        items = []
        for out in cell.get("outputs", []):
            if "text" in out:
                stream += "".join(out["text"])
            for mime, data in sorted(out.get("data", {}).items()):
                mime = mime.removeprefix("application/papermill.record/")  # glued outputs
                if mime in ("text/plain", "image/png", "text/markdown"):
                    items.append(mime + ":" + ("".join(data) if isinstance(data, list) else data))
        result.append([stream, *items])
    return result


# ------------------------------------------------------------------ static checks
def test_toc_and_config_exist_and_resolve():
    assert (ROOT / "_config.yml").is_file()
    assert (ROOT / "_toc.yml").is_file()
    chapters = build_book.chapters_from_toc(ROOT)
    assert chapters[:3] == ["01_market", "02_user_game", "03_stackelberg_pricing"]
    for name in chapters:
        assert (ROOT / "notebooks" / f"{name}.py").is_file(), name
    toc = (ROOT / "_toc.yml").read_text()
    for page in ("book/intro", "book/notation", "book/bibliography", "_build/executed/status"):
        assert page in toc
    for page in ("intro", "notation", "bibliography"):
        assert (ROOT / "book" / f"{page}.md").is_file()
    assert (ROOT / "book" / "references.bib").is_file()


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_source_has_kernelspec_and_parameters_cell(source):
    nb = jupytext.read(source)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{source.name}: no code cell"
    first = code[0]
    assert "parameters" in first.metadata.get("tags", []), f"{source.name}: first code cell"
    assert "quick = True" in first.source


@pytest.mark.parametrize("source", CHECKED_SOURCES, ids=[p.stem for p in CHECKED_SOURCES])
def test_checked_chapter_hides_its_plumbing(source):
    """Parameters and glue cells are removed from the book; shown cells are short and narrow."""
    nb = jupytext.read(source)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "remove-cell" in code[0].metadata.get("tags", []), "the parameters cell is shown"
    for cell in code:
        tags = cell.metadata.get("tags", [])
        if "remove-cell" in tags or "remove-input" in tags:
            continue
        first = cell.source.strip().splitlines()[0]
        assert "glue(" not in cell.source and "glue_" not in cell.source, first
        lines = [ln for ln in cell.source.splitlines() if ln.strip()]
        assert len(lines) <= check_book_html.MAX_CELL_LINES, (len(lines), first)
        wide = [ln for ln in cell.source.splitlines() if len(ln) > check_book_html.MAX_LINE_CHARS]
        assert not wide, wide


def test_no_notebook_is_tracked_by_git():
    tracked = subprocess.run(
        ["git", "ls-files", "*.ipynb", "_build"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked == []


def test_unknown_chapter_is_a_clear_error(tmp_path):
    root = _copy_book(tmp_path)
    proc = _run_build(root, "--only", "99_nothing", "--no-html", timeout=60)
    assert proc.returncode == 2
    assert "'99_nothing' is not a chapter in _toc.yml" in proc.stderr


def test_failing_notebook_fails_and_keeps_its_output(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: _build/executed/00_broken\n"
    )
    source = (ROOT / "notebooks" / "02_user_game.py").read_text().split("# %% [markdown]")[0]
    source += '# %% tags=["parameters"]\nquick = True\n\n# %%\nraise ValueError("planted")\n'
    (tmp_path / "notebooks" / "00_broken.py").write_text(source)
    proc = _run_build(tmp_path, "--no-html", timeout=120)
    assert proc.returncode == 1
    kept = tmp_path / "_build" / "executed" / "00_broken.ipynb"
    assert f"the notebook with the error is kept at {kept}" in proc.stdout
    assert "planted" in kept.read_text()
    status = (tmp_path / "_build" / "executed" / "status.md").read_text()
    assert "**failed**: ValueError: planted" in status


# ------------------------------------------------------------------ the quick build
@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    root = _copy_book(tmp_path_factory.mktemp("book"))
    proc = _run_build(root)
    return root, proc


@pytest.mark.slow
def test_quick_build_passes_with_no_warning(built_book):
    root, proc = built_book
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = root / "_build" / "html"
    assert f"the book is at {html / 'index.html'}" in proc.stdout
    for name in build_book.chapters_from_toc(root):
        page = html / "_build" / "executed" / f"{name}.html"
        assert page.is_file(), name
        assert "Traceback" not in page.read_text(), name
    for page in ("intro", "notation", "bibliography"):
        assert (html / "book" / f"{page}.html").is_file()


@pytest.mark.slow
def test_status_page_lists_every_chapter_and_versions(built_book):
    root, _ = built_book
    status = (root / "_build" / "executed" / "status.md").read_text()
    for name in build_book.chapters_from_toc(root):
        assert f"| `{name}` | quick | ok |" in status
    for pkg in ("prillm", "numpy", "scipy", "cvxpy", "torch", "pyomo", "Python", "CPU cores"):
        assert pkg in status
    rendered = (root / "_build" / "html" / "_build" / "executed" / "status.html").read_text()
    assert "Execution status" in rendered


@pytest.mark.slow
def test_rebuild_gives_identical_outputs(built_book, tmp_path):
    root, _ = built_book
    again = _copy_book(tmp_path)
    name = "03_stackelberg_pricing"
    proc = _run_build(again, "--only", name, "--no-html", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = _outputs(root / "_build" / "executed" / f"{name}.ipynb")
    second = _outputs(again / "_build" / "executed" / f"{name}.ipynb")
    assert any(any(item.startswith("image/png:") for item in cell) for cell in first)
    assert first == second


@pytest.mark.slow
def test_checked_pages_meet_the_presentation_rules(built_book):
    root, proc = built_book
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    html = root / "_build" / "html"
    problems = []
    for page in CHECKED_PAGES:
        path = html / f"{page}.html"
        assert path.is_file(), page
        problems += check_book_html.check_page(path, html)
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.slow
@pytest.mark.skipif(
    check_book_browser.find_chromium() is None,
    reason="no Chromium here (Debian: apt-get install chromium)",
)
def test_every_page_fits_the_column_in_chromium(built_book, tmp_path):
    """Nothing on any page is wider than the article column at 1280 px.

    Equations are typeset by a local MathJax 3 where one is installed (``make book-check``
    installs it), else their width is estimated from the TeX source.
    """
    root, proc = built_book
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = tmp_path / "layout.json"
    rc = check_book_browser.main(["--html", str(root / "_build" / "html"), "--json", str(report)])
    reports = json.loads(report.read_text())
    pages = {Path(p).stem for p in reports}
    assert {Path(p).name for p in CHECKED_PAGES} <= pages
    found = [
        f"{page}: {f['kind']} <{f['tag']}> {f['overflow']} px too wide: {f['tex'] or f['text']}"
        for page, rep in reports.items()
        for f in rep["findings"]
    ]
    assert rc == 0 and not found, "\n".join(found)


@pytest.mark.slow
def test_status_page_says_which_mode_built_the_book(built_book):
    root, _ = built_book
    status = (root / "_build" / "executed" / "status.md").read_text()
    assert "**This book was built in quick mode**" in status


@pytest.mark.slow
def test_injected_parameters_are_removed_from_the_book(built_book):
    root, _ = built_book
    for name in build_book.chapters_from_toc(root):
        nb = json.loads((root / "_build" / "executed" / f"{name}.ipynb").read_text())
        injected = [
            c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])
        ]
        assert injected, name
        assert all("remove-cell" in c["metadata"]["tags"] for c in injected), name


def test_book_mode_names_a_mixed_build():
    records = {"a": {"mode": "quick"}, "b": {"mode": "full"}}
    assert build_book.book_mode(records, ["a"]) == "quick"
    assert build_book.book_mode(records, ["a", "b", "c"]) == (
        "mixed (full: b; quick: a; not executed: c)"
    )


# ------------------------------------------------------------------ the checkers themselves
_PAGE = """<html><body><article class="bd-article">{}</article></body></html>"""
_FIG = (
    '<figure id="fig-x"><img alt="{alt}" src="{src}"/><figcaption><p>'
    '<span class="caption-number">Fig. 1.1 </span><span class="caption-text">{caption}</span>'
    "</p></figcaption></figure>"
)


def _cell(code: str, output: str = "", tags: str = "") -> str:
    return (
        f'<div class="cell {tags} docutils container"><div class="cell_input docutils container">'
        f'<div class="highlight"><pre>{code}</pre></div></div>'
        + (
            f'<div class="cell_output docutils container"><pre>{output}</pre></div>'
            if output
            else ""
        )
        + "</div>"
    )


def _png(path: Path, dpi: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def _rules(tmp_path: Path, body: str, numbered: bool = True) -> list[str]:
    page = tmp_path / "page.html"
    page.write_text(_PAGE.format(body))
    return [p.rule for p in check_book_html.check_page(page, tmp_path, numbered=numbered)]


def test_html_check_accepts_a_page_that_follows_the_rules(tmp_path):
    _png(tmp_path / "ok.png", 160)
    body = _FIG.format(alt="A rising line.", src="ok.png", caption="What it shows.")
    body += _cell("x = 1\nprint(x)", output="1")
    body += (
        '<table id="tbl-x"><caption><span class="caption-number">Table 1.1 </span>'
        '<span class="caption-text">A table.</span></caption><tr><th>a</th></tr></table>'
    )
    assert _rules(tmp_path, body) == []


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ('<div class="cell_output"><img alt="a.png" src="a.png"/></div>', "figure-caption"),
        (_FIG.format(alt="", src="a.png", caption="c"), "figure-alt"),
        (_FIG.format(alt="x", src="a.png", caption="").replace("Fig. 1.1 ", ""), "figure-caption"),
        (_FIG.format(alt="x", src="low.png", caption="c"), "figure-resolution"),
        ('<table class="dataframe"><tr><th>a</th></tr></table>', "table-caption"),
        (_cell("glue('x', 1, display=False)"), "visible-glue"),
        (_cell("quick = True", tags="tag_parameters"), "visible-parameters"),
        (_cell("# Parameters\nquick = False"), "visible-parameters"),
        (_cell("\n".join(f"x{k} = {k}" for k in range(21))), "long-cell"),
        (_cell("y = '" + "x" * 80 + "'"), "wide-line"),
        (
            _cell(
                "print(t)", output="name   price   share\na      1.00    0.50\nb      2.00    0.25"
            ),
            "text-table",
        ),
        (_cell("print(t)", output="provider share\n----------\nx 1"), "text-table"),
        (_cell("print(m)", output="[[0.1 0.2]\n [0.3 0.4]]"), "text-table"),
    ],
)
def test_html_check_reports_each_broken_rule(tmp_path, body, rule):
    _png(tmp_path / "a.png", 160)
    _png(tmp_path / "low.png", 100)
    assert rule in _rules(tmp_path, body)


def test_html_check_figure_number_only_required_on_numbered_pages(tmp_path):
    _png(tmp_path / "a.png", 160)
    body = _FIG.format(alt="x", src="a.png", caption="c").replace(
        '<span class="caption-number">Fig. 1.1 </span>', ""
    )
    assert _rules(tmp_path, body, numbered=True) == ["figure-caption"]
    assert _rules(tmp_path, body, numbered=False) == []


@pytest.mark.parametrize(
    "text",
    [
        "largest change of a flow: 1.2e-16 of the largest demand",
        "format, version, units, providers\n{'id': 'a', 'price': 3.0}",
        "closed form: p* = 1.25, f_s = 4e8\ngrid:        p* = 1.25 (grid step 1e-3)",
    ],
)
def test_prose_output_is_not_a_text_table(text):
    assert not check_book_html.looks_like_text_table(text)


def test_tex_width_estimate_orders_equations():
    short = check_book_browser.tex_width_em(r"x = 1")
    long = check_book_browser.tex_width_em(
        r"\mathcal C_i = \sum_j f_{ij} \left(w_p p_j + w_q Q_j + w_d d_{ij} - b_j\right),"
        r"\qquad Q_j = \frac{F_j}{\alpha_j} = \frac{1}{\alpha_j}\sum_{i'} f_{i'j}"
    )
    split = check_book_browser.tex_width_em(r"a + b + c + d \\ e + f + g + h")
    assert 0 < short < split < long
    assert 25 < long < 60  # em; about 650 px at the book's 16 px * 1.2 for display math


_CHROMIUM = check_book_browser.find_chromium()


@pytest.mark.skipif(_CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium)")
def test_browser_check_reports_what_is_wider_than_the_column(tmp_path):
    html = tmp_path / "html"
    (html / "book").mkdir(parents=True)
    (html / "index.html").write_text("<html><body>index</body></html>")
    style = "article.bd-article { width: 600px; margin: 0; } body { margin: 0; }"
    body = (
        "<p>fits</p>"
        '<div id="wide" style="width: 900px; height: 20px; background: red;"></div>'
        '<div id="scroll" style="overflow-x: auto; width: 500px;">'
        '<pre style="white-space: pre; margin: 0;">' + "x" * 300 + "</pre></div>"
    )
    (html / "book" / "page.html").write_text(
        f"<html><head><style>{style}</style></head><body>"
        f'<article class="bd-article">{body}</article></body></html>'
    )
    report = tmp_path / "report.json"
    rc = check_book_browser.main(
        ["--html", str(html), "--json", str(report), "--no-mathjax", "--chromium", _CHROMIUM]
    )
    assert rc == 1
    findings = json.loads(report.read_text())["book/page.html"]["findings"]
    kinds = {(f["kind"], f["id"]) for f in findings}
    assert ("beyond-column", "wide") in kinds
    assert ("clipped", "scroll") in kinds
    assert len(findings) == 2, findings
