"""Train a group of appendix-B min-norm regressors at once (batched pseudo-inverse)."""

from __future__ import annotations

import time

import numpy as np
import torch

from dm.models.linreg import min_norm_weights
from dm.train.group import GroupResult
from dm.train.subsets import members_of


def train_linreg_group(x_train: torch.Tensor, y_train: torch.Tensor, masks: np.ndarray, ridge: float,
                       eval_sets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> GroupResult:
    """M models, each the min-norm fit on its subset; margins = predictions x·w on every eval example.

    x_train [d, F], y_train float [d], masks bool [M, d] (equal row sums)."""
    start = time.perf_counter()
    idx = torch.from_numpy(members_of(masks)).to(x_train.device)  # [M, s]
    weights = min_norm_weights(x_train[idx], y_train[idx].float(), ridge)  # [M, F]
    margins = {split: (weights @ x.float().T).cpu().numpy() for split, (x, _) in eval_sets.items()}
    return GroupResult(margins, np.full(len(masks), np.nan), time.perf_counter() - start, {"weight": weights}, {})
