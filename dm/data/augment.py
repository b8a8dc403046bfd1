"""Batch image augmentation of the paper's CIFAR-10 recipe, on the device (no per-image Python).

The random draws are separate from their application: `draws_from_keys` turns per-image 64-bit keys (a pure
function of a model's seed, `dm.train.subsets.augment_keys`) into crop offsets, flips and cutout centres, so a
model sees the same augmented images whether it is trained alone or in a group of any size.
"""

from __future__ import annotations

import numpy as np
import torch


def _uniform(keys: np.ndarray, shift: int, n: int, bits: int = 16) -> np.ndarray:
    """Integers in [0, n) from the `bits`-wide field of `keys` at `shift` (multiply-shift, bias < n / 2**bits)."""
    field = (keys >> np.uint64(shift)) & np.uint64((1 << bits) - 1)
    return (field * np.uint64(n)) >> np.uint64(bits)


def draws_from_keys(keys: np.ndarray, height: int, width: int, pad: int = 4) -> torch.Tensor:
    """int64 [5, ...]: per-key (dy, dx, flip, cy, cx) — crop offsets in [0, 2·pad], flip in {0, 1} and cutout
    centre in [0, height) x [0, width) — from uint64 keys [...] (disjoint bit fields: 0-15, 16-31, 63, 32-47, 48-62)."""
    keys = np.asarray(keys, dtype=np.uint64)
    fields = [_uniform(keys, 0, 2 * pad + 1), _uniform(keys, 16, 2 * pad + 1), keys >> np.uint64(63),
              _uniform(keys, 32, height), _uniform(keys, 48, width, 15)]
    return torch.from_numpy(np.stack(fields).astype(np.int64))


def random_draws(gen: torch.Generator, n: int, height: int, width: int, pad: int = 4) -> torch.Tensor:
    """int64 [5, n] draws from a torch generator (for callers without per-image keys)."""
    dev = gen.device
    return torch.stack([torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=dev),
                        torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=dev),
                        (torch.rand(n, generator=gen, device=dev) < 0.5).long(),
                        torch.randint(0, height, (n,), generator=gen, device=dev),
                        torch.randint(0, width, (n,), generator=gen, device=dev)])


def apply_augment(x: torch.Tensor, draws: torch.Tensor, pad: int = 4, cutout: int = 8) -> torch.Tensor:
    """Random crop (reflect padding `pad`), horizontal flip and `cutout`x`cutout` erasing of x [N, C, H, W]
    with the given draws (int64 [5, N] on x's device, see `draws_from_keys`)."""
    n, c, h, w = x.shape
    dy, dx, flip, cy, cx = draws
    dev = x.device
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect")
    rows = dy[:, None] + torch.arange(h, device=dev)[None, :]  # [N, H]
    cols = dx[:, None] + torch.arange(w, device=dev)[None, :]  # [N, W]
    out = padded[torch.arange(n, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    out = torch.where(flip.bool()[:, None, None, None], out.flip(-1), out)
    ys = torch.arange(h, device=dev)[None, :, None]
    xs = torch.arange(w, device=dev)[None, None, :]
    hole = ((ys - cy[:, None, None]).abs() * 2 < cutout) & ((xs - cx[:, None, None]).abs() * 2 < cutout)
    return out.masked_fill(hole[:, None], 0.0)
