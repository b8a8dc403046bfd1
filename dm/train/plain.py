"""The `plain` engine: models trained one after the other as ordinary modules (no vmap).

On a GPU a convolutional network runs fastest as a plain module: cuDNN kernels for one batch, channels_last
memory format, optionally `torch.compile` (mode `reduce-overhead` adds CUDA graphs). One working module per
process and architecture is built (and compiled) once; each model loads its own initial weights into it, so
compilation is paid once per process. Every model is fed exactly the batches, augmentations, schedule and
loss scaling the `vmap` engine gives it (`dm.train.steps`), so the engines' margins agree within float
tolerance (tests/train/test_engines.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn

from dm.data.augment import apply_augment
from dm.models.optim import make_optimizer
from dm.models.outputs import correct_class_margin
from dm.train.group import GroupResult, augment_shape, init_stacked
from dm.train.precision import autocast_for, needs_loss_scaling
from dm.train.steps import epoch_batches
from dm.train.subsets import members_of

_WORKERS: dict[tuple, tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]] = {}


def memory_format(x: torch.Tensor, trainer: DictConfig) -> torch.memory_format:
    """channels_last for images on CUDA when `trainer.channels_last`, else the default layout."""
    use = trainer.channels_last and x.ndim == 4 and x.device.type == "cuda"
    return torch.channels_last if use else torch.contiguous_format


def working_module(template: nn.Module, device: torch.device, fmt: torch.memory_format,
                   compile_mode: str) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """(module, forward) for this architecture on this device, built and compiled once per process."""
    key = (repr(template), str(device), str(fmt), compile_mode)
    if key not in _WORKERS:
        module = template.to(device=device, memory_format=fmt)
        forward = module if compile_mode == "none" else torch.compile(module, mode=compile_mode)
        _WORKERS[key] = (module, forward)
    return _WORKERS[key]


def train_plain(
    factory: Callable[[], nn.Module],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    masks: np.ndarray,
    seeds: np.ndarray,
    trainer: DictConfig,
    eval_sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
    eval_rows: int = 2048,
) -> GroupResult:
    """Train M models one at a time and return their margins on every example of `eval_sets` (as `train_group`).

    x_train: [d, ...] on the device; y_train int64 [d]; masks bool [M, d] with equal row sums; seeds int64 [M].
    eval_rows: examples per evaluation batch (twice as many rows with flip TTA).
    """
    device = x_train.device
    members = members_of(masks)  # [M, s]
    m, s = members.shape
    template, init_params, init_buffers = init_stacked(factory, seeds)
    fmt = memory_format(x_train, trainer)
    net, forward = working_module(template, device, fmt, trainer.compile)
    bs = min(trainer.batch_size, s)
    image_hw = augment_shape(x_train, trainer)
    margins = {split: np.empty((m, len(y)), np.float32) for split, (_, y) in eval_sets.items()}
    accuracy = np.full(m, np.nan)
    final: list[dict[str, torch.Tensor]] = []
    train_seconds = 0.0
    for k in range(m):
        with torch.no_grad():
            for name, value in list(net.named_parameters()) + list(net.named_buffers()):
                value.copy_((init_params[name] if name in init_params else init_buffers[name])[k])
        opt, sched = make_optimizer(list(net.parameters()), trainer, -(-s // bs))
        scaler = torch.amp.GradScaler(device.type) if needs_loss_scaling(trainer.precision) else None
        start = time.perf_counter()
        net.train()
        for epoch in range(trainer.epochs):
            for idx, draws in epoch_batches(seeds[k : k + 1], epoch, members[k : k + 1], bs, device, image_hw):
                xb, yb = x_train[idx[0]], y_train[idx[0]]
                if draws is not None:
                    xb = apply_augment(xb, draws[:, 0])
                with autocast_for(trainer.precision, device):
                    logits = forward(xb.contiguous(memory_format=fmt))
                loss = nn.functional.cross_entropy(logits.float(), yb, reduction="sum",
                                                   label_smoothing=trainer.label_smoothing) / len(yb)
                if scaler is None:
                    loss.backward()
                    opt.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                opt.zero_grad(set_to_none=True)
                sched.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_seconds += time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            for split, (x, y) in eval_sets.items():
                logits = evaluate_module(forward, x, trainer.flip_tta, trainer.precision, fmt, eval_rows)
                margins[split][k] = correct_class_margin(logits, y).float().cpu().numpy()
                if split == "test":
                    accuracy[k] = float((logits.argmax(-1) == y).float().mean())
        final.append({n: v.detach().clone() for n, v in list(net.named_parameters()) + list(net.named_buffers())})
    params = {n: torch.stack([f[n] for f in final]) for n in init_params}
    buffers = {n: torch.stack([f[n] for f in final]) for n in init_buffers}
    return GroupResult(margins, accuracy, train_seconds, params, buffers)


def evaluate_module(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, flip_tta: bool,
                    precision: str, fmt: torch.memory_format, rows: int) -> torch.Tensor:
    """float32 logits [n, C] of one module (eval mode) on x [n, ...]; with flip TTA the image and its flip go
    through in the same batch and their logits are averaged."""
    outs = []
    for first in range(0, len(x), rows):
        xs = x[first : first + rows]
        tta = flip_tta and xs.ndim == 4
        batch = torch.cat([xs, xs.flip(-1)]) if tta else xs
        with autocast_for(precision, x.device):
            logits = forward(batch.contiguous(memory_format=fmt)).float()
        outs.append((logits[: len(xs)] + logits[len(xs) :]) / 2 if tta else logits)
    return torch.cat(outs)
