"""Build the PriLLM book: execute the notebooks, write the status page, render the HTML.

Usage::

    python scripts/build_book.py                 # quick mode (small sizes), every chapter
    python scripts/build_book.py --mode full     # the paper's scale (also: --full)
    python scripts/build_book.py --only 02_user_game 03_stackelberg_pricing

Steps (each one timed):

1. every chapter listed in ``_toc.yml`` as ``_build/executed/NAME`` is converted from its jupytext
   source ``notebooks/NAME.py`` and executed by papermill (``-p quick True`` in quick mode,
   ``False`` in full mode; working directory ``notebooks/``) into ``_build/executed/NAME.ipynb``;
   papermill's injected-parameters cell is then tagged ``remove-cell``, so readers do not see
   it; with ``--only``, the other chapters keep their previous executed notebooks;
2. the execution-status page ``_build/executed/status.md`` is written: which mode built the
   book, each notebook's run time, status and mode, package versions, Python, platform and CPU
   count;
3. ``jupyter-book build ROOT -W -n --keep-going`` renders the executed notebooks (execution is
   off in ``_config.yml``), so any Sphinx warning or broken reference fails the build.

The exit status is non-zero if a notebook fails (its partially executed notebook, with the
error, is kept and its path printed) or if the book build reports a warning or an error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
EXECUTED = Path("_build") / "executed"
RECORDS = "timings.json"
STATUS = "status.md"
PACKAGES = ("prillm", "numpy", "scipy", "cvxpy", "torch", "pyomo", "matplotlib", "jupyter-book")
_TOC_ENTRY = re.compile(r"^\s*-?\s*file:\s*_build/executed/([A-Za-z0-9_\-]+)\s*$")


class BuildError(RuntimeError):
    """A step of the build failed."""


def chapters_from_toc(root: Path) -> list[str]:
    """Names of the notebooks the toc includes (``file: _build/executed/NAME``), in order.

    The status page (``status``) is generated, not executed, and is left out.
    """
    toc = root / "_toc.yml"
    if not toc.exists():
        raise BuildError(f"_toc.yml: no such file in {root}")
    names = []
    for line in toc.read_text(encoding="utf-8").splitlines():
        match = _TOC_ENTRY.match(line.split("#", 1)[0].rstrip())
        if match and match.group(1) != Path(STATUS).stem:
            names.append(match.group(1))
    return names


def execute_notebook(root: Path, name: str, quick: bool) -> tuple[bool, float, str]:
    """Convert ``notebooks/NAME.py`` with jupytext and execute it with papermill.

    Returns
    -------
    ok, seconds, message
        Whether every cell ran, the wall time, and the error (empty when ``ok``).
    """
    import jupytext
    import papermill

    source = root / "notebooks" / f"{name}.py"
    (root / EXECUTED / f"{name}.ipynb").unlink(missing_ok=True)  # never render a stale one
    if not source.exists():
        raise BuildError(f"no notebook source {source} for the toc entry {name!r}")
    out_dir = root / EXECUTED
    out_dir.mkdir(parents=True, exist_ok=True)
    converted = out_dir / f".{name}.input.ipynb"
    target = out_dir / f"{name}.ipynb"
    jupytext.write(jupytext.read(source), converted, fmt="ipynb")
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(converted),
            str(target),
            parameters={"quick": quick},
            cwd=str(root / "notebooks"),
            kernel_name="python3",
            language="python",
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as exc:
        return False, time.perf_counter() - start, f"{exc.ename}: {exc.evalue}"
    except Exception as exc:  # a dead kernel, a timeout: still a failed chapter, not a crash
        return False, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    finally:
        converted.unlink(missing_ok=True)
        if target.exists():
            hide_injected_parameters(target)
    return True, time.perf_counter() - start, ""


def hide_injected_parameters(notebook: Path) -> int:
    """Tag papermill's ``injected-parameters`` cell(s) ``remove-cell``; return how many.

    The rendered book then shows neither the chapter's ``parameters`` cell (tagged in its
    source) nor the cell papermill adds after it to set ``quick``.
    """
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    count = 0
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
            count += 1
    if count:
        notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return count


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def book_mode(records: dict[str, dict], order: list[str]) -> str:
    """``"quick"`` or ``"full"`` when every chapter ran in that mode, else a description."""
    modes = {records[n]["mode"] for n in order if n in records}
    missing = [n for n in order if n not in records]
    if len(modes) == 1 and not missing:
        return modes.pop()
    parts = [
        f"{m}: " + ", ".join(n for n in order if records.get(n, {}).get("mode") == m)
        for m in sorted(modes)
    ]
    if missing:
        parts.append("not executed: " + ", ".join(missing))
    return "mixed (" + "; ".join(parts) + ")"


def write_status(root: Path, records: dict[str, dict], order: list[str]) -> Path:
    """Write the execution-status page (markdown) that the toc includes."""
    mode = book_mode(records, order)
    if mode == "quick":
        said = (
            "**This book was built in quick mode**: every chapter ran with `quick = True`, on "
            "the small markets and short runs meant for continuous integration. "
            "`make book-full` (or `scripts/build_book.py --mode full`) builds it at the paper's "
            "scale."
        )
    elif mode == "full":
        said = (
            "**This book was built in full mode**: every chapter ran with `quick = False`, at "
            "the paper's scale."
        )
    else:
        said = f"**This book was built in more than one mode**: {mode}."
    lines = [
        "# Execution status",
        "",
        "This page is generated by `scripts/build_book.py` each time the book is built.",
        "",
        said,
        "",
        "The run times below were measured on the machine described at the end of this page,",
        "while it may have been doing other work: unlike the numbers of the chapters, they",
        "change from one build to the next.",
        "",
        "```{table} Each chapter's mode, status, run time and time of execution.",
        ":name: tbl-status-chapters",
        "",
        "| chapter | mode | status | run time (s) | executed at (UTC) |",
        "| --- | --- | --- | ---: | --- |",
    ]
    for name in order:
        rec = records.get(name)
        if rec is None:
            lines.append(f"| `{name}` | - | not executed | - | - |")
            continue
        status = "ok" if rec["ok"] else f"**failed**: {rec['error']}"
        status = status.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{name}` | {rec['mode']} | {status} | {rec['seconds']:.1f} | {rec['when']} |"
        )
    total = sum(records[n]["seconds"] for n in order if n in records)
    lines += [
        "```",
        "",
        f"The chapters ran for {total:.0f} s in all. Quick mode uses small markets so that the "
        "whole book runs in a few minutes on a laptop and in continuous integration; full mode "
        "uses the paper's sizes.",
        "",
        "## Environment",
        "",
        "```{table} The software and the machine that executed the chapters.",
        ":name: tbl-status-environment",
        "",
        "| component | version |",
        "| --- | --- |",
        f"| Python | {platform.python_version()} ({platform.python_implementation()}) |",
    ]
    lines += [f"| {pkg} | {_version(pkg)} |" for pkg in PACKAGES]
    lines += [
        f"| platform | {platform.platform()} |",
        f"| machine | {platform.machine()}, {os.cpu_count()} CPU cores |",
        "```",
        "",
    ]
    path = root / EXECUTED / STATUS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def build_html(root: Path) -> tuple[int, str]:
    """Run ``jupyter-book build ROOT -W -n --keep-going``; return its exit status and output."""
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(root), "-W", "-n"]
    cmd.append("--keep-going")
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--mode",
        choices=("quick", "full"),
        default="quick",
        help="quick: small sizes (quick = True, the default); full: the paper's scale",
    )
    parser.add_argument("--full", action="store_true", help="the same as --mode full")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="execute only these chapters")
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="book root (default: the repository)"
    )
    parser.add_argument("--no-html", action="store_true", help="execute only, do not render")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    t_all = time.perf_counter()
    try:
        order = chapters_from_toc(root)
    except BuildError as exc:
        print(f"build_book: {exc}", file=sys.stderr)
        return 2
    selected = order
    if args.only:
        names = [Path(n).stem for n in args.only]
        unknown = [n for n in names if n not in order]
        if unknown:
            print(
                f"build_book: --only: {unknown[0]!r} is not a chapter in _toc.yml "
                f"(chapters: {', '.join(order)})",
                file=sys.stderr,
            )
            return 2
        selected = names
    records_path = root / EXECUTED / RECORDS
    records = json.loads(records_path.read_text()) if records_path.exists() else {}
    failed = []
    mode = "full" if args.full else args.mode
    for name in selected:
        print(f"[execute] {name} ({mode}) ...", flush=True)
        try:
            ok, seconds, error = execute_notebook(root, name, quick=mode == "quick")
        except BuildError as exc:
            ok, seconds, error = False, 0.0, str(exc)
        when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
        records[name] = {"ok": ok, "seconds": seconds, "error": error, "mode": mode, "when": when}
        out = root / EXECUTED / f"{name}.ipynb"
        if ok:
            print(f"[execute] {name}: ok in {seconds:.1f} s", flush=True)
        else:
            failed.append(name)
            print(f"[execute] {name}: FAILED after {seconds:.1f} s: {error}", flush=True)
            if out.exists():
                print(f"[execute] the notebook with the error is kept at {out}", flush=True)
    records_path.parent.mkdir(parents=True, exist_ok=True)
    records_path.write_text(json.dumps(records, indent=2, sort_keys=True))
    t0 = time.perf_counter()
    status = write_status(root, records, order)
    print(f"[status] wrote {status} in {time.perf_counter() - t0:.2f} s")
    rc_html = 0
    if not args.no_html:
        missing = [n for n in order if not (root / EXECUTED / f"{n}.ipynb").exists()]
        if missing:
            print(f"[html] missing executed notebooks: {', '.join(missing)}", file=sys.stderr)
        t0 = time.perf_counter()
        rc_html, log = build_html(root)
        tail = "\n".join(log.strip().splitlines()[-40:])
        problems = [ln for ln in log.splitlines() if "WARNING" in ln or "ERROR" in ln]
        print(f"[html] jupyter-book build: exit {rc_html} in {time.perf_counter() - t0:.1f} s")
        if rc_html != 0 or problems:
            print("\n".join(problems) if problems else tail, file=sys.stderr)
            rc_html = rc_html or 1
        else:
            print(f"[html] the book is at {root / '_build' / 'html' / 'index.html'}")
    print(f"[total] {time.perf_counter() - t_all:.1f} s")
    if failed:
        print(f"build_book: failed notebooks: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 1 if rc_html else 0


if __name__ == "__main__":
    sys.exit(main())
