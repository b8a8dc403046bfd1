"""Read the solver's datamodels of one split into a sparse matrix (rows = targets, columns = train ids)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from dm.lake.store import Lake, LakeError


@dataclass(frozen=True)
class SplitDatamodels:
    """Datamodels of every fitted target of one split.

    Attributes:
        split: 'train' or 'test'.
        example_ids: int64 [n], ascending target ids (rows of `weights`).
        bias: float64 [n], intercepts in raw mask space (margin units).
        weights: float64 CSR [n, d]; row j is θ of target example_ids[j], so predictions = masks @ weights.T + bias.
    """

    split: str
    example_ids: np.ndarray
    bias: np.ndarray
    weights: sp.csr_matrix


def _read_dir(layout_dir, what: str) -> pa.Table:
    files = sorted(layout_dir.glob("*.parquet"))
    if not files:
        raise LakeError(f"no {what} under {layout_dir}: run `dm fit` first")
    return pa.concat_tables([pq.read_table(f) for f in files])


def read_datamodels(lake: Lake, split: str) -> SplitDatamodels:
    """All datamodels of `split` (datamodels/ and datamodel_fits/ Parquet, see lake/README.md)."""
    layout = lake.layout
    fits = _read_dir(layout.fit_dir("datamodel_fits", split), "datamodel_fits").sort_by("example_id")
    example_ids = fits.column("example_id").to_numpy().astype(np.int64)
    bias = fits.column("bias").to_numpy().astype(np.float64)
    weights = _read_dir(layout.fit_dir("datamodels", split), "datamodels")
    target = weights.column("example_id").to_numpy().astype(np.int64)
    train = weights.column("train_id").to_numpy().astype(np.int64)
    value = weights.column("weight").to_numpy().astype(np.float64)
    row = np.searchsorted(example_ids, target)
    known = (row < len(example_ids)) & (example_ids[np.minimum(row, len(example_ids) - 1)] == target)
    if not known.all():
        raise LakeError(f"{split} datamodels name targets without a datamodel_fits row, e.g. {target[~known][:5]}")
    matrix = sp.csr_matrix((value, (row, train)), shape=(len(example_ids), lake.d))
    return SplitDatamodels(split, example_ids, bias, matrix)
