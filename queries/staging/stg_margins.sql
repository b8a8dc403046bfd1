-- Raw margins: one row per (model, target block); margin[k] is example block * {{target_block}} + k.
SELECT model_id, split, block, margin
FROM read_parquet('{{lake}}/margins/*/*/part-*.parquet', hive_partitioning = true,
                  hive_types = {'split': VARCHAR, 'block': INTEGER})
WHERE model_id IN (SELECT model_id FROM stg_models)
