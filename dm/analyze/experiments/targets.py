"""The targets of the retraining experiments: a class-balanced random sample of test examples."""

from __future__ import annotations

import numpy as np


def balanced_sample(labels: np.ndarray, n: int, seed: int, eligible: np.ndarray | None = None) -> np.ndarray:
    """int64 [min(n, #eligible)] sorted test ids: round-robin over classes, a seeded random order within each class.

    labels: int [n_test]; eligible: bool [n_test] (e.g. targets that have a datamodel), default all.
    """
    labels = np.asarray(labels)
    eligible = np.ones(len(labels), bool) if eligible is None else np.asarray(eligible, bool)
    rng = np.random.default_rng(seed)
    queues = [rng.permutation(np.nonzero(eligible & (labels == c))[0]).tolist() for c in np.unique(labels)]
    chosen: list[int] = []
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    return np.sort(np.asarray(chosen, np.int64))
