"""Result records of the solver (tensors in, dataclasses out; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["FailedTarget", "StageResult", "PathLog", "FixedLambdaFit", "DatamodelFit"]


@dataclass(frozen=True)
class FailedTarget:
    """A target the solver could not fit: its column index in Y and a human-readable reason."""

    target: int
    reason: str


@dataclass
class StageResult:
    """Targets that just finished one λ value (handed by the SAGA engine to its schedule).

    Attributes:
        targets: int64 ``[k]`` target (column) indices into the caller's Y.
        weights: ``[d, k]`` raw-mask-space coefficients.
        bias: ``[k]`` raw-space intercepts.
        train_mse: ``[k]`` weighted training MSE, Σ_i w_ij r_ij² / m_j, from SAGA's stored residuals (each
            computed at the iterate of its last minibatch; exact up to the convergence tolerance).
        converged: bool ``[k]``; with certificates, whether the relative duality gap is within ``gap_tol``;
            without (path λ values), whether the movement test passed before ``max_epochs``.
        epochs: ``[k]`` passes over the models spent on this λ (float, in units of epochs).
        gap: float64 ``[k]`` relative duality gap of eq. 8 (NaN when not certified).
        kkt: float64 ``[k]`` largest KKT violation relative to λ (NaN when not certified).
    """

    targets: torch.Tensor
    weights: torch.Tensor
    bias: torch.Tensor
    train_mse: torch.Tensor
    converged: torch.Tensor
    epochs: torch.Tensor
    gap: torch.Tensor
    kkt: torch.Tensor


@dataclass
class PathLog:
    """One row per (target, λ) visited on the regularization path; all fields are 1-D tensors of equal length.

    ``lam`` is in raw-mask space (the λ of eq. 8); MSEs are in squared margin units; ``nnz`` counts nonzero
    weights; ``converged`` is False where the λ stage hit ``max_epochs`` (the path's movement test, not a
    certificate: path λ values only rank λ by validation MSE); ``epochs`` is the number of passes
    over the models spent on that λ.
    """

    target: torch.Tensor
    lambda_index: torch.Tensor
    lam: torch.Tensor
    train_mse: torch.Tensor
    val_mse: torch.Tensor
    nnz: torch.Tensor
    converged: torch.Tensor
    epochs: torch.Tensor

    def __len__(self) -> int:
        return int(self.target.shape[0])


@dataclass
class FixedLambdaFit:
    """Solution of eq. 8 at one given λ per target.

    Attributes:
        weights: ``[d, n]`` raw-mask-space coefficients (zeros for failed targets).
        bias: ``[n]`` intercepts (NaN for failed targets); prediction = ``mask @ weights[:, j] + bias[j]``.
        lam: ``[n]`` λ_j used.
        n_models_used: int64 ``[n]`` m_j.
        train_mse: ``[n]`` weighted training MSE (see :class:`StageResult`).
        converged: bool ``[n]``: the relative duality gap is within ``SolveConfig.gap_tol``.
        epochs: ``[n]`` passes over the models spent.
        duality_gap: float64 ``[n]`` relative duality gap (P - D) / P of eq. 8, an upper bound on the relative
            excess of the objective over its minimum (NaN for failed targets).
        kkt: float64 ``[n]`` largest violation of eq. 8's optimality conditions, in units of λ_j.
        failed: targets that were not fitted, with reasons.
        backend: "torch" or "triton".
    """

    weights: torch.Tensor
    bias: torch.Tensor
    lam: torch.Tensor
    n_models_used: torch.Tensor
    train_mse: torch.Tensor
    converged: torch.Tensor
    epochs: torch.Tensor
    duality_gap: torch.Tensor
    kkt: torch.Tensor
    failed: list[FailedTarget] = field(default_factory=list)
    backend: str = "torch"


@dataclass
class DatamodelFit:
    """Datamodels for all targets: path + validation selection + refit on train and validation models.

    Attributes:
        weights: ``[d, n]`` raw-mask-space coefficients after the refit (zeros for failed targets).
        bias: ``[n]`` intercepts (NaN for failed targets).
        lam: ``[n]`` selected λ_j (raw-space, eq. 8).
        lambda_max: ``[n]`` λ_max,j on the training split.
        val_mse: ``[n]`` validation MSE at the selected λ (before the refit).
        nnz: int64 ``[n]`` nonzero weights after the refit.
        n_models_used: int64 ``[n]`` models used by the refit (train + validation split, eq. 9 exclusion).
        converged: bool ``[n]``; whether the refit's relative duality gap is within ``SolveConfig.gap_tol``.
        epochs: ``[n]`` passes over the models the refit spent.
        duality_gap: float64 ``[n]`` the refit's relative duality gap (NaN for failed targets).
        kkt: float64 ``[n]`` the refit's largest KKT violation in units of λ_j.
        path: the per-λ log of the path on the training split.
        failed: targets that were not fitted, with reasons.
        backend: "torch" or "triton".
    """

    weights: torch.Tensor
    bias: torch.Tensor
    lam: torch.Tensor
    lambda_max: torch.Tensor
    val_mse: torch.Tensor
    nnz: torch.Tensor
    n_models_used: torch.Tensor
    converged: torch.Tensor
    epochs: torch.Tensor
    duality_gap: torch.Tensor
    kkt: torch.Tensor
    path: PathLog
    failed: list[FailedTarget] = field(default_factory=list)
    backend: str = "torch"
