"""Install prillm with no extra into a fresh virtual environment and check the light core.

    python scripts/check_core_install.py [--keep DIR] [--runs N]

``pip install .`` (from the package registries, as ``make setup`` does) must bring exactly the
core dependencies (numpy, scipy, threadpoolctl) and nothing optional; then, in that environment:
``import prillm`` imports no optional module, the equilibrium and the exact price run,
``prillm solve`` and ``prillm price`` succeed, and ``prillm calibrate`` and the cvxpy reference
refuse in one line that names the extra to install. It prints the wall time of ``prillm solve``
and ``prillm price`` on the demo market (median of ``--runs``) against ``python -c pass`` in the
same run. Exit status 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ["torch", "cvxpy", "cvxpylayers", "pyomo", "pyscipopt", "xgboost", "matplotlib", "tqdm"]
CORE = {"numpy", "scipy", "threadpoolctl", "prillm", "pip", "setuptools"}

SMOKE = f"""
import json, sys
import prillm
heavy = sorted(m for m in sys.modules if m.partition(".")[0] in {OPTIONAL!r})
from prillm import Market, MissingDependencyError, Preferences, optimal_price, solve_equilibrium
market = Market(demand=[1e6, 2e6], price=[1.0, 2.0], capacity=[1e6, 1e6], provider_ids=["a", "b"])
prefs = Preferences(w_q=1.0, w_d=0.0)
eq = solve_equilibrium(market, prefs, check_nash=True)
price = optimal_price(market, prefs, "a").price
try:
    prillm.equilibrium_reference(market, prefs)
    reference = "no error"
except MissingDependencyError as exc:
    reference = str(exc)
print(json.dumps({{"heavy": heavy, "price": price, "reference": reference}}))
"""


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = run(cmd)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="build the environment here and keep it")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="prillm-core-"))
    env_dir = folder / "venv"
    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("ok    " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    t0 = time.perf_counter()
    venv.create(env_dir, with_pip=True, clear=True)
    py = str(env_dir / "bin" / "python")
    proc = run([py, "-m", "pip", "install", "--quiet", str(ROOT)])
    check(proc.returncode == 0, f"pip install . ({time.perf_counter() - t0:.0f} s)")
    if proc.returncode != 0:
        print(proc.stderr)
        return 1
    listed = run([py, "-m", "pip", "list", "--format=json"])
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    check(installed <= CORE, f"only the core is installed: {sorted(installed)}")
    smoke = run([py, "-c", SMOKE], cwd=folder)  # not the checkout: the installed package
    check(smoke.returncode == 0, "import prillm, equilibrium, exact price")
    if smoke.returncode == 0:
        report = json.loads(smoke.stdout.strip().splitlines()[-1])
        check(report["heavy"] == [], "import prillm imports no optional module")
        check(report["price"] > 0, "the exact price")
        check('pip install "prillm[reference]"' in report["reference"], report["reference"])
    else:
        print(smoke.stderr)

    prillm = str(env_dir / "bin" / "prillm")
    market = folder / "market.json"
    demo = run([prillm, "demo", "--write", str(market)])
    check(demo.returncode == 0, "prillm demo --write")
    solve = run([prillm, "solve", str(market), "--json"])
    check(solve.returncode == 0 and '"certified": true' in solve.stdout, "prillm solve")
    price = run([prillm, "price", str(market), "--target", "budget-llm"])
    check(price.returncode == 0 and "global optimum" in price.stdout, "prillm price")
    calib = run([prillm, "calibrate", str(market), "--out", str(folder / "p.json")])
    expected = "needs the optional dependency 'torch': pip install \"prillm[torch]\""
    check(
        calib.returncode == 2 and calib.stderr.count("\n") == 1 and expected in calib.stderr,
        f"prillm calibrate refused in one line: {calib.stderr.strip()}",
    )
    check(not (folder / "p.json").exists(), "... and wrote nothing")

    if market.exists():
        base = wall([py, "-c", "pass"], args.runs)
        t_solve = wall([prillm, "solve", str(market)], args.runs)
        t_price = wall([prillm, "price", str(market), "--target", "budget-llm"], args.runs)
        print(
            f"wall time, median of {args.runs} (shared machine): python -c pass {base:.3f} s, "
            f"prillm solve {t_solve:.3f} s ({t_solve / base:.1f}x), "
            f"prillm price {t_price:.3f} s ({t_price / base:.1f}x)"
        )
    print("core install:", "every check holds" if not failures else f"{len(failures)} failed")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
