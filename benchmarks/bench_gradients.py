"""Forward+backward time and gradient accuracy: exact adjoint (prillm) vs cvxpylayers.

Run::

    python benchmarks/bench_gradients.py [--sizes 20 50] [--repeats 5] [--seed 0]

For random markets in realistic units (token volumes ~1e9, prices 0.1-5 USD per 1M tokens) it
times one forward+backward pass of a scalar loss ``sum(W * f) / max D`` through

* ``prillm.torch_equilibrium.equilibrium_flows`` (exact support + one adjoint solve), with the
  fixed-support algebra in numpy (``prillm``, the CPU default) or in batched torch
  (``prillm-torch``, the GPU path, here on the CPU), and
* ``prillm-warm``: ``EquilibriumLayer``, which starts the exact solver from the support of its
  previous call, as calibration does between optimiser steps (here the same market is solved
  again, the most favourable case; cvxpylayers' own ``warm_start`` needs the Moreau solver and
  is not run);
* ``CvxpyLayerEquilibrium`` (cvxpylayers/diffcp, default solver settings, data rescaled to order
  one),

and compares the gradients with respect to prices, ``w_q``, ``w_d`` and ``b`` with central
differences of the exact solver (step ``1e-6`` relative). Errors are relative to the largest
entry of the finite-difference gradient. All numbers come from this one run, so the speed
ratios are measured under the same load.
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
)

KEYS = ("price", "w_q", "w_d", "b")


def random_market(rng: np.random.Generator, n: int, m: int) -> dict:
    """A random market with preferences, realistic units."""
    return {
        "price": rng.uniform(0.1, 5.0, m),
        "capacity": rng.uniform(1.0, 3.0, m) * 1e9 * n / m,
        "latency": rng.uniform(0.2, 2.0, (n, m)),
        "demand": rng.uniform(0.1, 1.0, n) * 1e9,
        "w_q": 2.0,
        "w_d": 0.7,
        "b": rng.uniform(0.0, 3.0, m),
    }


def _flows_np(mk: dict) -> np.ndarray:
    cost = mk["price"][None, :] + mk["w_d"] * mk["latency"] - mk["b"][None, :]
    return solve_active_set(cost, mk["w_q"] / mk["capacity"], mk["demand"]).flows


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


def forward_backward(layer, mk: dict, weights: np.ndarray) -> tuple[float, dict]:
    """Time one forward+backward pass; return seconds and the gradients."""
    args = {k: torch.tensor(v, dtype=torch.float64) for k, v in mk.items()}
    for k in KEYS:
        args[k].requires_grad_(True)
    w = torch.tensor(weights)
    t0 = time.perf_counter()
    flows = layer(**args).reshape(weights.shape)
    loss = (flows * w).sum() / float(mk["demand"].max())
    loss.backward()
    elapsed = time.perf_counter() - t0
    return elapsed, {k: args[k].grad.numpy().copy() for k in KEYS}


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    header = f"{'size':>7} {'method':>12} {'fwd+bwd ms':>11} {'speed-up':>9} " + " ".join(
        f"{'err ' + k:>11}" for k in KEYS
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        mk = random_market(rng, size, size)
        weights = rng.normal(size=(size, size))
        fd = central_differences(mk, weights)
        cvx = CvxpyLayerEquilibrium(size, size)
        rows = []
        layers = (
            ("prillm", equilibrium_flows),
            ("prillm-warm", EquilibriumLayer()),
            ("prillm-torch", partial(equilibrium_flows, linalg="torch")),
            ("cvxpylayers", cvx),
        )
        for name, layer in layers:
            forward_backward(layer, mk, weights)  # warm-up (imports, canonicalisation)
            times, grads = [], None
            for _ in range(args.repeats):
                t, grads = forward_backward(layer, mk, weights)
                times.append(t)
            errs = {k: float(np.abs(grads[k] - fd[k]).max() / np.abs(fd[k]).max()) for k in KEYS}
            rows.append((name, float(np.median(times)), errs))
        base = rows[-1][1]
        for name, t, errs in rows:
            print(
                f"{size}x{size:<4} {name:>12} {1e3 * t:11.2f} {base / t:9.1f} "
                + " ".join(f"{errs[k]:11.1e}" for k in KEYS)
            )


if __name__ == "__main__":
    main()
