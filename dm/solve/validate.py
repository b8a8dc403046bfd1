"""Input checks shared by the solver entry points: clear ValueErrors and per-target failure reasons."""

from __future__ import annotations

import torch

from dm.solve.bits import check_packed
from dm.solve.results import FailedTarget

__all__ = ["check_inputs", "nonfinite_targets", "unused_targets"]


def check_inputs(
    masks: torch.Tensor, y: torch.Tensor, target_train_ids: torch.Tensor, num_train: int
) -> None:
    """Raise ValueError on malformed inputs.

    Args:
        masks: uint8 ``[m, ceil(d/8)]`` packed masks.
        y: float ``[m, n]`` margins, row i = model i.
        target_train_ids: int64 ``[n]``, values in [-1, d).
        num_train: d.
    """
    check_packed(masks, num_train)
    if not isinstance(y, torch.Tensor) or y.ndim != 2 or not y.is_floating_point():
        raise ValueError(
            f"y must be a 2-D float tensor [models, targets], got {getattr(y, 'shape', type(y))}"
        )
    if y.shape[0] != masks.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows (models) but masks has {masks.shape[0]}")
    if y.shape[0] < 2:
        raise ValueError(f"need at least 2 models to fit, got {y.shape[0]}")
    if y.shape[1] < 1:
        raise ValueError("y has no targets (0 columns)")
    if not isinstance(target_train_ids, torch.Tensor) or target_train_ids.dtype != torch.long:
        raise ValueError("target_train_ids must be an int64 (LongTensor) of shape [n]")
    if target_train_ids.shape != (y.shape[1],):
        raise ValueError(
            f"target_train_ids has shape {tuple(target_train_ids.shape)} but y has {y.shape[1]} targets"
        )
    if bool(((target_train_ids < -1) | (target_train_ids >= num_train)).any()):
        raise ValueError(f"target_train_ids must be -1 (test target) or a train id in [0, {num_train})")


def nonfinite_targets(y: torch.Tensor) -> list[FailedTarget]:
    """Targets whose margin column ``y[:, j]`` contains NaN or ±inf."""
    bad = (~torch.isfinite(y)).sum(0)
    return [
        FailedTarget(int(j), f"margins contain {int(bad[j])} non-finite value(s) (NaN/inf)")
        for j in torch.nonzero(bad).squeeze(1).tolist()
    ]


def unused_targets(
    models_used: torch.Tensor, target_train_ids: torch.Tensor, split: str
) -> list[FailedTarget]:
    """Train targets that no model of ``split`` excludes (m_j = 0), so eq. 9 has no data."""
    return [
        FailedTarget(int(j), f"no {split} model excludes train example {int(target_train_ids[j])} (m_j = 0)")
        for j in torch.nonzero(models_used == 0).squeeze(1).tolist()
    ]
