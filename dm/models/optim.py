"""Optimizer and learning-rate schedule shared by the Lightning module and the multi-model loop, so the two
paths take bit-for-bit the same steps: SGD (elementwise, hence exact on stacked parameters) and the paper's
triangular schedule (Table D.2), stepped per batch."""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig


def triangular_factor(step: int, total_steps: int, peak_step: float) -> float:
    """LR multiplier for 0-based `step`: rises linearly to 1 at `peak_step`, falls to 0 after the last step."""
    return float(np.interp(step + 1, [0.0, max(peak_step, 1e-9), total_steps + 1.0], [0.0, 1.0, 0.0]))


def make_optimizer(params: list[torch.Tensor], trainer: DictConfig, steps_per_epoch: int):
    """(SGD, LambdaLR) for `trainer.epochs * steps_per_epoch` steps."""
    opt = torch.optim.SGD(params, lr=trainer.lr, momentum=trainer.momentum, nesterov=trainer.nesterov,
                          weight_decay=trainer.weight_decay)
    total = trainer.epochs * steps_per_epoch
    peak = trainer.peak_epoch * steps_per_epoch
    factors = [triangular_factor(s, total, peak) for s in range(total + 1)]
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: factors[min(s, total)])
    return opt, sched
