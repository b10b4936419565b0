"""Run an experiment's tasks serially, on local processes, or on a Dask cluster: :func:`run_sweep`.

An experiment of this package is a list of *tasks* (plain dicts, each with its own ``seed``) and
one picklable, top-level function that turns a task into a result. Because every random draw of
a task comes from its own seed, the results do not depend on where or in which order the tasks
run: :func:`run_sweep` returns them in task order, equal to the serial run's, whatever executor
it was given.

A task that raises does not stop the sweep: its place in the output holds a
:class:`TaskFailure` (the task's position and seed, the error's type and message, the
traceback), and the other tasks' results are kept.

Executors
---------
``"serial"``
    In this process, one task after the other (the reference; no pickling).
``"process"``
    A :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes, started with
    ``spawn`` (safe with torch's and BLAS's threads), created and shut down by the call.
``"dask"``
    A ``dask.distributed.LocalCluster`` of ``workers`` single-threaded worker processes, created
    and closed by the call (needs the ``dask`` extra).
a :class:`concurrent.futures.Executor`
    Any executor the caller owns (thread pool, process pool, an MPI pool ...); it is left open.
a ``dask.distributed.Client``
    A client of a running cluster (local or remote); it is left open. The workers must be able
    to import the task function.

Worker processes are *spawned*: a script that runs a sweep on ``"process"`` or ``"dask"`` must
guard its top level with ``if __name__ == "__main__":`` (each worker imports the main module;
without the guard every task fails with multiprocessing's bootstrapping error, recorded as a
:class:`TaskFailure`). Notebooks and imported modules need nothing.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import multiprocessing
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from prillm._optional import require

__all__ = ["EXECUTORS", "TaskFailure", "run_sweep"]

#: The executors :func:`run_sweep` accepts by name.
EXECUTORS = ("serial", "process", "dask")


@dataclass(frozen=True)
class TaskFailure:
    """The record of a task that raised (its place in :func:`run_sweep`'s output).

    Attributes
    ----------
    index
        Position of the task in the task list.
    seed
        The task's ``seed`` (``None`` if it had none).
    error_type
        The exception's class name (``"ValueError"``).
    message
        ``str`` of the exception.
    traceback
        The formatted traceback, from where the task ran.
    """

    index: int
    seed: Any
    error_type: str
    message: str
    traceback: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The failure as a plain record (``status`` is ``"failed"``)."""
        return {"status": "failed", **asdict(self)}


def _run_one(fn: Callable[[Mapping[str, Any]], Any], task: Mapping[str, Any], index: int) -> Any:
    """``fn(task)``, or the :class:`TaskFailure` of the exception it raised (runs on a worker)."""
    try:
        return fn(task)
    except Exception as exc:
        return _failure(index, task, exc, traceback.format_exc())


def _failure(index: int, task: Mapping[str, Any], exc: BaseException, tb: str = "") -> TaskFailure:
    return TaskFailure(
        index=index,
        seed=task.get("seed") if isinstance(task, Mapping) else None,
        error_type=type(exc).__name__,
        message=str(exc),
        traceback=tb,
    )


class _Progress:
    """A progress bar: tqdm when it is installed, else a counter on stderr."""

    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled and total > 0
        self.label = label
        self.bar = None
        if self.enabled and _has_tqdm():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=label, file=sys.stderr, leave=False)

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(1)
        else:
            end = "\n" if self.done == self.total else ""
            print(f"\r{self.label}: {self.done}/{self.total}", end=end, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _has_tqdm() -> bool:
    return importlib.util.find_spec("tqdm") is not None


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__module__.partition(".")[0] == "distributed" and hasattr(obj, "gather")


def run_sweep(
    fn: Callable[[Mapping[str, Any]], Any],
    tasks: Iterable[Mapping[str, Any]],
    *,
    executor: str | cf.Executor | Any = "serial",
    workers: int = 2,
    progress: bool = True,
    label: str = "tasks",
) -> list[Any]:
    """``[fn(task) for task in tasks]`` on the chosen executor, failures isolated.

    Parameters
    ----------
    fn
        A top-level (picklable) function of one task; it must draw every random number from the
        task's ``seed`` so that the result does not depend on where it runs.
    tasks
        Task dicts, each with a ``seed``.
    executor
        ``"serial"``, ``"process"``, ``"dask"``, a :class:`concurrent.futures.Executor` or a
        ``dask.distributed.Client`` (see the module docstring).
    workers
        Processes for ``"process"`` and ``"dask"`` (>= 1; ignored otherwise).
    progress
        Show a progress bar on stderr (tqdm when installed, else a counter).
    label
        The progress bar's label.

    Returns
    -------
    list
        One entry per task, in task order: ``fn(task)``, or a :class:`TaskFailure` when the task
        raised (or its worker died).

    Raises
    ------
    ValueError
        For an unknown executor name, or ``workers < 1``.
    TypeError
        For a task that is not a mapping, or an executor of another type.
    prillm.MissingDependencyError
        For ``"dask"`` without the ``dask`` extra installed.

    Examples
    --------
    >>> out = run_sweep(dict.__len__, [{"seed": 0}, {"seed": 1, "x": 2}], progress=False)
    >>> out
    [1, 2]
    """
    task_list: list[Mapping[str, Any]] = list(tasks)
    for k, task in enumerate(task_list):
        if not isinstance(task, Mapping):
            raise TypeError(f"tasks[{k}]: expected a dict with a 'seed', got {type(task).__name__}")
    if isinstance(executor, str):
        if executor not in EXECUTORS:
            raise ValueError(
                f"executor: unknown executor {executor!r}; choose from {', '.join(EXECUTORS)}, "
                "a concurrent.futures.Executor or a dask.distributed.Client"
            )
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers: expected an integer >= 1, got {workers!r}")
    elif not (isinstance(executor, cf.Executor) or _is_dask_client(executor)):
        raise TypeError(
            "executor: expected one of "
            f"{', '.join(EXECUTORS)}, a concurrent.futures.Executor or a dask.distributed.Client, "
            f"got {type(executor).__name__}"
        )
    bar = _Progress(len(task_list), progress, label)
    try:
        if executor == "serial":
            out = []
            for k, task in enumerate(task_list):
                out.append(_run_one(fn, task, k))
                bar.step()
            return out
        if executor == "process":
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                return _run_futures(pool, fn, task_list, bar)
        if executor == "dask":
            distributed = require("distributed", "run_sweep(executor='dask')")
            with (
                distributed.LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                distributed.Client(cluster) as client,
            ):
                return _run_dask(client, fn, task_list, bar)
        if isinstance(executor, cf.Executor):
            return _run_futures(executor, fn, task_list, bar)
        return _run_dask(executor, fn, task_list, bar)
    finally:
        bar.close()


def _run_futures(
    pool: cf.Executor, fn: Callable, tasks: Sequence[Mapping[str, Any]], bar: _Progress
) -> list[Any]:
    futures = {pool.submit(_run_one, fn, task, k): k for k, task in enumerate(tasks)}
    return _collect(((futures[fut], fut) for fut in cf.as_completed(futures)), tasks, bar)


def _run_dask(
    client: Any, fn: Callable, tasks: Sequence[Mapping[str, Any]], bar: _Progress
) -> list[Any]:
    distributed = require("distributed", "run_sweep on a Dask client")
    futures = [client.submit(_run_one, fn, task, k, pure=False) for k, task in enumerate(tasks)]
    index = {fut.key: k for k, fut in enumerate(futures)}
    done = ((index[fut.key], fut) for fut in distributed.as_completed(futures))
    return _collect(done, tasks, bar)


def _collect(
    done: Iterable[tuple[int, Any]], tasks: Sequence[Mapping[str, Any]], bar: _Progress
) -> list[Any]:
    """The results in task order, from ``(task index, future)`` pairs as the futures finish."""
    out: list[Any] = [None] * len(tasks)
    for k, fut in done:
        try:
            out[k] = fut.result()
        except Exception as exc:  # the worker died, or the task could not be pickled
            out[k] = _failure(k, tasks[k], exc)
        bar.step()
    return out
