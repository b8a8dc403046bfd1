"""Will a group of `trainer.models_per_process` models fit? An estimate made before `dm train` trains anything.

A group of M models needs about  fixed + M * per_model  bytes on the data's device, where

- per_model (vmap engine) = parameters + gradients + SGD momentum + buffers (the stacked [M, ...] tensors)
  + the activations one model keeps for backward on one batch + its batch order and augmentation draws
  + its evaluation logits and margins;
- per_model (plain engine) = the stacked initial and final parameters and buffers + its margins, and the
  working module's parameters, gradients, momentum and one batch's activations are paid once (fixed).

The activations are measured, not modelled: one model runs one forward/backward on one real batch and the
tensors autograd saves for backward are summed (`torch.autograd.graph.saved_tensors_hooks`), which works the
same on CPU and CUDA. The check runs after the data is resident, so the free memory it reads
(`psutil.virtual_memory().available` on CPU, `torch.cuda.mem_get_info` plus the allocator's cached blocks on
CUDA) already excludes the data; with several processes per device each one holds its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psutil
import torch
from omegaconf import DictConfig
from torch import nn

from dm.data.prepare import ResidentData
from dm.errors import ConfigError
from dm.models.networks import network_factory
from dm.train.precision import autocast_for
from dm.train.subsets import subset_size

GIB = 2**30
_EVAL_ROWS = 2**22  # input elements per evaluation slice of the vmap engine (dm.train.group.evaluate_group)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a group of M models needs: fixed + M * per_model, on `device` with `available` bytes free."""

    fixed: int
    per_model: int
    available: int
    device: str

    def needs(self, m: int) -> int:
        return self.fixed + m * self.per_model

    def max_models(self) -> int:
        return max(0, (self.available - self.fixed) // self.per_model)


def _nbytes(tensors) -> int:
    return int(sum(t.numel() * t.element_size() for t in tensors))


def one_batch_activations(net: nn.Module, x: torch.Tensor, precision: str) -> int:
    """Bytes autograd saves for backward in one forward of `net` on the batch x [B, ...] (parameters excluded),
    plus the logits and their gradient. Runs backward once so nothing stays referenced."""
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:  # a view's own bytes: the first layer's input is a data slice
        if t.untyped_storage().data_ptr() not in params:
            seen[(t.data_ptr(), tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t

    net.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast_for(precision, x.device):
        logits = net(x)
    logits.float().sum().backward()
    net.zero_grad(set_to_none=True)
    return int(sum(seen.values())) + 2 * _nbytes([logits])


def available_bytes(device: torch.device) -> int:
    """Memory free for new tensors on `device`: host RAM, or the GPU's free memory plus torch's cached blocks."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    return int(psutil.virtual_memory().available)


def estimate(cfg: DictConfig, data: ResidentData, group: int, workers: int = 1) -> MemoryEstimate:
    """The memory a group of `group` models needs under `cfg` (network models; see the module docstring).
    workers: processes sharing the device, each with its own data copy and group (`trainer.processes_per_device`)."""
    device = data.x_train.device
    trainer = cfg.trainer
    net = network_factory(cfg.model, data.info)().to(device)
    s = subset_size(cfg.subsets.alpha, data.info.d)
    bs = min(trainer.batch_size, s)
    x = data.x_train[:bs]
    acts = one_batch_activations(net, x, trainer.precision)
    params = _nbytes(net.parameters())
    buffers = _nbytes(net.buffers())
    state = params * (3 if trainer.momentum else 2)  # weights, gradients, momentum buffer
    splits = [len(data.y_test), len(data.y_train)]
    n_classes = int(data.info.num_classes or 1)
    margins = 4 * sum(splits)  # float32 [n] per split, kept until the group is committed
    if cfg.trainer.engine == "plain":
        eval_rows = min(2048, max(splits))  # dm.train.plain.evaluate_module's batch
        fixed, per = state + buffers + acts + eval_rows * acts // bs, 2 * (params + buffers) + margins
    else:
        logits = 2 * 4 * max(splits) * n_classes  # [M, n, C] float32 of one split, and its concatenation
        steps = 8 * s * (6 if trainer.augment else 1) + data.info.d  # batch order, draws [5, M, s], mask
        per = state + buffers + acts + steps + logits + margins
        row = x[0].numel()
        eval_rows = min(group * max(splits), _EVAL_ROWS // max(1, row))  # rows in flight per evaluation slice
        fixed = eval_rows * acts // bs
    resident = _nbytes([data.x_train, data.y_train, data.x_test, data.y_test])
    total = (workers - 1) * resident  # the other workers' copies of the data (this copy is already loaded)
    del net
    return MemoryEstimate(workers * fixed + total, workers * per, available_bytes(device), str(device))


def check_fits(cfg: DictConfig, data: ResidentData, group: int, workers: int = 1) -> MemoryEstimate:
    """Raise ConfigError in one line if a group of `group` models (per worker) cannot fit on the data's device."""
    if cfg.model.name == "linreg" or group < 1:  # closed-form ridge: no network, no per-batch activations
        return MemoryEstimate(0, 1, available_bytes(data.x_train.device), str(data.x_train.device))
    est = estimate(cfg, data, group, workers)
    need = est.needs(group)
    if need > est.available:
        size = cfg.trainer.models_per_process
        where = f" (groups of {group} here)" if group != size else ""
        per_process = f"{workers} processes" if workers > 1 else "process"
        raise ConfigError(
            f"trainer.models_per_process={size}{where} needs ~{need / GIB:.1f} GiB, {est.available / GIB:.1f} GiB "
            f"available on {est.device}: at most {est.max_models()} models fit per {per_process}"
        )
    return est


def group_size(cfg: DictConfig, chunks: list[np.ndarray]) -> int:
    """The largest group this run trains: models_per_process, capped by the largest chunk to train."""
    return min(cfg.trainer.models_per_process, max((len(c) for c in chunks), default=0))
