"""Bit-packed subset masks: train id i of a model lives in byte i // 8, bit i % 8 (little bit order)."""

from __future__ import annotations

import numpy as np


def packed_width(d: int) -> int:
    """Bytes per packed mask of `d` training examples."""
    return (d + 7) // 8


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """bool [m, d] -> uint8 [m, ceil(d/8)]."""
    return np.packbits(np.asarray(masks, dtype=bool), axis=1, bitorder="little")


def unpack_masks(packed: np.ndarray, d: int) -> np.ndarray:
    """uint8 [m, ceil(d/8)] -> bool [m, d]."""
    return np.unpackbits(packed, axis=1, count=d, bitorder="little").astype(bool)
