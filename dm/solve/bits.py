"""Bit-packed training-subset masks.

Convention (numpy ``packbits(..., bitorder="little")``): a mask over ``d`` training examples is stored
as ``ceil(d / 8)`` uint8 bytes; train id ``i`` lives in byte ``i // 8``, bit ``i % 8`` (least significant
bit first). A batch of ``m`` masks is a uint8 tensor of shape ``[m, ceil(d / 8)]``. The solver keeps masks
packed and unpacks one minibatch of rows at a time (see :mod:`dm.solve.kernels`).
"""

from __future__ import annotations

import numpy as np
import torch

from dm.lake import bits as lake_bits

__all__ = ["num_bytes", "pack_masks", "unpack_masks", "check_packed"]


def num_bytes(num_train: int) -> int:
    """Bytes per packed mask over ``num_train`` training examples: ``ceil(num_train / 8)``."""
    return lake_bits.packed_width(num_train)


def pack_masks(masks: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Pack 0/1 (or bool) masks ``[m, d]`` into a uint8 tensor ``[m, ceil(d/8)]`` (little bit order)."""
    arr = masks.detach().cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
    if arr.ndim != 2:
        raise ValueError(f"masks must be 2-D [models, train examples], got shape {arr.shape}")
    return torch.from_numpy(lake_bits.pack_masks(arr))


def unpack_masks(packed: torch.Tensor, num_train: int) -> torch.Tensor:
    """Unpack a whole uint8 tensor ``[m, ceil(d/8)]`` into bool ``[m, d]`` (small data and tests only)."""
    check_packed(packed, num_train)
    shifts = torch.arange(8, device=packed.device, dtype=torch.uint8)
    bits = (packed.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(packed.shape[0], -1)[:, :num_train].bool()


def check_packed(packed: torch.Tensor, num_train: int) -> None:
    """Raise ValueError unless ``packed`` is a 2-D uint8 tensor with ``ceil(num_train/8)`` columns."""
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8 or packed.ndim != 2:
        got = getattr(packed, "dtype", type(packed)), getattr(packed, "shape", None)
        raise ValueError(f"packed masks must be a 2-D uint8 tensor [models, ceil(d/8)], got {got}")
    if num_train < 1:
        raise ValueError(f"num_train (d) must be >= 1, got {num_train}")
    if packed.shape[1] != num_bytes(num_train):
        raise ValueError(
            f"packed masks have {packed.shape[1]} bytes per row; d={num_train} needs {num_bytes(num_train)}"
        )
