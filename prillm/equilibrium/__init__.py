"""The exact user-side Nash equilibrium (Theorem 1, Eq. 13), its certificate, the model quantities.

Modules, from the bottom up:

============================  =================================================================
:mod:`~.kkt`                  the fixed-support KKT kernel (build, factorise once, solve several
                              right-hand sides, low-rank updates), shared by every exact method
:mod:`~.model`                the game's quantities: user costs (Eq. 1), marginal costs (Eq. 12),
                              the potential (Eq. 4-5), best responses and their dynamics
:mod:`~.certificate`          the KKT certificate (Eq. 14-17) and :class:`EquilibriumError`
:mod:`~.first_guess`          the active-set iteration's first support (a cheap guess)
:mod:`~.active_set`           the exact solver on raw arrays (primal-dual active set)
:mod:`~.rational`             the last resort: the equilibrium in exact rational arithmetic
:mod:`~.solve`                :func:`solve_equilibrium` and :class:`Equilibrium`
============================  =================================================================

Thread policy: every solve holds BLAS to one thread for mid-sized problems; loops of many
solves set the limit once with :func:`single_threaded_blas` (an alias of
:func:`prillm._threads.limit_threads`, which also holds torch's threads when torch is loaded).
"""

from prillm._threads import limit_threads
from prillm._threads import limit_threads as single_threaded_blas
from prillm.equilibrium.active_set import ActiveSetResult, solve_active_set
from prillm.equilibrium.certificate import (
    DEFAULT_TOL,
    EquilibriumError,
    KKTCertificate,
    certify_arrays,
    kkt_certificate,
)
from prillm.equilibrium.first_guess import first_support
from prillm.equilibrium.kkt import KKTMatrix, SupportKKT, problem_scales, solve_support
from prillm.equilibrium.model import (
    BestResponseTrajectory,
    best_response_dynamics,
    best_responses,
    marginal_costs,
    potential,
    potential_arrays,
    split_cost,
    user_cost_arrays,
    user_costs,
)
from prillm.equilibrium.rational import rational_equilibrium
from prillm.equilibrium.solve import Equilibrium, package_equilibrium, solve_equilibrium

__all__ = [
    "DEFAULT_TOL",
    "ActiveSetResult",
    "BestResponseTrajectory",
    "Equilibrium",
    "EquilibriumError",
    "KKTCertificate",
    "KKTMatrix",
    "SupportKKT",
    "best_response_dynamics",
    "best_responses",
    "certify_arrays",
    "first_support",
    "kkt_certificate",
    "limit_threads",
    "marginal_costs",
    "package_equilibrium",
    "potential",
    "potential_arrays",
    "problem_scales",
    "rational_equilibrium",
    "single_threaded_blas",
    "solve_active_set",
    "solve_equilibrium",
    "solve_support",
    "split_cost",
    "user_cost_arrays",
    "user_costs",
]
