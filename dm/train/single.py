"""The reference path: one model trained alone by a plain `lightning.Trainer`.

It shares the network initialisation, batch order, optimizer and schedule with the multi-model loop, so
model `model_id` trained here equals model `model_id` of `dm train` (tests/train/test_parity.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Sampler, TensorDataset

from dm.data.prepare import ResidentData
from dm.models.module import MinNormRegressor, SubsetClassifier
from dm.models.networks import network_factory
from dm.models.outputs import correct_class_margin
from dm.train.group import init_networks
from dm.train.precision import autocast_for
from dm.train.subsets import batch_order, members_of


class SubsetBatches(Sampler[list[int]]):
    """Batches of one model's subset in its own per-epoch order (the k-th iteration is epoch k)."""

    def __init__(self, seed: int, mask: np.ndarray, batch_size: int):
        self.seed = np.array([seed], dtype=np.int64)
        self.members = members_of(mask[None])
        self.batch_size = min(batch_size, self.members.shape[1])
        self.epoch = 0

    def __len__(self) -> int:
        return -(-self.members.shape[1] // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = batch_order(self.seed, self.epoch, self.members)[0]
        self.epoch += 1
        for first in range(0, len(order), self.batch_size):
            yield order[first : first + self.batch_size].tolist()


def _quiet_lightning() -> None:
    """The reference path trains many tiny models: keep Lightning's per-fit banners out of the output."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _trainer(epochs: int, device: torch.device, precision: str = "32-true") -> L.Trainer:
    _quiet_lightning()
    accelerator, devices = ("cuda", [device.index or 0]) if device.type == "cuda" else ("cpu", 1)
    return L.Trainer(max_epochs=epochs, accelerator=accelerator, devices=devices, precision=precision, logger=False,
                     enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                     num_sanity_val_steps=0)


def train_one(cfg: DictConfig, data: ResidentData, seed: int, mask: np.ndarray) -> tuple[torch.nn.Module, dict]:
    """Train one model on `mask` (bool [d]) with `lightning.Trainer` on the data's device, in
    `trainer.precision`, augmented and evaluated (flip TTA) as configured; returns (module, margins per split).
    (Lightning runs `16-mixed` as bf16 on CPU: compare fp16 with the engines on CUDA only.)"""
    device = data.x_train.device
    x_train, y_train = data.x_train.cpu(), data.y_train.cpu()
    if cfg.model.name == "linreg":
        module: L.LightningModule = MinNormRegressor(x_train.shape[1], cfg.model.ridge)
        idx = torch.from_numpy(np.nonzero(mask)[0])
        loader = DataLoader(TensorDataset(x_train[idx], y_train[idx]), batch_size=len(idx))
        _trainer(1, torch.device("cpu")).fit(module, loader)
        module.eval()
        with torch.no_grad():
            return module, {s: module(x).numpy() for s, x in (("test", data.x_test), ("train", data.x_train))}
    factory = network_factory(cfg.model, data.info)
    network = init_networks(factory, np.array([seed]))[0]
    batches = SubsetBatches(seed, mask, cfg.trainer.batch_size)
    module = SubsetClassifier(network, cfg.trainer, len(batches), seed, int(mask.sum()))
    loader = DataLoader(TensorDataset(x_train, y_train), batch_sampler=batches)
    _trainer(cfg.trainer.epochs, device, cfg.trainer.precision).fit(module, loader)
    module.to(device).eval()
    margins = {}
    with torch.no_grad(), autocast_for(cfg.trainer.precision, device):
        for split, x, y in (("test", data.x_test, data.y_test), ("train", data.x_train, data.y_train)):
            logits = module(x).float()
            if cfg.trainer.flip_tta and x.ndim == 4:
                logits = (logits + module(x.flip(-1)).float()) / 2
            margins[split] = correct_class_margin(logits, y).cpu().numpy()
    return module, margins
