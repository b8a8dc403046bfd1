"""Mixed precision for every engine: the autocast context of `trainer.precision` and dynamic loss scaling.

Autocast comes from the trainer config itself (not from a Fabric object), so a model id trained by `dm train`,
by a counterfactual retraining or by a benchmark runs in the same precision. fp16 (`16-mixed`) needs loss
scaling; bf16 does not. A vmapped group gets one loss scale per model (`GroupGradScaler`), which skips exactly
the steps `torch.amp.GradScaler` would skip for that model trained alone, so models stay independent.
"""

from __future__ import annotations

import contextlib

import torch

AUTOCAST_DTYPES = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def autocast_for(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """torch.autocast for the mixed precisions, a disabled autocast otherwise (32-true, 64-true)."""
    dtype = AUTOCAST_DTYPES.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def needs_loss_scaling(precision: str) -> bool:
    return precision == "16-mixed"


class GroupGradScaler:
    """`torch.amp.GradScaler`'s dynamic loss scaling with one scale per model of a vmapped group.

    Model k's loss is multiplied by scale[k]; after backward its gradient slices are unscaled; a model whose
    gradients are not finite skips the step (its parameters and momentum are restored) and halves its scale;
    a model with `growth_interval` finite steps in a row doubles it — the rules of torch's GradScaler per model.
    """

    def __init__(self, m: int, device: torch.device, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                 backoff_factor: float = 0.5, growth_interval: int = 2000):
        self.scale = torch.full((m,), init_scale, dtype=torch.float32, device=device)
        self.tracker = torch.zeros(m, dtype=torch.int64, device=device)
        self.growth_factor, self.backoff_factor, self.growth_interval = growth_factor, backoff_factor, growth_interval

    def scaled(self, per_model_loss: torch.Tensor) -> torch.Tensor:
        """sum_k scale[k]·loss[k] for loss [M] (backward of it gives each model its scaled gradient)."""
        return (per_model_loss.float() * self.scale).sum()

    def step(self, opt: torch.optim.SGD, params: list[torch.Tensor]) -> torch.Tensor:
        """Unscale, step the models with finite gradients only, update the scales; returns the skipped mask [M]."""
        bad = torch.zeros_like(self.tracker, dtype=torch.bool)
        params = [p for p in params if p.grad is not None]
        for p in params:
            p.grad.mul_((1.0 / self.scale).view(-1, *[1] * (p.ndim - 1)))
            bad |= ~torch.isfinite(p.grad).flatten(1).all(1)
        skipped = bool(bad.any())
        if skipped:
            kept = [(p, p.detach()[bad].clone(), _momentum(opt, p, bad)) for p in params]
            for p in params:
                p.grad[bad] = 0.0
        opt.step()
        if skipped:
            with torch.no_grad():
                for p, value, momentum in kept:
                    p[bad] = value
                    buf = opt.state[p].get("momentum_buffer")
                    if buf is not None:  # a never-created buffer equals a zero one for SGD without dampening
                        buf[bad] = momentum if momentum is not None else 0.0
        grown = (self.tracker + 1 == self.growth_interval) & ~bad
        self.scale = torch.where(bad, self.scale * self.backoff_factor,
                                 torch.where(grown, self.scale * self.growth_factor, self.scale))
        self.tracker = torch.where(bad | grown, 0, self.tracker + 1)
        return bad


def _momentum(opt: torch.optim.Optimizer, p: torch.Tensor, rows: torch.Tensor) -> torch.Tensor | None:
    buf = opt.state.get(p, {}).get("momentum_buffer")
    return None if buf is None else buf[rows].clone()
