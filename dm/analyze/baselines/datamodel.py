"""Datamodels as a ranker: the score of training example i for target j is θ_j[i] (margin units)."""

from __future__ import annotations

import numpy as np

from dm.analyze.baselines.weights import DatamodelWeights


class DatamodelRanker:
    """Ranks by the datamodel weights; `predicted_delta` gives the datamodel's counterfactual prediction."""

    name = "datamodels"
    calibration = "native"

    def __init__(self, weights: DatamodelWeights):
        self.weights = weights

    def scores(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids), d]: θ_j for each target j."""
        if split not in self.weights.weights:
            raise KeyError(f"no datamodel weights for split {split!r}; run `dm fit` first")
        return np.ascontiguousarray(self.weights.weights[split][:, np.asarray(ids, np.int64)].T)

    def bias(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids)]: b_j of each target (NaN where not fitted)."""
        return self.weights.bias[split][np.asarray(ids, np.int64)]

    def predicted_delta(self, split: str, target: int, removed: np.ndarray) -> float:
        """Predicted margin change of removing train ids `removed`: −Σ_{i∈R} θ_i (paper §4.1.2)."""
        return -float(self.weights.weights[split][np.asarray(removed, np.int64), target].astype(np.float64).sum())
