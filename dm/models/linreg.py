"""The paper's appendix-B learning algorithm: min-norm least squares, closed form (eq. 17).

For a subset S the model is w_S = X_Sᵀ (X_S X_Sᵀ)⁺ y_S = pinv(X_S) y_S and its output on x_j is x_j·w_S;
datamodels predict that output ("margin" of a regression model). Exact and deterministic: the fast test model.
"""

from __future__ import annotations

import torch


def min_norm_weights(x: torch.Tensor, y: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """x [M, s, F] float, y [M, s] -> w [M, F], the minimum-norm least-squares solution per model
    (ridge > 0 adds `ridge·I` to the s×s kernel matrix, for ill-conditioned data)."""
    x64, y64 = x.double(), y.double()
    if ridge > 0:
        kernel = x64 @ x64.transpose(1, 2) + ridge * torch.eye(x.shape[1], dtype=torch.float64, device=x.device)
        return (x64.transpose(1, 2) @ torch.linalg.solve(kernel, y64.unsqueeze(-1))).squeeze(-1).float()
    return (torch.linalg.pinv(x64) @ y64.unsqueeze(-1)).squeeze(-1).float()
