"""The margins files: one per (split, part), long form, one row group per target block.

`margins/split=<split>/part-<part>.parquet` holds `schema.MARGINS` rows (model_id, example_id, margin) for the
part's M models on every example of the split. Row group b holds target block b (examples
`[b * target_block, ...)`): M x length rows, ordered by (group of `schema.MARGINS_GROUP` models, example_id,
model_id), see `schema.py` for why. `write_split` and `read_block` are the only code that knows this order;
`read_block` checks it (rows in another order are placed by their own ids).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dm.lake import schema
from dm.lake.errors import LakeError


def _groups(m: int) -> range:
    return range(0, m, schema.MARGINS_GROUP)


def _row_ids(ids: np.ndarray, first: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(model_id int64, example_id int32) of every row of a row group, in the stored order."""
    examples = np.arange(first, first + length, dtype=np.int32)
    model = [np.tile(ids[g : g + schema.MARGINS_GROUP], length) for g in _groups(len(ids))]
    example = [np.repeat(examples, len(ids[g : g + schema.MARGINS_GROUP])) for g in _groups(len(ids))]
    return np.concatenate(model).astype(np.int64), np.concatenate(example)


def block_rows(ids: np.ndarray, values: np.ndarray, first: int) -> pa.Table:
    """One row group: `values` float32 [M, length] of models `ids` int64 [M] (ascending) on examples
    `first ... first + length - 1`, as M * length rows grouped by MARGINS_GROUP models, example-major inside."""
    model, example = _row_ids(ids, first, values.shape[1])
    margin = np.concatenate([values[g : g + schema.MARGINS_GROUP].T.reshape(-1) for g in _groups(len(ids))])
    return pa.table({"model_id": model, "example_id": example, "margin": margin.astype(np.float32, copy=False)},
                    schema=schema.MARGINS)


def write_split(path: Path, ids: np.ndarray, values: np.ndarray, blocks: Iterable[tuple[int, int]]) -> None:
    """Write the margins file of one split: `values` float32 [M, n_split] of models `ids` [M] (ascending),
    one row group per `(first, length)` of `blocks` (the split's target blocks, in order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema.MARGINS, **schema.MARGINS_PARQUET) as writer:
        for first, length in blocks:
            table = block_rows(ids, values[:, first : first + length], first)
            writer.write_table(table, row_group_size=max(1, table.num_rows))


def read_block(path: Path, block: int, first: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(model_ids int64 [M] ascending, float32 [M, length]) of target block `block` in one margins file.

    Rows in `write_split`'s order are reshaped after their ids are checked against that order; rows in any
    other order are placed one by one by their own (model_id, example_id). A row group that is not exactly
    M x length rows of the block's examples, each (model, example) once, is a LakeError naming the file."""
    try:
        table = pq.ParquetFile(path).read_row_group(block)
    except (OSError, pa.ArrowException, IndexError) as err:
        raise LakeError(f"{path}: cannot read row group {block} ({str(err).splitlines()[0][:100]})") from err
    model = table.column("model_id").to_numpy()
    example = table.column("example_id").to_numpy()
    margin = table.column("margin").to_numpy()
    ids = np.sort(pc.unique(table.column("model_id")).to_numpy())
    if len(model) != len(ids) * length:
        raise LakeError(f"{path}: row group {block} is not {len(ids)} models x examples {first}..{first + length - 1}")
    values = np.empty((len(ids), length), np.float32)
    examples = np.arange(first, first + length)[:, None]
    offset = 0
    for g in _groups(len(ids)):  # the order write_split makes, checked group by group: [length, G] each
        size = min(schema.MARGINS_GROUP, len(ids) - g)
        rows = slice(offset, offset + size * length)
        if not ((model[rows].reshape(length, size) == ids[g : g + size]).all()
                and (example[rows].reshape(length, size) == examples).all()):
            break
        values[g : g + size] = margin[rows].reshape(length, size).T
        offset += size * length
    else:
        return ids, values
    return ids, _place(path, block, ids, model, example.astype(np.int64) - first, margin, first, length)


def _place(path: Path, block: int, ids: np.ndarray, model: np.ndarray, example: np.ndarray, margin: np.ndarray,
           first: int, length: int) -> np.ndarray:
    """float32 [M, length]: each row placed by its own ids (rows in another order, e.g. rewritten by a tool)."""
    if example.min(initial=0) < 0 or example.max(initial=0) >= length:
        raise LakeError(f"{path}: row group {block} is not {len(ids)} models x examples {first}..{first + length - 1}")
    rows, seen = np.searchsorted(ids, model), np.zeros((len(ids), length), bool)
    seen[rows, example] = True
    if not seen.all():  # as many rows as cells, so a repeated (model, example) pair left a hole
        raise LakeError(f"{path}: row group {block} repeats a (model, example) pair")
    values = np.empty((len(ids), length), np.float32)
    values[rows, example] = margin
    return values
