"""The book: notebook sources, table of contents, and a quick-mode build that must pass.

The build runs ``scripts/build_book.py`` on a copy of the book in a temporary folder (so the
developer's ``_build`` is left alone): every chapter in ``_toc.yml`` is executed in quick mode
and ``jupyter-book build -W -n`` must succeed, so a broken notebook, a Sphinx warning or a broken
reference fails the test suite.
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
    """Text and image outputs of each code cell, except cells tagged ``timing``.

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
