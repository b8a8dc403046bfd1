"""Train a group of independent models at once: stacked parameters and `torch.func.vmap`.

Each model k has its own subset, init seed, batch order and augmentation draws (all keyed by its seed:
`dm.train.steps`), so its result does not depend on the group it is trained in. The loss is the sum over
models of each model's mean loss, so model k's gradient is exactly the gradient it would get alone, and the
optimizer (elementwise SGD) updates each slice as if it were alone: there is no coupling between models, and
no gradient sync.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn
from torch.func import functional_call, vmap

from dm.data.augment import apply_augment
from dm.models.optim import make_optimizer
from dm.models.outputs import correct_class_margin
from dm.train.precision import GroupGradScaler, autocast_for, needs_loss_scaling
from dm.train.steps import epoch_batches
from dm.train.subsets import members_of


@dataclass
class GroupResult:
    """Outputs of M models. margins: split -> float32 [M, n_split]; accuracy NaN for regression."""

    margins: dict[str, np.ndarray]
    test_accuracy: np.ndarray
    seconds: float
    params: dict[str, torch.Tensor]  # stacked [M, ...] (for checkpoints, baselines and parity tests)
    buffers: dict[str, torch.Tensor]


def _reset(module: nn.Module) -> None:
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()


def init_stacked(
    factory: Callable[[], nn.Module], seeds: np.ndarray
) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The initial parameters of the models of these seeds, stacked: (template, params [M, ...], buffers).

    One network is built; for each seed the global CPU RNG is seeded and every layer re-initialised in
    module order (`reset_parameters`), which is ~10x faster than building M networks. The RNG state is
    restored afterwards. `init_networks` gives the same initial weights as separate modules.
    """
    state = torch.get_rng_state()
    try:
        template = factory()
        params = {n: torch.empty((len(seeds), *p.shape), dtype=p.dtype) for n, p in template.named_parameters()}
        buffers = {n: torch.empty((len(seeds), *b.shape), dtype=b.dtype) for n, b in template.named_buffers()}
        named = list(template.named_parameters()) + list(template.named_buffers())
        with torch.no_grad():
            for k, seed in enumerate(seeds):
                torch.default_generator.manual_seed(int(seed))
                template.apply(_reset)
                for name, value in named:
                    (params[name] if name in params else buffers[name])[k] = value
        return template, params, buffers
    finally:
        torch.set_rng_state(state)


def init_networks(factory: Callable[[], nn.Module], seeds: np.ndarray) -> list[nn.Module]:
    """Separate networks with the initial weights `init_stacked` gives the same seeds (the reference path)."""
    template, params, buffers = init_stacked(factory, seeds)
    nets = []
    for k in range(len(seeds)):
        net = copy.deepcopy(template)
        with torch.no_grad():
            for name, value in list(net.named_parameters()) + list(net.named_buffers()):
                value.copy_((params[name] if name in params else buffers[name])[k])
        nets.append(net)
    return nets


def train_group(
    factory: Callable[[], nn.Module],
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    masks: np.ndarray,
    seeds: np.ndarray,
    trainer: DictConfig,
    eval_sets: dict[str, tuple[torch.Tensor, torch.Tensor]],
    on_step: Callable[[], None] | None = None,
    scaler: GroupGradScaler | None = None,
) -> GroupResult:
    """Train M models on x_train[mask_k] (vmapped) and return their margins on every example of `eval_sets`.

    x_train: [d, ...] on the device; y_train int64 [d]; masks bool [M, d] with equal row sums; seeds int64 [M].
    eval_sets: split -> (x [n, ...], y [n]) evaluated after training (e.g. test and train).
    Precision is `trainer.precision` (autocast; fp16 gets a per-model loss scale, or `scaler` when given).
    """
    start = time.perf_counter()
    device = x_train.device
    members = members_of(masks)  # [M, s]
    m, s = members.shape
    template, params, buffers = init_stacked(factory, seeds)
    params = {k: v.to(device).requires_grad_() for k, v in params.items()}
    buffers = {k: v.to(device) for k, v in buffers.items()}
    base = template.to("meta")

    def one(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (x,))

    forward = vmap(one, randomness="different")
    bs = min(trainer.batch_size, s)
    opt, sched = make_optimizer(list(params.values()), trainer, -(-s // bs))
    if scaler is None and needs_loss_scaling(trainer.precision):
        scaler = GroupGradScaler(m, device)
    image_hw = augment_shape(x_train, trainer)
    base.train()
    for epoch in range(trainer.epochs):
        for idx, draws in epoch_batches(seeds, epoch, members, bs, device, image_hw):  # idx [M, B]
            xb, yb = x_train[idx], y_train[idx]  # [M, B, ...], [M, B]
            if draws is not None:
                xb = apply_augment(xb.flatten(0, 1), draws.flatten(1)).view_as(xb)
            with autocast_for(trainer.precision, device):
                logits = forward(params, buffers, xb)  # [M, B, C]
            if scaler is None:
                loss = nn.functional.cross_entropy(logits.flatten(0, 1).float(), yb.flatten(), reduction="sum",
                                                   label_smoothing=trainer.label_smoothing)
                (loss / idx.shape[1]).backward()  # sum over models of per-model mean loss
                opt.step()
            else:
                losses = nn.functional.cross_entropy(logits.flatten(0, 1).float(), yb.flatten(), reduction="none",
                                                     label_smoothing=trainer.label_smoothing).view(m, -1)
                (scaler.scaled(losses.sum(1)) / idx.shape[1]).backward()
                scaler.step(opt, list(params.values()))
            opt.zero_grad(set_to_none=True)
            sched.step()
            if on_step:
                on_step()
    train_seconds = time.perf_counter() - start
    base.eval()
    margins, accuracy = {}, np.full(m, np.nan)
    with torch.no_grad():
        for split, (x, y) in eval_sets.items():
            logits = evaluate_group(forward, params, buffers, x, trainer.flip_tta,
                                    lambda: autocast_for(trainer.precision, device))  # [M, n, C]
            margins[split] = correct_class_margin(logits, y.expand(m, -1)).float().cpu().numpy()
            if split == "test":
                accuracy = (logits.argmax(-1) == y).float().mean(1).double().cpu().numpy()
    return GroupResult(margins, accuracy, train_seconds,
                       {k: v.detach() for k, v in params.items()}, buffers)


def augment_shape(x_train: torch.Tensor, trainer: DictConfig) -> tuple[int, int] | None:
    """(H, W) of the images to augment when `trainer.augment` is on, else None; augmenting features is an error."""
    if not trainer.augment:
        return None
    if x_train.ndim != 4:
        raise ValueError(f"trainer.augment=true needs images [N, C, H, W]; this data has shape {tuple(x_train.shape)}")
    return int(x_train.shape[2]), int(x_train.shape[3])


def evaluate_group(forward, params, buffers, x: torch.Tensor, flip_tta: bool, autocast=None,
                   max_rows: int = 2**22) -> torch.Tensor:
    """Logits [M, n, C] of every model on every row of x [n, ...], in slices that bound memory."""
    m = next(iter(params.values())).shape[0]
    per = max(1, max_rows // (m * max(1, x[0].numel())))
    outs = []
    for first in range(0, len(x), per):
        xs = x[first : first + per].expand(m, *x[first : first + per].shape)
        with autocast() if autocast else torch.autocast(x.device.type, enabled=False):
            logits = forward(params, buffers, xs).float()
            if flip_tta and x.ndim == 4:
                logits = (logits + forward(params, buffers, xs.flip(-1)).float()) / 2
        outs.append(logits)
    return torch.cat(outs, dim=1)
