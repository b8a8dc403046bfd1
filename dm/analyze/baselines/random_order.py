"""The paper's random baseline (F.3.1): a random ordering of the training examples of the target's class, fixed
per target (so top-k sets are nested across k) but different across targets; other classes come after."""

from __future__ import annotations

import numpy as np

from dm.ids import ranking_uniforms


class RandomRanker:
    """Random same-class order per target, seeded by (seed, split, target id)."""

    name = "random"
    calibration = "affine"

    def __init__(self, train_labels: np.ndarray, test_labels: np.ndarray, seed: int = 0, same_class: bool = True):
        self.labels = {"train": np.asarray(train_labels), "test": np.asarray(test_labels)}
        self.seed = seed
        self.same_class = same_class

    def scores(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids), d]: uniform [0, 1) per (target, train example), +1 for the target's class."""
        ids = np.asarray(ids, np.int64)
        d = len(self.labels["train"])
        uniform = ranking_uniforms(self.seed, split == "train", ids, d)
        if self.same_class:
            uniform += self.labels[split][ids][:, None] == self.labels["train"][None, :]
        return uniform.astype(np.float32)
