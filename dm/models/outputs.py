"""Model outputs that datamodels predict."""

from __future__ import annotations

import torch


def correct_class_margin(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Paper eq. 7: logit of the true class minus the largest other logit. logits [..., C], labels [...]."""
    true = logits.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    others = logits.scatter(-1, labels.unsqueeze(-1), float("-inf"))
    return true - others.amax(dim=-1)
