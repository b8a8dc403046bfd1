"""Declared Arrow schemas of the lake's physical tables (the views in `queries/` sit on these)."""

from __future__ import annotations

import pyarrow as pa

from dm.lake.info import LAKE_FORMAT  # noqa: F401  (defined there, without pyarrow, for `dm sql`)

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


MARGINS = pa.schema([("model_id", pa.int64()), ("example_id", pa.int32()), ("margin", pa.float32())])
"""Long form: one row per (model, example) of one split; `margins/split=<split>/part-<part>.parquet`."""

# How the margins of a part are laid out (bench/lake_scale.py measures it; numbers from a 20,000-model x 60,000
# -example lake, DuckDB 2.0, 2 cores). One row group per target block, so `dm fit` reads one row group per part
# for a block and a lookup's statistics skip the other blocks. Inside a row group, rows run over groups of
# MARGINS_GROUP models: example-major within a group, so one example's margins in a group are adjacent (one
# data page) and one model's margins in a block are MARGINS_GROUP x block rows (a few pages). With 8 KiB data
# pages DuckDB reads only those pages: one example across 20,000 models decodes ~10 MB instead of the block's
# 80 MB, one model reads 59 row groups of 40 files instead of opening 2,360 (one file per block and part), and
# row-group count, not bytes, was what made a one-model lookup slow. Ids are delta-encoded (a few bits per
# row); margins byte-stream-split + zstd take 3.5 bytes each (random normals; raw 4).
MARGINS_GROUP = 32
MARGINS_PARQUET = {"use_dictionary": False, "data_page_size": 8 << 10, "compression": "zstd",
                   "column_encoding": {"model_id": "DELTA_BINARY_PACKED", "example_id": "DELTA_BINARY_PACKED",
                                       "margin": "BYTE_STREAM_SPLIT"}}


# Datamodel weights are written target-major in row groups of 2^16 weights (~26 targets at 2,500 nonzeros), so
# a one-target lookup reads one row group by example_id statistics instead of every weight of the block; train
# ids ascend within a target (delta-encoded) and weights are byte-stream-split. At 2,500 weights per target:
# 4.6 bytes per weight vs 5.7 train-major with pyarrow's defaults, top-20 of one target 25x faster, a
# counterfactual over 1,280 ids 2x faster (one 2.56M-weight block, DuckDB).
DATAMODELS_PARQUET = {"row_group_size": 1 << 16, "use_dictionary": ["example_id"],
                      "column_encoding": {"train_id": "DELTA_BINARY_PACKED", "weight": "BYTE_STREAM_SPLIT"}}
