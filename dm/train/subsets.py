"""Subsets, seeds and batch orders as pure functions of (experiment seed, alpha, model_id).

A counter-based hash (splitmix64) instead of stateful generators: any model's subset and batch order can be
regenerated alone, on any rank, in any order, so a crashed run resumes without duplicates and a model trained
in a group of 1,000 is the same model as one trained alone.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK63 = np.uint64((1 << 63) - 1)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _mix(*parts: np.ndarray | int) -> np.ndarray:
    h = np.uint64(0)
    for part in parts:
        with np.errstate(over="ignore"):
            h = splitmix64(np.asarray(h, np.uint64) ^ np.asarray(part).astype(np.uint64))
    return h


def subset_size(alpha: float, d: int) -> int:
    """round(alpha * d), the size of every subset (D_S of DESIGN.md)."""
    return int(round(alpha * d))


def model_seeds(experiment_seed: int, alpha: float, model_ids: np.ndarray) -> np.ndarray:
    """int64 [M] seeds (63-bit, non-negative) for init and batch order."""
    alpha_key = int(round(alpha * 1_000_000))
    return (_mix(experiment_seed, alpha_key, np.asarray(model_ids, np.int64)) & _MASK63).astype(np.int64)


def subset_masks(seeds: np.ndarray, d: int, size: int) -> np.ndarray:
    """bool [M, d]: each model's subset, the `size` examples with the smallest hash keys."""
    keys = _mix(seeds[:, None], 0x5B5E7, np.arange(d)[None, :])
    chosen = np.argpartition(keys, size - 1, axis=1)[:, :size] if size < d else np.tile(np.arange(d), (len(seeds), 1))
    masks = np.zeros((len(seeds), d), dtype=bool)
    np.put_along_axis(masks, chosen, True, axis=1)
    return masks


def batch_order(seeds: np.ndarray, epoch: int, members: np.ndarray) -> np.ndarray:
    """int64 [M, s]: each model's training ids in the order it sees them in `epoch`.

    members: int64 [M, s], each row the (sorted) training ids of that model's subset.
    """
    keys = _mix(seeds[:, None], 0xBA7C4 + epoch, np.arange(members.shape[1])[None, :])
    return np.take_along_axis(members, np.argsort(keys, axis=1, kind="stable"), axis=1)


def members_of(masks: np.ndarray) -> np.ndarray:
    """int64 [M, s] sorted training ids of each mask (all rows must have the same size s)."""
    sizes = masks.sum(axis=1)
    if len(sizes) and (sizes != sizes[0]).any():
        raise ValueError("members_of: masks of one training group must all have the same size")
    return np.nonzero(masks)[1].reshape(len(masks), -1).astype(np.int64)
