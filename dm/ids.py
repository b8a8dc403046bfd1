"""Every number dm derives from ids and seeds: subsets, seeds, batch orders, model roles and analysis seed streams.

All are pure functions of (seed, id) through one counter-based hash, splitmix64, instead of stateful generators:
any model's subset and batch order can be regenerated alone, on any rank, in any order, so a crashed run resumes
without duplicates and a model trained in a group of 1,000 is the same model as one trained alone.

This module is the leaf below train, solve and analyze (it imports only numpy). Subsets and model roles define a
lake: tests/train/test_ids_golden.py pins their values, and no change may alter them.

Salts (one per stream, so that no two streams share keys):

=====================  ==============================================  ==========================================
stream                 key                                             used by
=====================  ==============================================  ==========================================
model seed             mix(experiment seed, round(alpha * 1e6), id)    `model_seeds` (init and batch order)
subset                 mix(model seed, SUBSET_SALT, train id)          `subset_masks`
batch order            mix(model seed, BATCH_SALT + epoch, position)   `batch_order`
augmentation draws     mix(model seed, AUGMENT_SALT + epoch, position) `augment_keys` (crop, flip, cutout)
model role             mix(split seed, model id)                       `role_uniforms` (dm.solve.model_roles)
second-seed replicate  mix(model seed ^ SECOND_SEED_SALT)              `second_seeds` (dm.analyze seed noise)
reference models       mix(seed ^ REFERENCE_SALT, index)               `seed_stream` (TracIn / nearest models)
retrain replicates     mix(seed ^ RETRAIN_SALT, replicate)             `seed_stream` (counterfactual retraining)
random ranking         mix(2 seed + is_train ^ target id, train id)    `ranking_uniforms` (random baseline)
=====================  ==============================================  ==========================================
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK63 = np.uint64((1 << 63) - 1)

SUBSET_SALT = 0x5B5E7
BATCH_SALT = 0xBA7C4
AUGMENT_SALT = 0xA0600  # + epoch: below BATCH_SALT for the first 107k epochs
SECOND_SEED_SALT = 0x5EED_0002
REFERENCE_SALT = 0x5EF0
RETRAIN_SALT = 0xC0FFEE


def splitmix64(x: np.ndarray | int) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def mix(*parts: np.ndarray | int) -> np.ndarray:
    """uint64 hash chain h_0 = 0, h_i = splitmix64(h_{i-1} XOR part_i), broadcast over array parts."""
    h = np.uint64(0)
    for part in parts:
        h = splitmix64(np.asarray(h, np.uint64) ^ np.asarray(part).astype(np.uint64))
    return h


def to_seed(h: np.ndarray) -> np.ndarray:
    """int64 seeds (the low 63 bits of a hash: non-negative, valid for torch.Generator.manual_seed)."""
    return (np.asarray(h, np.uint64) & _MASK63).astype(np.int64)


def to_uniform(h: np.ndarray) -> np.ndarray:
    """float64 uniforms in [0, 1): the top 53 bits of a hash."""
    return (np.asarray(h, np.uint64) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


# ------------------------------------------------------------------ training subsets (DESIGN.md: D_S)
def subset_size(alpha: float, d: int) -> int:
    """round(alpha * d), the size of every subset (D_S of DESIGN.md)."""
    return int(round(alpha * d))


def model_seeds(experiment_seed: int, alpha: float, model_ids: np.ndarray) -> np.ndarray:
    """int64 [M] seeds (63-bit, non-negative) for init and batch order."""
    alpha_key = int(round(alpha * 1_000_000))
    return to_seed(mix(experiment_seed, alpha_key, np.asarray(model_ids, np.int64)))


def subset_masks(seeds: np.ndarray, d: int, size: int) -> np.ndarray:
    """bool [M, d]: each model's subset, the `size` examples with the smallest hash keys."""
    keys = mix(seeds[:, None], SUBSET_SALT, np.arange(d)[None, :])
    chosen = np.argpartition(keys, size - 1, axis=1)[:, :size] if size < d else np.tile(np.arange(d), (len(seeds), 1))
    masks = np.zeros((len(seeds), d), dtype=bool)
    np.put_along_axis(masks, chosen, True, axis=1)
    return masks


def batch_order(seeds: np.ndarray, epoch: int, members: np.ndarray) -> np.ndarray:
    """int64 [M, s]: each model's training ids in the order it sees them in `epoch`.

    members: int64 [M, s], each row the (sorted) training ids of that model's subset.
    """
    keys = mix(seeds[:, None], BATCH_SALT + epoch, np.arange(members.shape[1])[None, :])
    return np.take_along_axis(members, np.argsort(keys, axis=1, kind="stable"), axis=1)


def augment_keys(seeds: np.ndarray, epoch: int, n: int) -> np.ndarray:
    """uint64 [M, n]: the key of the augmentation draws (crop, flip, cutout) of position j of each model's
    `epoch` batch order, so a model's augmented images depend only on its own seed (never on its group)."""
    return mix(np.asarray(seeds)[:, None], AUGMENT_SALT + epoch, np.arange(n)[None, :])


def members_of(masks: np.ndarray) -> np.ndarray:
    """int64 [M, s] sorted training ids of each mask (all rows must have the same size s)."""
    sizes = masks.sum(axis=1)
    if len(sizes) and (sizes != sizes[0]).any():
        raise ValueError("members_of: masks of one training group must all have the same size")
    return np.nonzero(masks)[1].reshape(len(masks), -1).astype(np.int64)


# ------------------------------------------------------------------ solver and analysis streams
def role_uniforms(split_seed: int, model_ids: np.ndarray) -> np.ndarray:
    """float64 [M] in [0, 1) per model id; dm.solve.model_roles thresholds it into train / val / test."""
    return to_uniform(mix(split_seed, np.asarray(model_ids, np.int64)))


def second_seeds(seeds: np.ndarray) -> np.ndarray:
    """int64 [M]: another init / batch-order seed for each model seed (deterministic, distinct)."""
    return to_seed(mix(np.asarray(seeds, np.int64).astype(np.uint64) ^ np.uint64(SECOND_SEED_SALT)))


def seed_stream(seed: int, salt: int, count: int) -> np.ndarray:
    """int64 [count]: seeds 0..count-1 of the stream `salt` (REFERENCE_SALT, RETRAIN_SALT) of `seed`."""
    return to_seed(mix(np.uint64(seed) ^ np.uint64(salt), np.arange(count, dtype=np.uint64)))


def ranking_uniforms(seed: int, is_train: bool, target_ids: np.ndarray, d: int) -> np.ndarray:
    """float64 [len(target_ids), d] in [0, 1): a random score per (target, training example), fixed per target."""
    salt = np.uint64(seed * 2 + bool(is_train))
    ids = np.asarray(target_ids, np.int64).astype(np.uint64)
    return to_uniform(mix((salt ^ ids)[:, None], np.arange(d, dtype=np.uint64)[None, :]))
