"""Section 6 of the paper as experiments: the task sweep, Table 1, Table 3 and the K sweep."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

import numpy as np
import pytest

from prillm.experiments import TaskFailure, run_sweep


# ------------------------------------------------------------------ the sweep
def draw(task: dict[str, Any]) -> dict[str, Any]:
    """A task whose result depends on its seed only (top level: picklable)."""
    gen = np.random.default_rng(task["seed"])
    if task.get("fail"):
        raise ArithmeticError(f"planted failure of seed {task['seed']}")
    return {"seed": task["seed"], "x": gen.standard_normal(3).tolist()}


TASKS = [{"seed": s, "fail": s == 3} for s in range(6)]


def check_sweep(out: list[Any]) -> None:
    assert len(out) == len(TASKS)
    for k, (task, res) in enumerate(zip(TASKS, out, strict=True)):
        if task["fail"]:
            assert isinstance(res, TaskFailure)
            assert (res.index, res.seed, res.error_type) == (k, 3, "ArithmeticError")
            assert res.message == "planted failure of seed 3"
            assert "planted failure" in res.traceback
            assert res.to_dict()["status"] == "failed"
        else:
            expected = np.random.default_rng(task["seed"]).standard_normal(3).tolist()
            assert res == {"seed": task["seed"], "x": expected}


def test_serial_sweep_keeps_order_and_isolates_the_failure() -> None:
    out = run_sweep(draw, TASKS, progress=False)
    check_sweep(out)
    assert sum(isinstance(r, TaskFailure) for r in out) == 1


def test_process_and_thread_executors_equal_the_serial_run() -> None:
    serial = run_sweep(draw, TASKS, progress=False)
    check_sweep(serial)
    procs = run_sweep(draw, TASKS, executor="process", workers=2, progress=False)
    with cf.ThreadPoolExecutor(max_workers=3) as pool:
        threads = run_sweep(draw, TASKS, executor=pool, progress=False)
        assert not pool._shutdown  # the caller's executor is left open
    for out in (procs, threads):
        check_sweep(out)
        assert [r if isinstance(r, dict) else r.seed for r in out] == [
            r if isinstance(r, dict) else r.seed for r in serial
        ]


def test_dask_local_cluster_equals_the_serial_run() -> None:
    """Required, not skipped: dask is in the ``all`` extra the test suite installs."""
    import distributed  # a missing dask fails this test: it must not be skipped

    serial = run_sweep(draw, TASKS, progress=False)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = run_sweep(draw, TASKS, executor=client, progress=False)
        assert client.status == "running"  # left open for the caller
    check_sweep(out)
    assert [r for r in out if isinstance(r, dict)] == [r for r in serial if isinstance(r, dict)]


def test_progress_on_stderr(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import prillm.experiments.executor as ex

    run_sweep(draw, TASKS[:2], progress=True, label="demo")
    assert "demo" in capsys.readouterr().err  # tqdm's bar (the torch extra installs it)
    monkeypatch.setattr(ex, "_has_tqdm", lambda: False)
    run_sweep(draw, TASKS[:2], progress=True, label="demo")
    assert capsys.readouterr().err == "\rdemo: 1/2\rdemo: 2/2\n"
    run_sweep(draw, TASKS[:2], progress=False)
    assert capsys.readouterr().err == ""


def test_bad_executor_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"unknown executor 'threads'.*serial, process, dask"):
        run_sweep(draw, TASKS, executor="threads")
    with pytest.raises(ValueError, match="workers"):
        run_sweep(draw, TASKS, executor="process", workers=0)
    with pytest.raises(TypeError, match="executor"):
        run_sweep(draw, TASKS, executor=42)
    with pytest.raises(TypeError, match=r"tasks\[1\]"):
        run_sweep(draw, [{"seed": 0}, 5])


def test_dask_by_name_and_its_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from prillm import MissingDependencyError

    out = run_sweep(draw, TASKS, executor="dask", workers=2, progress=False)
    check_sweep(out)
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "prillm\[dask\]"'):
        run_sweep(draw, TASKS, executor="dask", progress=False)
