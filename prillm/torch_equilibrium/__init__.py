"""Differentiable user-side equilibria in torch (Theorem 2, Eq. 19-20); imports torch.

What is here
------------
* :func:`equilibrium_flows` / :class:`EquilibriumLayer`: flows from market data and preferences,
  differentiable in every input (calibration); the exact numpy engine finds each support.
* :func:`equilibrium_from_coefficients`: the same from the game coefficients ``c, k, D``.
* :func:`batched_equilibrium`: thousands of small markets solved *and* differentiated in torch,
  on a CPU or a GPU (training the game abstraction).
* :class:`~prillm.torch_equilibrium.kernel.SupportSystem`: the torch mirror of the engine's
  fixed-support KKT kernel (:func:`prillm.equilibrium.solve_support`), used by all of the above.
* :class:`CvxpyLayerEquilibrium`: the same equilibrium through cvxpylayers, the reference; it and
  :class:`EquilibriumLayer` are :class:`MarketLayer` subclasses (called with the market inputs).
* :func:`torch_threads`: the thread limiter for small tensors.

Forward
-------
On a fixed support ``A`` the KKT conditions (Eq. 14-17) are linear; the torch kernel solves the
smaller of the users' n x n and the providers' m x m symmetric positive-definite system (see
:mod:`prillm.torch_equilibrium.kernel`), as the numpy engine does. The single-market paths
return the engine's own flows on every device (the torch kernel factorises the system for the
backward pass there): where a capacity dwarfs the demand only the engine's accurate refinement
settles the flows. :func:`batched_equilibrium` iterates in torch and refines the demand
constraints as the engine does.

Backward
--------
On a fixed support the KKT system (Eq. 19) is linear: with :math:`H` the Hessian of the potential
restricted to the support and :math:`E` the demand constraints,
:math:`H f = E^\\top\\lambda - c`, :math:`E f = D`. Differentiating gives
:math:`df = -P\\,(dc + dH\\,f) + H^{-1}E^\\top M^{-1} dD` with
:math:`P = H^{-1} - H^{-1}E^\\top M^{-1} E H^{-1}` and :math:`M = E H^{-1} E^\\top`. For an
upstream gradient :math:`v = \\partial L/\\partial f` (Eq. 20), therefore,

* :math:`\\partial L/\\partial c = -P v` is the flow of the same game with costs :math:`v` and
  zero demand,
* :math:`\\partial L/\\partial D = M^{-1} E H^{-1} v` is the multiplier of that game,
* :math:`\\partial L/\\partial k_j = \\sum_{i \\in U_j} (\\partial L/\\partial c_{ij})
  (f_{ij} + F_j)`, because :math:`\\partial (H f)_{ij}/\\partial k_j = f_{ij} + F_j`,

so the backward pass is one more solve with the same matrix (one adjoint solve; on the CPU path
with the exact solver's own factor of its final support). Where a capacity dwarfs the demand,
``dL/dc`` is itself a flow ``K (lambda - v) - F`` of the adjoint game: its round-off is about
``eps K max|v|`` on every path (a market whose flows cannot move, one provider for instance,
gets gradients of that size instead of zero). Markets whose *flows* the engine cannot bound
within ``DEFAULT_TOL`` are named in a ``RuntimeWarning``
(:func:`~prillm.torch_equilibrium.numpy_engine.warn_unsettled`). Gradients with
respect to prices, ``w_p``, ``w_q``, ``w_d``, ``b``, latencies and capacities follow by the chain
rule through :math:`c_{ij} = w_p p_j + w_d d_{ij} - b_j` and :math:`k_j = w_q/\\alpha_j`
(written out by hand on the fused CPU path of :func:`equilibrium_flows`, by autograd otherwise).

Where the support changes (a flow at zero on a used route, or a zero reduced cost on an unused
one) the map is not differentiable; the gradient returned is the one of the support the exact
solver reports, a one-sided derivative, which is the sub-gradient of Theorem 2.

Users with zero demand carry no flow; they are given the single cheapest route (by marginal
cost) as support, so the gradient with respect to their demand is the right derivative.
"""

from __future__ import annotations

from prillm._optional import optional_dependency

with optional_dependency("the differentiable equilibrium (prillm.torch_equilibrium)"):
    from prillm.torch_equilibrium.batched import BatchedInfo, batched_equilibrium
    from prillm.torch_equilibrium.coefficients import equilibrium_from_coefficients
    from prillm.torch_equilibrium.cvxpy_layer import CvxpyLayerEquilibrium
    from prillm.torch_equilibrium.flows import (
        EquilibriumLayer,
        MarketLayer,
        equilibrium_flows,
        market_coefficients,
    )
    from prillm.torch_equilibrium.kernel import SupportSystem
    from prillm.torch_equilibrium.threads import torch_threads

__all__ = [
    "BatchedInfo",
    "CvxpyLayerEquilibrium",
    "EquilibriumLayer",
    "MarketLayer",
    "SupportSystem",
    "batched_equilibrium",
    "equilibrium_flows",
    "equilibrium_from_coefficients",
    "market_coefficients",
    "torch_threads",
]
