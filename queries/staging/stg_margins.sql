-- Raw margins, long form: one row per (model, example) of each split; one file per (split, part), one row group
-- per target block (dm/lake/margins.py). A filter on split prunes files by their directory, one on example_id
-- or model_id skips row groups and data pages by their statistics.
SELECT model_id, split, example_id, margin
FROM read_parquet('{{lake}}/margins/*/part-*.parquet', hive_partitioning = true, hive_types = {'split': VARCHAR})
WHERE model_id IN (SELECT model_id FROM stg_models)
