"""Batched equilibria per second, forward + backward: one torch call against a loop of markets.

Run::

    python benchmarks/bench_batched.py [--batches 4096 256] [--shapes 20x3 20x5 50x3]
                                       [--repeats 7] [--loop 256] [--seed 0] [--device cpu]

For each shape ``n x m`` and batch size ``B`` it draws ``B`` random markets in realistic units
(demands 1e8-1e9 tokens, prices 0.05-15 USD per 1M tokens, values 0-10, latencies 0.1-3 s,
``w_q`` 0.5-5, ``w_d`` 0-2, capacities 0.5-3x a fair share: congestion binds and some routes are
unused) and times one forward + backward pass of ``sum(W * f)`` (random ``W``) through

* ``batched``: :func:`prillm.torch_equilibrium.batched_equilibrium` on the whole batch (float64,
  one torch thread on the CPU; median of ``--repeats`` calls, wall and process CPU time);
* ``loop``: :func:`prillm.torch_equilibrium.equilibrium_from_coefficients` called on one market
  at a time (the single-market function: numpy engine forward, one adjoint solve backward), on
  the first ``--loop`` markets, timed once per market and extrapolated per market.

Accuracy, on the same batch: the largest flow error against the single-market numpy engine
(``solve_active_set``, every market of the batch), relative to the market's largest demand, and
the largest gradient error (in ``c``, ``k`` and ``D``) against the single-market function on the
first ``--loop`` markets, relative to the largest entry of that gradient. The goal checked at
the end: >= 50,000 equilibria per second forward + backward for 4,096 markets of 20 x 3, exact
to 1e-9. All numbers come from this one run, under the same load (a shared machine is noisy:
read the ratios).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from prillm.equilibrium import solve_active_set
from prillm.torch_equilibrium import (
    batched_equilibrium,
    equilibrium_from_coefficients,
    torch_threads,
)

GOAL_RATE = 50_000.0
GOAL_ERROR = 1e-9


def random_batch(
    rng: np.random.Generator, batch: int, n: int, m: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients ``c (B, n, m)``, ``k (B, m)``, ``D (B, n)`` of random congested markets."""
    price = rng.uniform(0.05, 15.0, (batch, m))
    value = rng.uniform(0.0, 10.0, (batch, m))
    latency = rng.uniform(0.1, 3.0, (batch, n, m))
    w_d = rng.uniform(0.0, 2.0, (batch, 1, 1))
    w_q = rng.uniform(0.5, 5.0, (batch, 1))
    demand = rng.uniform(0.1, 1.0, (batch, n)) * 1e9
    capacity = rng.uniform(0.5, 3.0, (batch, m)) * demand.sum(axis=1, keepdims=True) / m
    cost = price[:, None, :] + w_d * latency - value[:, None, :]
    return cost, w_q / capacity, demand


def time_batched(
    data: tuple[torch.Tensor, ...], weights: torch.Tensor, repeats: int
) -> tuple[float, float, torch.Tensor, tuple[torch.Tensor, ...], object]:
    """Median wall and CPU seconds of forward + backward; flows, gradients and info of one call."""
    walls, cpus = [], []
    out = None
    for _ in range(repeats + 1):
        inputs = [x.detach().clone().requires_grad_(True) for x in data]
        t0, c0 = time.perf_counter(), time.process_time()
        flows, info = batched_equilibrium(*inputs, return_info=True)
        (flows * weights).sum().backward()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        out = (flows.detach(), tuple(x.grad for x in inputs), info)
    # the first call is a warm-up
    return float(np.median(walls[1:])), float(np.median(cpus[1:])), *out  # type: ignore[misc]


def time_loop(
    data: tuple[torch.Tensor, ...], weights: torch.Tensor, count: int
) -> tuple[float, list[tuple[torch.Tensor, ...]]]:
    """Seconds per market of the single-market function, and its gradients."""
    grads = []
    total = 0.0
    for t in range(count):
        inputs = [x[t : t + 1].detach().clone().requires_grad_(True) for x in data]
        t0 = time.perf_counter()
        flows = equilibrium_from_coefficients(*inputs)
        assert isinstance(flows, torch.Tensor)
        (flows * weights[t : t + 1]).sum().backward()
        total += time.perf_counter() - t0
        grads.append(tuple(x.grad for x in inputs))
    return total / count, grads


def flow_error(cost: np.ndarray, slope: np.ndarray, demand: np.ndarray, flows: np.ndarray) -> float:
    """Largest flow error against the numpy engine, relative to each market's largest demand."""
    worst = 0.0
    for t in range(cost.shape[0]):
        ref = solve_active_set(cost[t], slope[t], demand[t]).flows
        worst = max(worst, float(np.abs(flows[t] - ref).max() / demand[t].max()))
    return worst


def gradient_error(
    batched: tuple[torch.Tensor, ...], loop: list[tuple[torch.Tensor, ...]]
) -> float:
    """Largest gradient error against the loop, per input relative to its largest entry.

    The scale is taken over all compared markets: a market whose users each have one route has
    a zero gradient in ``c``, and both sides return round-off there.
    """
    worst = 0.0
    for k, g_b in enumerate(batched):
        ref = torch.cat([g[k] for g in loop])
        scale = float(ref.abs().max())
        if scale > 0:
            worst = max(worst, float((g_b[: len(loop)] - ref).abs().max()) / scale)
    return worst


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[4096, 256])
    parser.add_argument("--shapes", nargs="+", default=["20x3", "20x5", "50x3"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--loop", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    device = torch.device(args.device)
    header = (
        f"{'markets':>13} {'eq/s wall':>10} {'eq/s cpu':>10} {'loop eq/s':>10} {'speed-up':>9} "
        f"{'iters':>10} {'fallback':>8} {'unused':>6} {'flow err':>9} {'grad err':>9}"
    )
    print(f"device: {device}, torch threads: 1, float64")
    print(header)
    print("-" * len(header))
    verdict = []
    with torch_threads(1):
        for shape in args.shapes:
            n, m = (int(v) for v in shape.split("x"))
            for batch in args.batches:
                arrays = random_batch(rng, batch, n, m)
                data = tuple(torch.tensor(x, dtype=torch.float64, device=device) for x in arrays)
                weights = torch.tensor(rng.normal(size=(batch, n, m)), device=device)
                wall, cpu, flows, grads, info = time_batched(data, weights, args.repeats)
                count = min(args.loop, batch)
                loop_time, loop_grads = time_loop(data, weights, count)
                f_err = flow_error(*arrays, flows.cpu().numpy())
                g_err = gradient_error(tuple(g.cpu() for g in grads), loop_grads)
                iters = info.iterations.cpu().numpy()
                unused = 1.0 - float(info.support.double().mean())
                rate = batch / wall
                print(
                    f"{batch:>5} x {shape:<5} {rate:10.0f} {batch / cpu:10.0f} "
                    f"{1.0 / loop_time:10.0f} {rate * loop_time:9.1f} "
                    f"{iters.mean():5.1f}/{iters.max():<4d} {int(info.fallback.sum()):8d} "
                    f"{unused:6.0%} {f_err:9.1e} {g_err:9.1e}"
                )
                if (n, m, batch) == (20, 3, 4096):
                    verdict.append((rate, f_err))
    for rate, err in verdict:
        ok = rate >= GOAL_RATE and err <= GOAL_ERROR
        print(
            f"goal (>= {GOAL_RATE:,.0f} eq/s at 4096 x 20x3, flows exact to {GOAL_ERROR:g}): "
            f"{rate:,.0f} eq/s, error {err:.1e} -> {'met' if ok else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
