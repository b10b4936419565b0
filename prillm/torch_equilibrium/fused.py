"""The fused CPU path of :func:`~prillm.torch_equilibrium.equilibrium_flows`: one autograd node.

On float64 CPU tensors the map from the eight market inputs to the flows is one autograd node:
the game coefficients ``c_ij = w_p p_j + w_d d_ij - b_j`` and ``k_j = w_q / alpha_j`` are formed
in numpy, the exact engine solves each market, and the backward pass is one adjoint solve per
market (:class:`~prillm.torch_equilibrium.numpy_engine.MarketAdjoint`) followed by the chain
rule through ``c`` and ``k``, written out by hand. A dozen small torch operations and their
autograd bookkeeping would cost more than the equilibrium itself at 20 x 20. The node's forward
pass only wraps the flows found (no torch operation), its backward pass only wraps the numpy
gradients; the node's inputs are only the tensors that require a gradient.

One market in the plain shapes (``price (m,)``, ``capacity (m,)``, ``latency (n, m)``, ``(m,)``
or scalar, ``demand (n,)``, scalar ``w_q, w_d, w_p``, ``b (m,)`` or scalar), the case of a
calibration step, takes a short path (:class:`_OneMarket`): the inputs are read in place and
checked by a few reductions, the adjoint system is the exact solver's own factor of its final
support, and the forward pass keeps only what the wanted gradients read; the backward pass
solves the adjoint game once (the two triangular solves of that factor) and forms ``dL/dc`` on
the routes of the support only, and only for the gradients that need more than its column sums.
Anything else (a batch dimension anywhere) goes through :class:`_ManyMarkets`, with numpy's
broadcasting rules.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch

from prillm.equilibrium.kkt import solve_factored
from prillm.torch_equilibrium.numpy_engine import (
    MarketAdjoint,
    Markets,
    solve_market,
    warn_unsettled,
)

__all__ = ["NAMES", "MarketInputs", "check_arrays", "fused_flows", "is_batched"]


class MarketInputs(NamedTuple):
    """The eight inputs of :func:`~prillm.torch_equilibrium.equilibrium_flows`, in their order.

    Binds them, positionally or by name (``w_p`` defaults to 1), for every function and layer
    called with the same inputs: :func:`~prillm.torch_equilibrium.market_coefficients` and the
    :class:`~prillm.torch_equilibrium.MarketLayer` subclasses.
    """

    price: Any
    capacity: Any
    latency: Any
    demand: Any
    w_q: Any
    w_d: Any
    b: Any
    w_p: Any = 1.0


#: The names of the eight inputs, in order.
NAMES = MarketInputs._fields


def check_arrays(arrays: list[np.ndarray]) -> None:
    """The checks of :func:`equilibrium_from_coefficients`, on the eight inputs (numpy, fast)."""
    for name, x in zip(NAMES, arrays, strict=True):
        if not np.isfinite(x).all():
            raise ValueError(f"{name}: contains NaN or infinite values")
    if not ((arrays[4] > 0).all() and (arrays[1] > 0).all()):
        raise ValueError("slope: k_j = w_q/alpha_j must be > 0 (w_q > 0, Eq. 8)")
    if (arrays[3] < 0).any():
        raise ValueError("demand: must be >= 0")


def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a broadcast gradient back to the shape of the input it was broadcast from."""
    lead = x.ndim - len(shape)
    if lead > 0:
        x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and x.shape[i] != 1)
    if axes:
        x = x.sum(axis=axes, keepdims=True)
    return x.reshape(shape)


def is_batched(inputs: list[Any]) -> bool:
    """Whether any of the eight inputs (tensors or arrays) has a batch dimension."""
    price, capacity, latency, demand, w_q, w_d, b, w_p = inputs
    return any(
        x.ndim > k for x, k in ((price, 1), (capacity, 1), (latency, 2), (demand, 1), (b, 1))
    ) or any(x.ndim > 0 for x in (w_q, w_d, w_p))


def _one_market(arrays: list[np.ndarray]) -> bool:
    """Whether the eight inputs are one non-empty market in the plain shapes (no batch dimension).

    ``price (m,)``, ``capacity (m,)``, ``latency`` of at most two dimensions, ``demand (n,)``,
    ``b (m,)`` or scalar and scalar ``w_q, w_d, w_p``, with ``n, m > 0``.
    """
    price, capacity, latency, demand, w_q, w_d, b, w_p = arrays
    return (
        price.ndim == 1
        and price.size > 0
        and capacity.shape == price.shape
        and demand.ndim == 1
        and demand.size > 0
        and latency.ndim <= 2
        and b.shape in ((), price.shape)
        and w_q.ndim == 0
        and w_d.ndim == 0
        and w_p.ndim == 0
    )


class _OneMarket:
    """One market in the plain shapes: its equilibrium, and the backward pass of its node.

    For the inputs at the positions ``wanted`` (in :data:`NAMES`), the forward pass keeps what
    the backward pass reads and nothing else: the adjoint system's factor
    (:class:`~prillm.torch_equilibrium.numpy_engine.MarketAdjoint`, the exact solver's own),
    the preferences as numbers, the routes of the support (``dL/dc`` vanishes off it, so the
    chain rule for ``w_q``, ``w_d`` and the capacities runs over these routes only), and there
    the latencies (for ``w_d``) and, through ``dL/dk_j = sum_i dL/dc_ij (f_ij + F_j)`` and
    ``k_j = w_q / alpha_j``, the terms ``(f_ij + F_j) / alpha_j`` (for ``w_q`` and ``alpha``);
    copies of the prices (for ``w_p``) and capacities (for themselves). The caller may change
    the inputs and the output in place before the backward pass.
    """

    __slots__ = (
        "adjoint",
        "b_shape",
        "capacity",
        "flows",
        "lat_shape",
        "latency_s",
        "ones",
        "prefs",
        "price",
        "route",
        "support",
        "through_k",
        "wanted",
        "with_cost",
    )

    def __init__(
        self, arrays: list[np.ndarray], warm: np.ndarray | None, wanted: tuple[int, ...]
    ) -> None:
        price, capacity, latency, demand, w_q, w_d, b, w_p = arrays
        n, m = demand.shape[0], price.shape[0]
        wq, wd, wp = float(w_q), float(w_d), float(w_p)
        cost = latency * wd
        shift = (price if wp == 1.0 else wp * price) - b
        if cost.shape == (n, m):
            cost += shift
        else:  # latency (m,), (n, 1) or a scalar
            cost = np.broadcast_to(cost + shift, (n, m)).copy()
        slope = wq / capacity
        # the checks of check_arrays from a few reductions: a NaN or an infinity in any input
        # leaves one of these non-finite (the sum of squares of the costs too, unless it
        # overflows, when the slow check below decides), or k <= 0; and k > 0 finite with
        # w_q > 0 finite makes every capacity > 0
        d_min, total, k_min, k_max = demand.min(), demand.sum(), slope.min(), slope.max()
        finite = math.isfinite(total + k_max + np.vdot(cost, cost))
        if not (finite and wq > 0 and k_min > 0 and d_min >= 0):
            c_abs = np.abs(cost).max()
            if not (math.isfinite(c_abs) and math.isfinite(total + k_max)) or not (
                wq > 0 and k_min > 0 and d_min >= 0
            ):
                check_arrays(arrays)  # names the input at fault
                raise ValueError(
                    "cost, slope: the coefficients of Eq. (4-5) overflow or underflow "
                    f"(max |c| = {c_abs:.3e}, k from {k_min:.3e} to {k_max:.3e})"
                )
        if warm is not None and warm.shape != (1, n, m):
            warm = None
        res, support, bound = solve_market(cost, slope, demand, None if warm is None else warm[0])
        if bound is not None:
            warn_unsettled([(0, bound)])
        self.flows = res.flows
        self.support = support
        self.wanted = wanted
        if not wanted:
            return
        if res.kkt is not None and res.scales is not None and d_min > 0:
            self.adjoint = MarketAdjoint(res.kkt, res.scales)  # the solver's last factor
        else:
            d_max = float(demand.max())
            c_scale = max(float(np.abs(cost).max()), k_max * total, 1e-300)
            self.adjoint = MarketAdjoint.build(slope, support, (d_max or 1.0, c_scale))
        self.prefs = (wq, wd, wp)
        self.ones = np.ones(n)
        self.b_shape, self.lat_shape = b.shape, latency.shape
        # dL/dc itself (not only its column sums) is read by these four
        self.with_cost = 1 in wanted or 2 in wanted or 4 in wanted or 5 in wanted
        if self.with_cost:  # the routes of the support: flat index, user, provider
            flat = np.flatnonzero(support)
            self.route = (flat, *np.divmod(flat, m))
            flat, _, j = self.route
            if 1 in wanted or 4 in wanted:  # capacity, w_q
                self.through_k = res.flows.reshape(-1)[flat] + res.loads[j]
                self.through_k /= capacity[j]
            if 5 in wanted:  # w_d reads the latencies of the routes
                lat = latency if latency.shape == (n, m) else np.broadcast_to(latency, (n, m))
                self.latency_s = lat.reshape(-1)[flat]
        if 1 in wanted:
            self.capacity = capacity.copy()
        if 7 in wanted:  # w_p reads the prices
            self.price = price.copy()

    @property
    def supports(self) -> np.ndarray:
        """The support as a batch of one, ``(1, n, m)``."""
        return self.support[None]

    def gradients(self, grad_flows: np.ndarray) -> list[torch.Tensor]:
        """The gradients of the inputs at the positions :attr:`wanted` (in :data:`NAMES`).

        One adjoint solve (the steps of :meth:`MarketAdjoint.solve`, the game solved with the
        costs ``v`` unscaled); its flows ``dL/dc`` are formed on the routes of the support only,
        and only for the gradients that read them (capacities, latencies, ``w_q``, ``w_d``); the
        solver's scale ``r`` is applied to the few numbers that need it.
        """
        adj, wanted = self.adjoint, self.wanted
        kkt, r = adj.kkt, adj.ratio
        a, capa = kkt.a, kkt.capa
        v = grad_flows.reshape(a.shape) * a
        g_dem, loads = solve_factored(kkt.chol, a, kkt.weight, kkt.users, v @ capa, self.ones @ v)
        col = loads * r  # the column sums of dL/dc
        x = None  # dL/dc / r on the routes: a_ij (K_j (lambda_i - v_ij) - F_j), as support_flows
        if self.with_cost:
            flat, i_s, j_s = self.route
            x = g_dem[i_s]
            x -= v.reshape(-1)[flat]
            x *= capa[j_s]
            x -= loads[j_s]
        wq, wd, wp = self.prefs
        out: list[torch.Tensor] = []
        for i in wanted:
            if i == 0:  # price
                g = col * wp
            elif i == 1:  # capacity: dL/dalpha_j = -(w_q / alpha_j^2) dL/dk_j
                g = np.bincount(j_s, x * self.through_k, col.size)
                g *= -r * wq / self.capacity
            elif i == 2:  # latency
                g = np.zeros(a.shape)
                g.reshape(-1)[flat] = x * (r * wd)
                g = np.asarray(_sum_to(g, self.lat_shape))
            elif i == 3:  # demand
                g = g_dem
            elif i == 4:  # w_q: dL/dw_q = sum_j dL/dk_j / alpha_j
                g = np.asarray(r * (x @ self.through_k))
            elif i == 5:  # w_d
                g = np.asarray(r * (x @ self.latency_s))
            elif i == 6:  # b
                g = -col if self.b_shape else np.asarray(-col.sum())
            else:  # w_p
                g = np.asarray(col @ self.price)
            out.append(torch.from_numpy(g))
        return out


class _ManyMarkets:
    """A batch of markets (numpy broadcasting): the equilibria, and the node's backward pass.

    With a gradient wanted, each market's adjoint system is kept from the forward pass
    (:class:`~prillm.torch_equilibrium.numpy_engine.Markets`).
    """

    __slots__ = ("arrays", "co", "solved", "wanted")

    def __init__(
        self, arrays: list[np.ndarray], warm: np.ndarray | None, wanted: tuple[int, ...]
    ) -> None:
        check_arrays(arrays)
        price, capacity, latency, demand, w_q, w_d, b, w_p = arrays
        n, m = demand.shape[-1], price.shape[-1]
        lat = np.broadcast_to(latency, (n, m)) if latency.ndim <= 1 else latency
        b_m = np.broadcast_to(b, (m,)) if b.ndim == 0 else b
        cost = w_p[..., None, None] * price[..., None, :] + w_d[..., None, None] * lat
        cost = cost - b_m[..., None, :]
        slope = w_q[..., None] / capacity
        batch = np.broadcast_shapes(cost.shape[:-2], slope.shape[:-1], demand.shape[:-1])
        size = int(np.prod(batch)) if batch else 1
        self.co = {"batch": batch, "lat": lat, "b_m": b_m}
        cost = np.broadcast_to(cost, (*batch, n, m)).reshape(size, n, m)
        if warm is not None and warm.shape != cost.shape:
            warm = None
        self.solved = Markets(
            cost,
            np.broadcast_to(slope, (*batch, m)).reshape(size, m),
            np.broadcast_to(demand, (*batch, n)).reshape(size, n),
            warm,
            adjoint=bool(wanted),
        )
        # copies: the caller may change the inputs in place before the backward pass
        self.arrays = [x.copy() for x in arrays] if wanted else arrays
        self.wanted = wanted

    @property
    def flows(self) -> np.ndarray:
        """The flows ``(B, n, m)``."""
        return self.solved.flows

    @property
    def supports(self) -> np.ndarray:
        """The supports ``(B, n, m)``."""
        return self.solved.supports

    def gradients(self, grad_flows: np.ndarray) -> list[torch.Tensor]:
        """The gradients of the inputs at the positions :attr:`wanted` (in :data:`NAMES`)."""
        co, flows = self.co, self.flows
        price, capacity, latency, demand, w_q, w_d, b, w_p = self.arrays
        g_cost, g_slope, g_dem = self.solved.gradients(grad_flows.reshape(flows.shape))
        batch, (n, m) = co["batch"], flows.shape[1:]
        gc = g_cost.reshape(*batch, n, m)
        gk = g_slope.reshape(*batch, m)
        wp_e, wd_e, wq_e = w_p[..., None, None], w_d[..., None, None], w_q[..., None]
        p_e, b_e = price[..., None, :], co["b_m"][..., None, :]
        grads = {
            0: lambda: _sum_to(wp_e * gc, p_e.shape)[..., 0, :],
            1: lambda: _sum_to(-gk * wq_e / capacity**2, capacity.shape),
            2: lambda: _sum_to(wd_e * gc, latency.shape),
            3: lambda: _sum_to(g_dem.reshape(*batch, n), demand.shape),
            4: lambda: _sum_to(gk / capacity, wq_e.shape)[..., 0],
            5: lambda: _sum_to(gc * co["lat"], wd_e.shape)[..., 0, 0],
            6: lambda: _sum_to(_sum_to(-gc, b_e.shape)[..., 0, :], b.shape),
            7: lambda: _sum_to(gc * p_e, wp_e.shape)[..., 0, 0],
        }
        return [torch.from_numpy(np.ascontiguousarray(grads[i]())) for i in self.wanted]


Problem = _OneMarket | _ManyMarkets


class _MarketEquilibrium(torch.autograd.Function):
    """The node: flows from the inputs that require a gradient (the rest is in the problem).

    The forward pass only wraps the flows the problem found; the backward pass is the
    problem's :meth:`gradients` (one adjoint solve per market, the chain rule by hand).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any, problem: Problem, out: np.ndarray, *inputs: torch.Tensor
    ) -> torch.Tensor:
        ctx.problem = problem
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx: Any, grad_flows: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        return (None, None, *ctx.problem.gradients(grad_flows.numpy(force=True)))


def fused_flows(
    args: tuple[Any, ...], warm: np.ndarray | None, keep_batch: bool
) -> tuple[torch.Tensor, np.ndarray]:
    """Flows and supports ``(B, n, m)`` of the eight inputs ``args``.

    ``args`` are the eight inputs (tensors, all float64 on the CPU, or array-likes). The flows
    are ``(n, m)`` for one market in the plain shapes unless ``keep_batch``, else ``(B, n, m)``.
    The inputs are read in place (no copies): each problem keeps copies of what its backward
    pass reads.
    """
    tensor = torch.Tensor
    arrays = [
        x.numpy(force=True) if isinstance(x, tensor) else np.asarray(x, dtype=float) for x in args
    ]
    wanted: tuple[int, ...] = ()
    if torch.is_grad_enabled():
        wanted = tuple([i for i, x in enumerate(args) if isinstance(x, tensor) and x.requires_grad])
    price, demand = arrays[0], arrays[3]
    if demand.ndim == 0 or price.ndim == 0:
        raise ValueError("demand, price: expected (..., n) and (..., m) tensors")
    one = _one_market(arrays)
    batched = not one and is_batched(arrays)
    problem: Problem = (_OneMarket if one else _ManyMarkets)(arrays, warm, wanted)
    flows = problem.flows  # (n, m) for one market, else (B, n, m)
    if one and keep_batch:
        flows = flows[None]
    elif not (one or batched or keep_batch):
        flows = flows[0]
    if not wanted:
        return torch.from_numpy(flows), problem.supports
    if not one:  # the node keeps its own flows: the caller may change the output in place
        flows = flows.copy()
    tensors = [args[i] for i in wanted]
    return _MarketEquilibrium.apply(problem, flows, *tensors), problem.supports
