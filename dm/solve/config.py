"""Configuration of the datamodel solver (:mod:`dm.solve`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from dm.config.solve import check_solver_knobs

__all__ = ["SolveConfig"]


@dataclass(frozen=True)
class SolveConfig:
    """Knobs of the minibatch proximal SAGA LASSO solver.

    Attributes:
        k_lambdas: number K of log-spaced λ values per target, from λ_max,j down to λ_max,j / lambda_ratio
            (the paper uses K=100; the default trades a coarser grid for speed).
        lambda_ratio: λ_max / λ_min of the path; must be > 1.
        path_patience: stop walking a target's λ path once its validation MSE has not improved for this many
            consecutive λ values (``None`` walks the whole path). The selected λ equals the full path's
            argmin whenever the validation curve has no second dip deeper than the first.
        batch_size: models (rows) per SAGA minibatch (and per matrix product in full-batch mode).
        full_batch: "auto" takes full-gradient steps accelerated by FISTA with adaptive restart when there are
            no more models than training examples (m <= d: eq. 8 is not strongly convex and SAGA's steps crawl;
            measured in bench/solve_speed.py --models), SAGA minibatches otherwise; True/False force one or the
            other. A batch_size >= m is always full-batch.
        max_epochs: cap on passes over the models per λ value (per fixed-λ solve).
        tol: a target's solve at one λ is converged when, over a convergence window, no standardized
            coefficient (units: margin per feature standard deviation) nor the intercept moved faster than
            ``tol`` times the standard deviation of that target's margins per epoch (pass over the models).
        gap_tol: a refit or fixed-λ solve is converged only when its relative duality gap (P - D) / P, an upper
            bound on the relative excess of eq. 8's objective over its minimum, is at most ``gap_tol``; the
            movement test (``tol``) only decides when to compute this certificate.
        path_tol: the same test with a coarser tolerance for the λ values of the path (they only need to rank
            λ by validation MSE); the refit at the selected λ and fixed-λ solves use ``tol``.
        checks_per_epoch: convergence windows per epoch (targets advance along their path at window ends).
        step_scale: step size = step_scale / L(b), with L(b) the minibatch smoothness bound of Gazagnadou et
            al. (2019) computed from the largest eigenvalue and largest row norm of the standardized masks.
        val_fraction: fraction of the fitting models the caller holds out for λ selection (see
            :func:`dm.solve.split_models`); the solver itself takes explicit validation rows.
        device: torch device the solve runs on ("cpu", "cuda", ...).
        dtype: floating dtype of the solve (float32 is the fast default; tests also use float64).
        use_triton: "auto" picks the Triton kernels on CUDA and the torch twins elsewhere; True forces Triton
            (on CPU only with TRITON_INTERPRET=1), False forces torch.
        seed: seed of the minibatch order.
        eval_batch_size: models per batch when evaluating validation MSE.
    """

    k_lambdas: int = 20
    lambda_ratio: float = 100.0
    path_patience: int | None = 3
    batch_size: int = 512
    full_batch: bool | Literal["auto"] = "auto"
    max_epochs: int = 300
    tol: float = 3e-3
    gap_tol: float = 1e-3
    path_tol: float = 2e-2
    checks_per_epoch: int = 8
    step_scale: float = 1.0
    val_fraction: float = 0.1
    device: str = "cpu"
    dtype: torch.dtype = torch.float32
    use_triton: bool | Literal["auto"] = "auto"
    seed: int = 0
    eval_batch_size: int = 2048

    def __post_init__(self) -> None:
        check_solver_knobs(self)  # the rules of the `solve` config group (ConfigError, a ValueError)
