"""Declared Arrow schemas of the lake's physical tables (the views in `queries/` sit on these)."""

from __future__ import annotations

import pyarrow as pa

LAKE_FORMAT = 2  # 2: commit records (_records/). Bump when the layout changes; older lakes are refused

EXAMPLES = pa.schema(
    [
        ("split", pa.string()),
        ("example_id", pa.int32()),
        ("label", pa.int32()),  # class id; for regression data sets the rounded target is meaningless: -1
        ("target", pa.float64()),  # regression target (linear_sim); null for classification
    ]
)

MODELS = pa.schema(
    [
        ("model_id", pa.int64()),
        ("alpha", pa.float64()),
        ("seed", pa.int64()),  # per-model seed derived from (experiment seed, alpha, model_id)
        ("n_included", pa.int32()),
        ("test_accuracy", pa.float64()),  # null for regression
        ("train_seconds", pa.float64()),  # wall time of the model's training group / models in it
        ("code_version", pa.string()),
    ]
)


def masks_schema(d: int) -> pa.Schema:
    """One row per model; `mask` is the bit-packed subset (see `dm.lake.bits`)."""
    return pa.schema([("model_id", pa.int64()), ("mask", pa.binary((d + 7) // 8))])


def margins_schema(block_len: int) -> pa.Schema:
    """One row per model; `margin[k]` is the margin on example `block * block_size + k` of the split."""
    return pa.schema([("model_id", pa.int64()), ("margin", pa.list_(pa.float32(), block_len))])


# Parquet options of the margins files. Dictionary encoding (pyarrow's default) suits repeated values, not
# margins: on float32 margins it made files 1.47x their raw size and reads 10x slower; plain BYTE_STREAM_SPLIT
# + zstd stores them at 0.84x raw (1,000 models x 256 targets; bench/solve_scale.py reports bytes per model).
# Row groups of 64 models let a one-model lookup skip the rest of a part by model_id statistics.
MARGINS_PARQUET = {"use_dictionary": False, "row_group_size": 64,
                   "column_encoding": {"margin.list.element": "BYTE_STREAM_SPLIT", "model_id": "PLAIN"}}
# Datamodel weights are written target-major in row groups of 2^16 weights (~26 targets at 2,500 nonzeros), so
# a one-target lookup reads one row group by example_id statistics instead of every weight of the block; train
# ids ascend within a target (delta-encoded) and weights are byte-stream-split. At 2,500 weights per target:
# 4.6 bytes per weight vs 5.7 train-major with pyarrow's defaults, top-20 of one target 25x faster, a
# counterfactual over 1,280 ids 2x faster (one 2.56M-weight block, DuckDB).
DATAMODELS_PARQUET = {"row_group_size": 1 << 16, "use_dictionary": ["example_id"],
                      "column_encoding": {"train_id": "DELTA_BINARY_PACKED", "weight": "BYTE_STREAM_SPLIT"}}
