"""The one interface every attribution method implements, so retraining experiments can run on any of them.

A ranker scores every training example for a target: higher = more supportive of the target's correct-class
margin (removing it is expected to lower the margin most). Retraining experiments use the *order* of the scores
(top-k removal, nearest-neighbour recall); the LDS comparison of `dm eval` uses the scores themselves as a linear
model of subset models' margins, prediction = mask @ scores_j (calibrated per target as the ranker's
`calibration` says: see `dm.analyze.baselines.prediction`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Ranker(Protocol):
    """Scores of training examples for targets of one split."""

    name: str
    calibration: str  # "native" | "bias" | "affine" (dm.analyze.baselines.prediction)

    def scores(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids), d]: support of each training example for each target `ids` (0-based, in `split`)."""
        ...


def ranking(scores: np.ndarray) -> np.ndarray:
    """int64 [n, d]: training ids of each row of `scores` [n, d], most supportive first (ties: lower id first)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), axis=1, kind="stable").astype(np.int64)


def top_k(ranker: Ranker, split: str, ids: np.ndarray, k: int) -> np.ndarray:
    """int64 [len(ids), k]: each target's k most supportive training ids."""
    return ranking(ranker.scores(split, np.asarray(ids, dtype=np.int64)))[:, :k]
