"""The light core: numpy, scipy and threadpoolctl suffice for the model, the equilibrium, the
exact price, ``prillm solve`` and ``prillm price``; a missing extra is one line naming it.

Two environments, each in a fresh interpreter:

- *blocked*: every optional module made unimportable by a ``sys.meta_path`` finder (and one
  extra at a time, to check each message);
- *core only*: an interpreter that sees nothing but the standard library, this checkout and the
  installed distributions of the core dependencies, as declared in the package metadata.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prillm._optional import EXTRAS

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = sorted(EXTRAS)  # torch, cvxpy, cvxpylayers, pyomo, pyscipopt, xgboost, matplotlib, ...
CORE = {"numpy", "scipy", "threadpoolctl"}
LINE = re.compile(
    r"^prillm: .+ needs the optional dependency '(?P<module>[a-z_]+)': "
    r'pip install "prillm\[(?P<extra>[a-z]+)\]"$'
)

BLOCKER = """
import importlib.abc, sys
BLOCKED = set({blocked!r})
ATTEMPTS = []
class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            ATTEMPTS.append(name)
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
        return None
sys.meta_path.insert(0, Blocker())
"""

# Checks run inside the fresh interpreter; they print one JSON object on the last line.
CHECKS = """
import contextlib, io, json, os, sys, tempfile
import prillm
report = {"heavy_after_import": sorted(m for m in sys.modules if m.partition(".")[0] in OPTIONAL)}
import prillm.baselines, prillm.calibration, prillm.cli, prillm.data, prillm.experiments
import prillm.pricing
report["heavy_after_packages"] = sorted(
    m for m in sys.modules if m.partition(".")[0] in OPTIONAL
)
from prillm import Market, MissingDependencyError, Preferences, optimal_price, solve_equilibrium
market = Market(demand=[1e6, 2e6], price=[1.0, 2.0], capacity=[1e6, 1e6], provider_ids=["a", "b"])
prefs = Preferences(w_q=1.0, w_d=0.0)
eq = solve_equilibrium(market, prefs, check_nash=True)
report["loads"] = eq.loads.tolist()
report["price"] = optimal_price(market, prefs, "a", method="exact").price
folder = tempfile.mkdtemp()
path = os.path.join(folder, "market.json")
market.to_json(path, prefs)

def cli(*argv):
    from prillm.cli import main
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, err.getvalue()

report["solve"] = cli("solve", path)
report["price_cli"] = cli("price", path, "--target", "a")
report["heavy_after_cli"] = sorted(m for m in sys.modules if m.partition(".")[0] in OPTIONAL)
report["calibrate"] = cli("calibrate", path, "--out", os.path.join(folder, "p.json"))
report["pmpec_cli"] = cli("price", path, "--target", "a", "--method", "pmpec")
report["files"] = sorted(os.listdir(folder))

def message(fn):
    try:
        fn()
    except MissingDependencyError as exc:
        return str(exc)
    except ImportError as exc:
        return "plain ImportError: " + str(exc)
    return "no error"

def torch_layer():
    import prillm.torch_equilibrium
"""

# The helpers of CHECKS without its (slower) checks, for one missing extra at a time.
MINIMAL = """
import json
import prillm
from prillm import MissingDependencyError, Preferences
report = {}

def message(fn):
    try:
        fn()
    except MissingDependencyError as exc:
        return str(exc)
    except ImportError as exc:
        return "plain ImportError: " + str(exc)
    return "no error"
"""

API_CASES = """
report["api"] = {
    "reference": message(lambda: prillm.equilibrium_reference(market, prefs)),
    "calibration": message(lambda: prillm.calibration.calibrate),
    "torch": message(torch_layer),
    "baselines": message(lambda: prillm.baselines.calibrate_npm),
    "pmpec": message(lambda: optimal_price(market, prefs, "a", method="pmpec")),
    "scip": message(lambda: optimal_price(market, prefs, "a", method="scip")),
    "run_gradient": message(lambda: prillm.calibration.run_method("gradient", None)),
    "run_npm": message(lambda: prillm.calibration.run_method("npm", None)),
    "options_fd": message(lambda: prillm.calibration.METHODS["fd"].options()),
    "import_abstraction": message(lambda: __import__("prillm.abstraction")),
    "from_abstraction": message(lambda: exec("from prillm.abstraction import abstract")),
}
"""


def run_python(code: str, *flags: str) -> dict:
    proc = subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def program(prelude: str, *parts: str, checks: str = CHECKS) -> str:
    body = "\n".join(textwrap.dedent(p) for p in (checks, *parts))
    return (
        textwrap.dedent(prelude)
        + f"\nOPTIONAL = set({OPTIONAL!r})\n"
        + body
        + "\nprint(json.dumps(report))\n"
    )


def check_light_core(report: dict) -> None:
    assert report["heavy_after_import"] == []
    assert report["heavy_after_packages"] == []  # no package namespace imports an extra
    assert report["heavy_after_cli"] == []
    assert report["loads"][0] > 0 and abs(sum(report["loads"]) - 3e6) < 1e-3
    assert report["price"] > 0
    for key in ("solve", "price_cli"):
        status, err = report[key]
        assert status == 0, err
    status, err = report["calibrate"]
    assert status == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    found = LINE.match(err.strip())
    assert found, err
    assert (found["module"], found["extra"]) == ("torch", "torch")
    assert report["files"] == ["market.json"]  # the refused calibration wrote nothing
    status, err = report["pmpec_cli"]
    found = LINE.match(err.strip())
    assert status == 2 and err.count("\n") == 1 and found, err
    assert (found["module"], found["extra"]) == ("pyomo", "mpec")


def check_api_messages(api: dict) -> None:
    expected = {
        "reference": ("cvxpy", "reference"),
        "calibration": ("torch", "torch"),
        "torch": ("torch", "torch"),
        "baselines": ("torch", "torch"),
        "pmpec": ("pyomo", "mpec"),
        "scip": ("pyscipopt", "mpec"),
        "run_gradient": ("torch", "torch"),
        "run_npm": ("torch", "torch"),
        "options_fd": ("torch", "torch"),
        "import_abstraction": ("torch", "torch"),
        "from_abstraction": ("torch", "torch"),
    }
    for case, (module, extra) in expected.items():
        found = LINE.match(api[case])
        assert found, (case, api[case])
        assert (found["module"], found["extra"]) == (module, extra), (case, api[case])


def test_everything_optional_blocked() -> None:
    report = run_python(program(BLOCKER.format(blocked=OPTIONAL), API_CASES))
    check_light_core(report)
    check_api_messages(report["api"])


@pytest.mark.parametrize(
    ("blocked", "code", "module", "extra"),
    [
        (
            ["xgboost"],
            "from prillm.data import RandomDesign, generate_planted_panel\n"
            "panel = generate_planted_panel(seed=0, n_days=4, "
            "design=RandomDesign(3, 2, Preferences(w_q=1.0)))\n"
            "result = message(lambda: prillm.baselines.fit_xgboost(panel))",
            "xgboost",
            "baselines",
        ),
        (
            ["matplotlib"],
            "from prillm.calibration.plot import fit_figure\n"
            "result = message(lambda: fit_figure({}, None))",
            "matplotlib",
            "plot",
        ),
        (
            ["pyomo"],
            "from prillm.calibration import initial_preferences\n"
            "from prillm.data import RandomDesign, generate_planted_panel\n"
            "panel = generate_planted_panel(seed=0, n_days=4, "
            "design=RandomDesign(3, 2, Preferences(w_q=1.0)))\n"
            "result = message(lambda: initial_preferences(panel, backend='pyomo'))",
            "pyomo",
            "mpec",
        ),
        (
            ["cvxpylayers"],
            "from prillm.torch_equilibrium import CvxpyLayerEquilibrium\n"
            "result = message(lambda: CvxpyLayerEquilibrium(2, 2))",
            "cvxpylayers",
            "reference",
        ),
    ],
)
def test_one_missing_extra_is_named(blocked: list[str], code: str, module: str, extra: str) -> None:
    prelude = BLOCKER.format(blocked=blocked)
    tail = f"{code}\nreport['result'] = result\n"
    report = run_python(program(prelude, tail, checks=MINIMAL))
    found = LINE.match(report["result"])
    assert found, report["result"]
    assert (found["module"], found["extra"]) == (module, extra)


@pytest.mark.parametrize(
    ("blocked", "argv", "module", "extra"),
    [
        (["matplotlib"], ["--plot", "{folder}/fit.png"], "matplotlib", "plot"),
        (["tqdm"], [], "tqdm", "torch"),
    ],
)
def test_calibrate_refuses_before_any_work(
    tmp_path: Path, blocked: list[str], argv: list[str], module: str, extra: str
) -> None:
    """The real command: exit 2, one line naming the extra, nothing written, nothing fitted."""
    panel = ROOT / "prillm" / "data" / "panel_seed0.npz"
    args = ["calibrate", str(panel), "--out", f"{tmp_path}/prefs.json"]
    args += [a.format(folder=tmp_path) for a in argv]
    code = (
        textwrap.dedent(BLOCKER.format(blocked=blocked))
        + f"import runpy\nsys.argv = ['prillm', *{args!r}]\n"
        + "runpy.run_module('prillm.cli', run_name='__main__', alter_sys=True)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr
    found = LINE.match(proc.stderr.strip())
    assert found, proc.stderr
    assert (found["module"], found["extra"]) == (module, extra)
    assert list(tmp_path.iterdir()) == []


def test_solve_and_price_commands_with_every_extra_blocked(tmp_path: Path) -> None:
    """``prillm solve`` and ``prillm price`` as processes, with no optional module importable."""
    from prillm.synthetic import demo_market

    market, prefs = demo_market()
    path = tmp_path / "market.json"
    market.to_json(path, prefs)
    for argv in (["solve", str(path), "--json"], ["price", str(path), "--target", "mid-llm"]):
        code = (
            textwrap.dedent(BLOCKER.format(blocked=OPTIONAL))
            + f"import runpy\nsys.argv = ['prillm', *{argv!r}]\n"
            + "try:\n    runpy.run_module('prillm.cli', run_name='__main__', alter_sys=True)\n"
            + "finally:\n    print('ATTEMPTS', ATTEMPTS, file=sys.stderr)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr.strip() == "ATTEMPTS []"  # not even tried
        assert "mid-llm" in proc.stdout


# ------------------------------------------------------------------ core only
def core_requirements() -> set[str]:
    """Distribution names of the installed package's unconditional requirements."""
    names = set()
    for req in importlib.metadata.requires("prillm") or []:
        if "extra ==" in req:
            continue
        names.add(re.match(r"[A-Za-z0-9_.\-]+", req).group(0).lower())  # type: ignore[union-attr]
    return names


def test_core_dependencies_are_numpy_scipy_threadpoolctl() -> None:
    assert core_requirements() == CORE


def test_core_only_environment(tmp_path: Path) -> None:
    """An interpreter that sees only the standard library, this checkout and the core
    distributions (linked from the installed ones), as a bare install would."""
    site = tmp_path / "site"
    site.mkdir()
    for name in sorted(core_requirements()):
        dist = importlib.metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in sorted(tops):
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (site / top).exists():
                os.symlink(source, site / top)
    prelude = f"import sys\nsys.path[:0] = [{str(site)!r}, {str(ROOT)!r}]\n"
    report = run_python(program(prelude, API_CASES), "-I", "-S")
    check_light_core(report)
    check_api_messages(report["api"])
