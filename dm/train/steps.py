"""What a model sees at every training step, shared by every engine: batch order and augmentation draws.

Both are pure functions of the model's seed (`dm.train.subsets`), so an engine that trains models one at a
time, in vmapped groups of any size, or in several processes feeds every model id exactly the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from dm.data.augment import draws_from_keys
from dm.train.subsets import augment_keys, batch_order


def epoch_batches(seeds: np.ndarray, epoch: int, members: np.ndarray, batch_size: int, device: torch.device,
                  image_hw: tuple[int, int] | None) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (idx int64 [M, B], draws int64 [5, M, B] or None) for each step of `epoch`.

    members: int64 [M, s] each model's training ids; image_hw: (H, W) to draw augmentations for, None for none.
    The last batch of an epoch is smaller when batch_size does not divide s (as a DataLoader without drop_last).
    """
    order = torch.from_numpy(batch_order(seeds, epoch, members)).to(device)  # [M, s]
    s = members.shape[1]
    draws = None
    if image_hw is not None:
        draws = draws_from_keys(augment_keys(seeds, epoch, s), *image_hw).to(device)  # [5, M, s]
    for first in range(0, s, batch_size):
        step = slice(first, first + batch_size)
        yield order[:, step], (draws[:, :, step] if draws is not None else None)
