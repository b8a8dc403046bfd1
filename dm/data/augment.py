"""Batch image augmentation of the paper's CIFAR-10 recipe, on the device (no per-image Python)."""

from __future__ import annotations

import torch


def augment_batch(x: torch.Tensor, gen: torch.Generator, pad: int = 4, cutout: int = 8) -> torch.Tensor:
    """Random crop (reflect padding `pad`), horizontal flip and `cutout`x`cutout` erasing. x [N, C, H, W]."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=x.device)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])  # [N, H]
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])  # [N, W]
    out = padded[torch.arange(n, device=x.device)[:, None, None, None], torch.arange(x.shape[1], device=x.device)
                 [None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
    flip = torch.rand(n, generator=gen, device=x.device) < 0.5
    out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    cy = torch.randint(0, h, (n,), generator=gen, device=x.device)
    cx = torch.randint(0, w, (n,), generator=gen, device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    hole = ((ys - cy[:, None, None]).abs() * 2 < cutout) & ((xs - cx[:, None, None]).abs() * 2 < cutout)
    return out.masked_fill(hole[:, None], 0.0)
