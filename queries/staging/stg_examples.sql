-- Raw examples table written by `dm prepare`: one row per example of both splits.
SELECT split, example_id, label, target FROM read_parquet('{{lake}}/examples/examples.parquet')
