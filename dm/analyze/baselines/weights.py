"""Datamodel weights as dense matrices, the form the rankers and retraining experiments use."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dm.lake.store import Lake
from dm.lake.weights import read_datamodels


@dataclass
class DatamodelWeights:
    """Per split: W float32 [d, n_split] (column j = θ_j) and bias float32 [n_split] (NaN = target not fitted).

    `mask @ W[:, j] + bias[j]` is the predicted margin of target j for a model trained on `mask`.
    """

    d: int
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    bias: dict[str, np.ndarray] = field(default_factory=dict)

    def fitted(self, split: str) -> np.ndarray:
        """bool [n_split]: targets with a datamodel (finite bias)."""
        return np.isfinite(self.bias[split]) if split in self.bias else np.zeros(0, bool)

    def digest(self) -> str:
        """sha256 of all arrays: identifies the weights an evaluation used."""
        h = hashlib.sha256()
        for split in sorted(self.weights):
            h.update(split.encode())
            h.update(np.ascontiguousarray(self.weights[split], dtype=np.float32).tobytes())
            h.update(np.ascontiguousarray(self.bias[split], dtype=np.float32).tobytes())
        return h.hexdigest()


def load_weights(lake: Lake | Path | str, splits: tuple[str, ...] = ("test", "train")) -> DatamodelWeights:
    """Every datamodel of `splits` as dense matrices (via `dm.lake.weights.read_datamodels`). Splits that have
    not been fitted yet are left out."""
    lake = lake if isinstance(lake, Lake) else Lake.open(Path(lake))
    out = DatamodelWeights(lake.d)
    for split in splits:
        if not any(lake.layout.fit_dir("datamodel_fits", split).glob("*.parquet")):
            continue
        dms = read_datamodels(lake, split)
        w = np.zeros((lake.d, lake.split_size(split)), np.float32)
        w[:, dms.example_ids] = dms.weights.T.toarray()
        b = np.full(lake.split_size(split), np.nan, np.float32)
        b[dms.example_ids] = dms.bias
        out.weights[split], out.bias[split] = w, b
    return out
