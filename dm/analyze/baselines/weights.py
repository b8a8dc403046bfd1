"""Datamodel weights as dense matrices: the reader of the solver's `datamodels/` and `datamodel_fits/` files.

Layout (lake/README.md): `datamodels/split=<s>/block=<b>.parquet` with example_id, train_id, weight (nonzero
weights only, raw 0/1 mask space) and `datamodel_fits/split=<s>/block=<b>.parquet` with example_id, bias, ....
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from dm.lake.store import Lake


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


def weights_from_sparse(d: int, n: int, example_id: np.ndarray, train_id: np.ndarray, weight: np.ndarray,
                        fit_ids: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense (W float32 [d, n], bias float32 [n]) from long-format rows; targets without a fit row get NaN bias."""
    w = np.zeros((d, n), np.float32)
    w[np.asarray(train_id, np.int64), np.asarray(example_id, np.int64)] = np.asarray(weight, np.float32)
    b = np.full(n, np.nan, np.float32)
    b[np.asarray(fit_ids, np.int64)] = np.asarray(bias, np.float32)
    return w, b


def load_weights(lake: Lake | Path | str, splits: tuple[str, ...] = ("test", "train")) -> DatamodelWeights:
    """Read every weights block of `splits` into dense matrices. Splits without any block are left out."""
    lake = lake if isinstance(lake, Lake) else Lake.open(Path(lake))
    root = lake.layout.root
    out = DatamodelWeights(lake.d)
    for split in splits:
        paths = sorted((root / "datamodels" / f"split={split}").glob("block=*.parquet"))
        fits = sorted((root / "datamodel_fits" / f"split={split}").glob("block=*.parquet"))
        if not paths and not fits:
            continue
        cols = {"example_id": [], "train_id": [], "weight": []}
        for path in paths:
            table = pq.read_table(path, columns=list(cols))
            for name in cols:
                cols[name].append(table.column(name).to_numpy())
        fit_ids, bias = [], []
        for path in fits:
            table = pq.read_table(path, columns=["example_id", "bias"])
            fit_ids.append(table.column("example_id").to_numpy())
            bias.append(table.column("bias").to_numpy(zero_copy_only=False))
        cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
        w, b = weights_from_sparse(lake.d, lake.split_size(split), cat["example_id"], cat["train_id"], cat["weight"],
                                   np.concatenate(fit_ids) if fit_ids else np.zeros(0, np.int64),
                                   np.concatenate(bias) if bias else np.zeros(0))
        out.weights[split], out.bias[split] = w, b
    return out
