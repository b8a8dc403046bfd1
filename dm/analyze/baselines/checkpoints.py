"""Reference models for the representation and TracIn baselines: trained on the full training set, one at a
time, keeping a checkpoint at the end of every epoch.

The multi-model loop (`dm.train.runner.train_models`) returns only final parameters, so this is a small plain
training loop that reuses the same pieces (network factory and seeded initialisation, SGD + triangular schedule,
per-epoch batch order and augmentation draws of `dm.train.steps.epoch_batches`). A model trained here is the
model `train_models` would train on the all-ones mask with the same seed, up to floating-point summation order.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from dm.data.augment import apply_augment
from dm.data.prepare import ResidentData
from dm.ids import REFERENCE_SALT, seed_stream
from dm.models.networks import network_factory
from dm.models.optim import make_optimizer
from dm.train.group import augment_shape, init_networks
from dm.train.steps import epoch_batches


@dataclass
class CheckpointedModel:
    """A model trained on all d examples. checkpoints[e] = parameters after epoch e; lrs[e] = the mean learning
    rate of epoch e's steps (the η_e of TracInCP); seconds = wall time of its training (the cost of the
    attribution methods that use it)."""

    seed: int
    network: nn.Module  # final parameters, eval mode
    checkpoints: list[dict[str, torch.Tensor]]
    lrs: list[float]
    seconds: float = float("nan")


def reference_seeds(seed: int, count: int) -> np.ndarray:
    """int64 [count]: seeds of the reference models, distinct from any subset model's seed stream."""
    return seed_stream(seed, REFERENCE_SALT, count)


def train_reference_models(cfg: DictConfig, data: ResidentData, seeds: np.ndarray) -> list[CheckpointedModel]:
    """Train one network per seed on the whole training set (cfg.trainer settings), checkpointing every epoch."""
    factory = network_factory(cfg.model, data.info)
    trainer = cfg.trainer
    d = len(data.y_train)
    members = np.arange(d, dtype=np.int64)[None, :]
    bs = min(trainer.batch_size, d)
    steps = -(-d // bs)
    image_hw = augment_shape(data.x_train, trainer)
    out = []
    for seed, net in zip(seeds, init_networks(factory, np.asarray(seeds)), strict=True):
        start = time.perf_counter()
        net = net.to(data.x_train.device).train()
        opt, sched = make_optimizer(list(net.parameters()), trainer, steps)
        checkpoints, lrs = [], []
        for epoch in range(trainer.epochs):
            epoch_lrs = []
            for idx, draws in epoch_batches(np.array([seed]), epoch, members, bs, data.x_train.device, image_hw):
                xb, yb = data.x_train[idx[0]], data.y_train[idx[0]]
                if draws is not None:  # the model's own augmentation draws, as `train_models` makes them
                    xb = apply_augment(xb, draws[:, 0])
                loss = nn.functional.cross_entropy(net(xb).float(), yb, label_smoothing=trainer.label_smoothing)
                epoch_lrs.append(sched.get_last_lr()[0])
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                sched.step()
            checkpoints.append({k: v.detach().clone() for k, v in net.state_dict().items()})
            lrs.append(float(np.mean(epoch_lrs)))
        if data.x_train.is_cuda:
            torch.cuda.synchronize()
        out.append(CheckpointedModel(int(seed), copy.deepcopy(net).eval(), checkpoints, lrs,
                                     time.perf_counter() - start))
    return out
