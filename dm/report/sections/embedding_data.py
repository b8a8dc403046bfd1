"""The `embedding` view as arrays, shared by the PCA and cluster sections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dm.report.context import ReportContext
from dm.report.source import SectionUnavailable


@dataclass
class Embedding:
    split: str
    example_ids: np.ndarray  # int [n]
    pcs: np.ndarray  # float [n, k]
    clusters: np.ndarray | None  # int [n] (-1 where NULL), None when no example has a cluster


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    """A list column as a float matrix [n, k], k the shortest list length."""
    lists = column.combine_chunks()
    offsets = lists.offsets.to_numpy()
    lengths = np.diff(offsets)
    k = int(lengths.min()) if len(lengths) else 0
    values = lists.flatten().to_numpy(zero_copy_only=False).astype(float)
    index = offsets[:-1, None] - offsets[0] + np.arange(k)[None, :]
    return values[index] if k else np.zeros((len(lengths), 0))


def load_embedding(ctx: ReportContext) -> Embedding:
    """The preferred split's embeddings (test if present); SectionUnavailable if the view is empty or missing."""
    ctx.views.require("embedding", "dm fit")
    split = ctx.preferred_split("embedding")
    if split is None:
        raise SectionUnavailable("the `embedding` view has no rows yet: run `dm fit`")
    table = ctx.views.table(
        "SELECT example_id, pc, cluster FROM embedding WHERE split = ? AND pc IS NOT NULL ORDER BY example_id",
        [split],
    )
    ids = table.column("example_id").to_numpy(zero_copy_only=False).astype(np.int64)
    pcs = _matrix(table.column("pc"))
    raw = table.column("cluster").to_pylist()
    clusters = None if all(c is None for c in raw) else np.array([-1 if c is None else int(c) for c in raw])
    return Embedding(split, ids, pcs, clusters)
