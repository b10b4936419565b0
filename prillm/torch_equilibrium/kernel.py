"""The fixed-support KKT kernel in torch: one batched build, one factor, many right-hand sides.

This is the torch mirror of :func:`prillm.equilibrium.solve_support` (the numpy kernel), for a
*batch* of markets on any device. For a fixed support ``A`` (0/1) the KKT conditions of Eq.
(14-17) are linear: with :math:`K_j = 1/k_j`, :math:`n_j = \\sum_i A_{ij}` users on provider
:math:`j` and :math:`\\kappa_i = \\sum_j A_{ij} K_j`,

.. math::

    f_{ij} = A_{ij}\\big(K_j(\\lambda_i - c_{ij}) - F_j\\big), \\qquad
    F_j = \\frac{K_j}{1 + n_j} \\sum_{i \\in U_j} (\\lambda_i - c_{ij}),

and the demand constraints leave one symmetric positive-definite system, either in the
multipliers (users' system, n x n)

.. math::

    \\Big(\\operatorname{diag}(\\kappa) - A \\operatorname{diag}\\big(\\tfrac{K}{1+n}\\big)
    A^\\top\\Big)\\lambda = D + (A\\circ c) K - A\\big(\\tfrac{K}{1+n} \\circ (A\\circ c)^\\top
    \\mathbf 1\\big),

or in the loads (providers' system, m x m)

.. math::

    \\Big(\\operatorname{diag}\\big(\\tfrac{1+n}{K}\\big) - A^\\top \\operatorname{diag}(1/\\kappa)
    A\\Big) F = A^\\top \\frac{D + (A\\circ c)K}{\\kappa} - (A\\circ c)^\\top \\mathbf 1,
    \\qquad \\lambda = \\frac{D + (A\\circ c)K + A F}{\\kappa}.

:class:`SupportSystem` builds the smaller one for the whole batch, factorises it once (Cholesky:
unrolled over the entries for systems up to :data:`UNROLLED_MAX` x :data:`UNROLLED_MAX`, where
per-matrix LAPACK calls would cost more than the arithmetic, batched LAPACK above) and solves
it for any costs and demands on the same supports: the forward solve and the adjoint solve of
the backward pass (costs ``v``, zero demand) share one factor.

Layout: tensors are *batch-last*, ``(n, m, B)``, ``(m, B)``, ``(n, B)``. Reductions over users
or providers then add contiguous slabs of the batch, which on a CPU is several times faster
than reducing the short inner axis of a batch-first tensor.
"""

from __future__ import annotations

import torch

__all__ = [
    "UNROLLED_MAX",
    "SupportSystem",
    "adjoint",
    "batch_last",
    "check_coefficients",
    "scaled",
    "scales",
    "workspace",
]

#: Largest system factorised by the unrolled Cholesky (entry-wise over the batch).
UNROLLED_MAX = 6


def scales(
    cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-market scales of flows and costs, batch-last, each of shape ``(B,)``.

    The same rule as the numpy engine (:func:`prillm.equilibrium.solve_active_set`): flows are
    scaled by ``max_i D_i`` (1 for a market without demand), costs by the largest cost term
    ``max(max |c_ij|, max_j k_j * sum_i D_i)``. After scaling, token volumes from 1e3 to 1e13
    and prices from 1e-3 to 1e2 look alike to the solver.

    Parameters
    ----------
    cost, slope, demand
        ``(n, m, B)``, ``(m, B)``, ``(n, B)``.

    Returns
    -------
    d_scale, c_scale
        ``(B,)`` tensors, both > 0.
    """
    d_max = demand.amax(dim=0)
    d_scale = torch.where(d_max > 0, d_max, torch.ones_like(d_max))
    c_scale = torch.maximum(
        cost.abs().amax(dim=(0, 1)), slope.amax(dim=0) * demand.sum(dim=0)
    ).clamp_min(torch.finfo(cost.dtype).tiny)
    return d_scale, c_scale


def batch_last(
    cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Detached batch-last views ``(n, m, B)``, ``(m, B)``, ``(n, B)`` of batch-first inputs."""
    return cost.detach().permute(1, 2, 0), slope.detach().T, demand.detach().T


def scaled(
    cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch-last coefficients in the units of :func:`scales`.

    Returns
    -------
    cost, capa, demand, d_scale, c_scale
        ``c / c_scale``, the scaled capacities ``c_scale / (k d_scale)`` and ``D / d_scale``
        (shapes as the inputs), and the two ``(B,)`` scales.
    """
    d_scale, c_scale = scales(cost, slope, demand)
    capa = c_scale / (slope * d_scale)
    return cost / c_scale, capa, demand / d_scale, d_scale, c_scale


def workspace(n: int, m: int, batch: int, like: torch.Tensor) -> dict[str, torch.Tensor]:
    """Buffers for :class:`SupportSystem` on ``batch`` markets of ``n`` users and ``m`` providers.

    A loop that builds and solves many systems of one shape (the active-set iteration) passes
    the same workspace to each: fresh large temporaries cost more than the arithmetic on them
    (on Linux every multi-megabyte allocation is new pages to fault in). The results of a
    system built on a workspace live in it until the next one is built there.
    """
    full = {
        key: torch.empty((n, m, batch), dtype=like.dtype, device=like.device)
        for key in ("ak", "left", "tmp", "flows")
    }
    rows = {
        key: torch.empty((n, batch), dtype=like.dtype, device=like.device)
        for key in ("rowk", "inv_rowk", "rowk_tmp", "base", "lam")
    }
    cols = {"col_tmp": torch.empty((m, batch), dtype=like.dtype, device=like.device)}
    return {**full, **rows, **cols}


def adjoint(
    sysm: SupportSystem,
    grad_flows: torch.Tensor,
    flows: torch.Tensor,
    support: torch.Tensor,
    d_scale: torch.Tensor,
    c_scale: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The backward pass of Theorem 2 (Eq. 19-20): one adjoint solve with the forward factor.

    On the fixed supports, ``dL/dc`` is the flow of the same games with costs
    ``v = dL/df`` and zero demand, ``dL/dD`` their multipliers and
    ``dL/dk_j = sum_i dL/dc_ij (f_ij + F_j)`` (see :mod:`prillm.torch_equilibrium`).

    Parameters
    ----------
    sysm
        The factorised system of the (scaled) forward pass.
    grad_flows
        ``dL/df``, batch-first ``(B, n, m)``.
    flows, support
        Batch-last ``(n, m, B)`` flows (tokens) and 0/1 supports of the forward pass.
    d_scale, c_scale
        ``(B,)`` scales the forward pass used (:func:`scales`).

    Returns
    -------
    grad_cost, grad_slope, grad_demand
        Batch-first ``(B, n, m)``, ``(B, m)``, ``(B, n)`` (views of batch-last tensors).
    """
    v = grad_flows.permute(1, 2, 0) * support
    v_scale = v.abs().amax(dim=(0, 1)).clamp_min(torch.finfo(v.dtype).tiny)
    lam_v, _, x_v = sysm.solve(v / v_scale, torch.zeros_like(flows[:, 0]))
    # K = capa * d_scale / c_scale: the flow map scales with K, the multiplier map does not
    grad_cost = x_v * (v_scale * d_scale / c_scale)
    grad_demand = lam_v * v_scale
    grad_slope = (grad_cost * (flows + flows.sum(dim=0))).sum(dim=0)
    return grad_cost.permute(2, 0, 1), grad_slope.T, grad_demand.T


class _Buffers:
    """``work[key]``, or None (a fresh result) without a workspace."""

    def __init__(self, work: dict[str, torch.Tensor] | None) -> None:
        self.work = work

    def __getitem__(self, key: str) -> torch.Tensor | None:
        return None if self.work is None else self.work[key]


class SupportSystem:
    """The fixed-support KKT system of a batch of markets, built and factorised once.

    Parameters
    ----------
    support
        ``(n, m, B)`` float 0/1 supports; every row non-empty.
    capa
        ``(m, B)`` values ``K_j = 1/k_j > 0``.
    system
        ``"users"`` (n x n in the multipliers), ``"providers"`` (m x m in the loads) or
        ``"auto"`` (the smaller one, as the numpy kernel chooses).

    Attributes
    ----------
    ok
        ``(B,)`` bool: the factorisation succeeded (the matrix was numerically positive
        definite). Elements with ``ok`` False return non-finite values.

    Examples
    --------
    >>> a = torch.ones(2, 2, 1, dtype=torch.float64)
    >>> k = torch.ones(2, 1, dtype=torch.float64)
    >>> sys = SupportSystem(a, k)
    >>> c = torch.zeros(2, 2, 1, dtype=torch.float64)
    >>> lam, loads, flows = sys.solve(c, torch.ones(2, 1, dtype=torch.float64))
    >>> flows[..., 0].round(decimals=12).tolist(), loads[:, 0].round(decimals=12).tolist()
    ([[0.5, 0.5], [0.5, 0.5]], [1.0, 1.0])
    """

    def __init__(
        self,
        support: torch.Tensor,
        capa: torch.Tensor,
        system: str = "auto",
        work: dict[str, torch.Tensor] | None = None,
    ) -> None:
        n, m, _ = support.shape
        if system not in ("auto", "users", "providers"):
            raise ValueError(f"system: expected 'auto', 'users' or 'providers', got {system!r}")
        a = support
        self.a = a
        self.capa = capa
        self.users = system == "users" or (system == "auto" and n <= m)
        self.work = work
        w_ = _Buffers(work)
        ak = torch.mul(a, capa, out=w_["ak"])  # A_ij K_j
        self.rowk = torch.sum(ak, dim=1, out=w_["rowk"])  # kappa_i, (n, B)
        nj = a.sum(dim=0)  # (m, B)
        if self.users:
            # M = diag(kappa) - A diag(w) A^T, w = K / (1 + n)
            self.w = capa / (1.0 + nj)
            aw = torch.mul(a, self.w, out=w_["left"])
            left, right = aw.transpose(0, 1), a.transpose(0, 1)  # (m, n, B)
            diag = self.rowk - aw.sum(dim=1)
            size = n
        else:
            # P = diag((1 + n) / K) - A^T diag(1/kappa) A
            self.inv_rowk = torch.reciprocal(self.rowk, out=w_["inv_rowk"])
            left = torch.mul(a, self.inv_rowk[:, None], out=w_["left"])
            right = a
            diag = (1.0 + nj) / capa - left.sum(dim=0)
            size = m
        self.size = size
        if size <= UNROLLED_MAX:
            # lower-triangular entries only, each a (B,) tensor
            tmp = w_["col_tmp"] if self.users else w_["rowk_tmp"]
            entries = [
                [-torch.mul(left[:, i], right[:, j], out=tmp).sum(dim=0) for j in range(i)]
                + [diag[i]]
                for i in range(size)
            ]
            self._factor_unrolled(entries)
        else:
            mat = -(left[:, :, None] * right[:, None, :]).sum(dim=0)  # (s, s, B)
            idx = torch.arange(size, device=mat.device)
            mat[idx, idx] = diag
            chol, info = torch.linalg.cholesky_ex(mat.permute(2, 0, 1))
            self.ok = info == 0
            self._chol: torch.Tensor | None = chol

    # ------------------------------------------------------------------ factor
    def _factor_unrolled(self, mat: list[list[torch.Tensor]]) -> None:
        """Cholesky ``L L^T`` entry by entry, vectorised over the batch."""
        s = self.size
        lower: list[list[torch.Tensor]] = [[] for _ in range(s)]
        inv: list[torch.Tensor] = []
        for k in range(s):
            piv = mat[k][k]
            for p in range(k):
                piv = piv - lower[k][p] * lower[k][p]
            piv = piv.sqrt()
            inv.append(1.0 / piv)
            for i in range(k + 1, s):
                x = mat[i][k]
                for p in range(k):
                    x = x - lower[i][p] * lower[k][p]
                lower[i].append(x * inv[k])
            lower[k].append(piv)
        self._lower = lower
        self._inv = inv
        ok = torch.ones_like(inv[0], dtype=torch.bool)
        for k in range(s):
            ok &= torch.isfinite(inv[k]) & (lower[k][k] > 0)
        self.ok = ok
        self._chol = None

    def solve_matrix(self, rhs: torch.Tensor) -> torch.Tensor:
        """Solve the factorised system for ``rhs`` of shape ``(s, B)``."""
        if self._chol is not None:
            x = torch.cholesky_solve(rhs.T[..., None], self._chol)
            return x[..., 0].T
        low, inv, s = self._lower, self._inv, self.size
        z: list[torch.Tensor] = []
        for i in range(s):
            t = rhs[i]
            for p in range(i):
                t = t - low[i][p] * z[p]
            z.append(t * inv[i])
        x: list[torch.Tensor] = [z[0]] * s
        for i in reversed(range(s)):
            t = z[i]
            for p in range(i + 1, s):
                t = t - low[p][i] * x[p]
            x[i] = t * inv[i]
        return torch.stack(x)

    # ------------------------------------------------------------------- solve
    def solve(
        self,
        cost: torch.Tensor,
        demand: torch.Tensor,
        *,
        cost_capa: torch.Tensor | None = None,
        masked: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Multipliers, loads and flows for costs ``(n, m, B)`` and demands ``(n, B)``.

        Parameters
        ----------
        cost, demand
            The right-hand side: costs ``c`` and demands ``D`` on the same supports.
        cost_capa
            Optionally ``c * K`` precomputed (saves one product per call in a loop).
        masked
            If False, return ``K_j (lambda_i - c_ij) - F_j`` on every route instead of the
            flows: the flow on used routes and ``-K_j mu_ij`` (minus the scaled reduced cost)
            on unused ones, which is what the active-set iteration reads.

        Returns
        -------
        lam, loads, flows
            ``(n, B)``, ``(m, B)``, ``(n, m, B)``; flows may be negative on the support.
        """
        a, capa, w_ = self.a, self.capa, _Buffers(self.work)
        if cost_capa is None:
            cost_capa = cost * capa
        tmp = w_["tmp"]
        col_c = torch.mul(a, cost, out=tmp).sum(dim=0)  # (m, B)
        base = torch.sum(torch.mul(a, cost_capa, out=tmp), dim=1, out=w_["base"])
        base += demand  # D_i + sum_j A_ij K_j c_ij, (n, B)
        if self.users:
            wc = torch.sum(torch.mul(a, self.w * col_c, out=tmp), dim=1, out=w_["lam"])
            lam = self.solve_matrix(torch.sub(base, wc, out=w_["lam"]))
            loads = self.w * (torch.mul(a, lam[:, None], out=tmp).sum(dim=0) - col_c)
        else:
            base *= self.inv_rowk
            loads = self.solve_matrix(torch.mul(a, base[:, None], out=tmp).sum(dim=0) - col_c)
            lam = torch.sum(torch.mul(a, loads, out=tmp), dim=1, out=w_["lam"])
            lam *= self.inv_rowk
            lam += base
        flows = torch.mul(capa, lam[:, None], out=w_["flows"])
        flows -= cost_capa
        flows -= loads
        if masked:
            flows *= a
        return lam, loads, flows


def check_coefficients(cost: torch.Tensor, slope: torch.Tensor, demand: torch.Tensor) -> None:
    """Raise ``ValueError`` naming the field unless ``cost, slope, demand`` form a valid batch."""
    if cost.dim() != 3 or slope.dim() != 2 or demand.dim() != 2:
        raise ValueError(
            "cost, slope, demand: expected shapes (B, n, m), (B, m), (B, n); got "
            f"{tuple(cost.shape)}, {tuple(slope.shape)}, {tuple(demand.shape)}"
        )
    batch, n, m = cost.shape
    if tuple(slope.shape) != (batch, m) or tuple(demand.shape) != (batch, n):
        raise ValueError(
            f"slope, demand: expected shapes {(batch, m)} and {(batch, n)}, got "
            f"{tuple(slope.shape)} and {tuple(demand.shape)}"
        )
    for name, t in (("cost", cost), ("slope", slope), ("demand", demand)):
        if t.numel() and not bool(torch.isfinite(torch.stack(torch.aminmax(t.detach()))).all()):
            raise ValueError(f"{name}: contains NaN or infinite values")
    if bool((slope.detach() <= 0).any()):
        raise ValueError("slope: k_j = w_q/alpha_j must be > 0 (w_q > 0, Eq. 8)")
    if bool((demand.detach() < 0).any()):
        raise ValueError("demand: must be >= 0")
