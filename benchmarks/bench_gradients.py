"""Forward+backward time and gradient accuracy: exact adjoint (prillm) vs cvxpylayers.

Run::

    python benchmarks/bench_gradients.py [--sizes 20 50] [--repeats 15] [--seed 0]

Two kinds of random markets in realistic units (token volumes ~1e9):

* ``dense``: prices 0.1-5 USD per 1M tokens, values 0-3, capacities 1-3x a fair share (about
  85-90 % of the routes unused at 20 x 20);
* ``sparse``: prices 0.05-15 USD per 1M tokens, values 0-10, capacities 0.5-3x a fair share,
  ``w_q = 1`` (90-97 % of the routes unused), the markets real data look like.

For each it times one forward+backward pass of a scalar loss ``sum(W * f) / max D`` through

* ``prillm``: ``prillm.torch_equilibrium.equilibrium_flows`` cold (exact support by the numpy
  engine, one adjoint solve with the engine's own factor of that support, the chain rule by
  hand: one autograd node on float64 CPU tensors);
* ``prillm-warm``: ``EquilibriumLayer``, which starts the exact solver from the support of its
  previous call, as calibration does between optimiser steps (here the same market is solved
  again, the most favourable case);
* ``prillm-torch``: ``equilibrium_flows(..., linalg="torch")``: the engine's flows, the torch
  kernel's factor and adjoint on their supports (the GPU path, here on the CPU);
* ``cvxpylayers``: ``CvxpyLayerEquilibrium`` (cvxpylayers/diffcp, default solver settings, data
  rescaled to order one; its own ``warm_start`` needs the Moreau solver and is not run).

The methods are run in turn, ``--repeats`` rounds of 5 consecutive calls each (the way a
calibration loop calls one layer), after one warm-up each; each round of a method opens with one
more untimed call (right after another method's round, cvxpylayers' above all, the first calls
run slower, a cost of switching methods that a calibration loop never pays; every method gets
the same treatment). The table shows the median wall time
of each and the speed-up ``cvxpylayers median / method median`` (all numbers
from this one run, under the same load). ``solve share`` is the part of the cold time spent in
the forward support search of the numpy engine (``solve_active_set``, timed alone on the same
market). Gradients with respect to prices, ``w_q``, ``w_d`` and ``b`` are compared with central
differences of the exact solver (step ``1e-6`` relative); errors are relative to the largest
entry of the finite-difference gradient.
"""

from __future__ import annotations

import argparse
import time
import warnings
from functools import partial

import numpy as np
import torch

from prillm.equilibrium import solve_active_set
from prillm.torch_equilibrium import (
    CvxpyLayerEquilibrium,
    EquilibriumLayer,
    equilibrium_flows,
    torch_threads,
)

KEYS = ("price", "w_q", "w_d", "b")
BLOCK = 5  # consecutive calls of one method per round, as a calibration loop makes them


def random_market(rng: np.random.Generator, n: int, m: int) -> dict:
    """A random market with preferences, realistic units (the ``dense`` kind)."""
    return {
        "price": rng.uniform(0.1, 5.0, m),
        "capacity": rng.uniform(1.0, 3.0, m) * 1e9 * n / m,
        "latency": rng.uniform(0.2, 2.0, (n, m)),
        "demand": rng.uniform(0.1, 1.0, n) * 1e9,
        "w_q": 2.0,
        "w_d": 0.7,
        "b": rng.uniform(0.0, 3.0, m),
    }


def sparse_market(rng: np.random.Generator, n: int, m: int) -> dict:
    """A market where most routes are unused: wide prices and values, tight capacities."""
    demand = rng.uniform(0.1, 1.0, n) * 1e9
    return {
        "price": rng.uniform(0.05, 15.0, m),
        "capacity": rng.uniform(0.5, 3.0, m) * demand.sum() / m,
        "latency": rng.uniform(0.1, 3.0, (n, m)),
        "demand": demand,
        "w_q": 1.0,
        "w_d": float(rng.uniform(0.0, 2.0)),
        "b": rng.uniform(0.0, 10.0, m),
    }


def _coefficients(mk: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cost = mk["price"][None, :] + mk["w_d"] * mk["latency"] - mk["b"][None, :]
    return cost, mk["w_q"] / mk["capacity"], mk["demand"]


def _flows_np(mk: dict) -> np.ndarray:
    return solve_active_set(*_coefficients(mk)).flows


def central_differences(mk: dict, weights: np.ndarray, rel: float = 1e-6) -> dict:
    """Central-difference gradients of ``sum(W * f) / max D`` for each key of :data:`KEYS`."""
    scale = mk["demand"].max()
    out = {}
    for key in KEYS:
        base = np.asarray(mk[key], dtype=float)
        grad = np.zeros(base.shape)
        for idx in np.ndindex(base.shape):
            h = rel * max(abs(float(base[idx])), 1.0)
            hi, lo = base.copy(), base.copy()
            hi[idx] += h
            lo[idx] -= h
            f_hi = _flows_np({**mk, key: hi if base.ndim else float(hi)})
            f_lo = _flows_np({**mk, key: lo if base.ndim else float(lo)})
            grad[idx] = ((f_hi - f_lo) * weights).sum() / (2 * h * scale)
        out[key] = grad
    return out


def forward_backward(layer, mk: dict, weights: np.ndarray) -> tuple[tuple[float, float], dict]:
    """Time one forward+backward pass (inputs already tensors).

    Returns ``(wall seconds, process CPU seconds)`` and the gradients.
    """
    args = {k: torch.tensor(v, dtype=torch.float64) for k, v in mk.items()}
    for k in KEYS:
        args[k].requires_grad_(True)
    w = torch.from_numpy(weights)
    t0, c0 = time.perf_counter(), time.process_time()
    flows = layer(**args).reshape(weights.shape)
    loss = (flows * w).sum() / float(mk["demand"].max())
    loss.backward()
    elapsed = (time.perf_counter() - t0, time.process_time() - c0)
    return elapsed, {k: args[k].grad.numpy().copy() for k in KEYS}


def solve_time(mk: dict, repeats: int) -> float:
    """Median time of the numpy engine's forward solve alone."""
    cost, slope, demand = _coefficients(mk)
    solve_active_set(cost, slope, demand)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        solve_active_set(cost, slope, demand)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_market(
    mk: dict, weights: np.ndarray, repeats: int
) -> list[tuple[str, float, float, dict]]:
    """Rows ``(method, median wall s, median CPU s, errors)`` for one market, run in turn."""
    n, m = weights.shape
    fd = central_differences(mk, weights)
    layers = {
        "prillm": equilibrium_flows,
        "prillm-warm": EquilibriumLayer(),
        "prillm-torch": partial(equilibrium_flows, linalg="torch"),
        "cvxpylayers": CvxpyLayerEquilibrium(n, m),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in layers}
    grads: dict[str, dict] = {}
    for layer in layers.values():
        forward_backward(layer, mk, weights)  # warm-up (imports, canonicalisation)
    for _ in range(repeats):
        for name, layer in layers.items():
            # one untimed call opens each block: straight after another method's block (cvxpylayers
            # works for a second) the next calls run slower for a while, a cost of switching
            # methods that a calibration loop, calling one layer, never pays
            forward_backward(layer, mk, weights)
            for _ in range(BLOCK):
                t, grads[name] = forward_backward(layer, mk, weights)
                times[name].append(t)
    rows = []
    for name in layers:
        g = grads[name]
        errs = {k: float(np.abs(g[k] - fd[k]).max() / np.abs(fd[k]).max()) for k in KEYS}
        wall, cpu = np.median(np.array(times[name]), axis=0)
        rows.append((name, float(wall), float(cpu), errs))
    return rows


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--kinds", nargs="+", default=["dense", "sparse"])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    makers = {"dense": random_market, "sparse": sparse_market}
    rng = np.random.default_rng(args.seed)
    header = (
        f"{'market':>13} {'unused':>6} {'method':>12} {'wall ms':>8} {'speed-up':>8} "
        f"{'cpu ms':>7} {'speed-up':>8} {'solve share':>11} "
        + " ".join(f"{'err ' + k:>10}" for k in KEYS)
    )
    print(header)
    print("-" * len(header))
    with torch_threads(1):
        for kind in args.kinds:
            for size in args.sizes:
                mk = makers[kind](rng, size, size)
                weights = rng.normal(size=(size, size))
                unused = 1.0 - float((_flows_np(mk) > 0).mean())
                rows = bench_market(mk, weights, args.repeats)
                t_solve = solve_time(mk, 5 * args.repeats)
                base, base_cpu = rows[-1][1], rows[-1][2]
                for name, t, cpu, errs in rows:
                    share = f"{t_solve / t:11.0%}" if name == "prillm" else f"{'':11}"
                    print(
                        f"{kind:>6} {size:>2}x{size:<3} {unused:6.0%} {name:>12} {1e3 * t:8.2f} "
                        f"{base / t:8.1f} {1e3 * cpu:7.2f} {base_cpu / cpu:8.1f} {share} "
                        + " ".join(f"{errs[k]:10.1e}" for k in KEYS)
                    )
                print(f"{'':>20} numpy engine forward solve alone: {1e3 * t_solve:.2f} ms")


if __name__ == "__main__":
    main()
