-- Per-target removal predictions written by `dm fit` (dm/lake/rollups.py): counterfactual_topk/split=<s>/block=<b>.parquet.
SELECT split, example_id, k, removed, predicted_delta
FROM read_parquet('{{lake}}/counterfactual_topk/*/*.parquet', hive_partitioning = true,
                  hive_types = {'split': VARCHAR})
