-- Per-target data support (App. F.3.2) written by `dm fit` (dm/lake/rollups.py): support/split=<s>/block=<b>.parquet.
SELECT split, example_id, predicted_margin, support_size, support_ids
FROM read_parquet('{{lake}}/support/*/*.parquet', hive_partitioning = true, hive_types = {'split': VARCHAR})
