"""LightningModules for training one subset model with a plain `lightning.Trainer` (the reference path)."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from dm.data.augment import apply_augment, draws_from_keys
from dm.models.linreg import min_norm_weights
from dm.models.optim import make_optimizer
from dm.train.subsets import augment_keys


class SubsetClassifier(L.LightningModule):
    """Cross-entropy training of `network` with the shared SGD + triangular schedule.

    With `trainer.augment`, batch `batch_idx` of epoch e gets the augmentation draws of positions
    [batch_idx·B, batch_idx·B + len(batch)) of the model's epoch-e order (`dm.train.subsets.augment_keys` of
    `seed`), the draws the multi-model engines give the same model.
    """

    def __init__(self, network: nn.Module, trainer: DictConfig, steps_per_epoch: int, seed: int = 0,
                 subset_size: int = 0):
        super().__init__()
        self.network = network
        self.trainer_cfg = trainer
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed
        self.subset_size = subset_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        if self.trainer_cfg.augment:
            first = batch_idx * min(self.trainer_cfg.batch_size, self.subset_size)
            keys = augment_keys(np.array([self.seed], np.int64), self.current_epoch, self.subset_size)
            draws = draws_from_keys(keys[0, first : first + len(x)], x.shape[2], x.shape[3]).to(x.device)
            x = apply_augment(x, draws)
        loss = nn.functional.cross_entropy(self.network(x).float(), y, label_smoothing=self.trainer_cfg.label_smoothing)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self):
        opt, sched = make_optimizer(list(self.parameters()), self.trainer_cfg, self.steps_per_epoch)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class MinNormRegressor(L.LightningModule):
    """Appendix-B min-norm least squares: one 'training step' over the whole subset solves it exactly."""

    def __init__(self, n_features: int, ridge: float = 0.0):
        super().__init__()
        self.automatic_optimization = False
        self.ridge = ridge
        self.register_buffer("weight", torch.zeros(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() @ self.weight

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.weight.copy_(min_norm_weights(x[None], y[None].float(), self.ridge)[0])

    def configure_optimizers(self):
        return None
