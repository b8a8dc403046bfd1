-- Raw datamodel weights written by `dm fit`: datamodels/split=<s>/block=<b>.parquet, one file per target block.
-- The block lives in the file name (not a directory), so it is parsed from `filename` rather than by hive_types.
SELECT split, regexp_extract(filename, 'block=([0-9]+)\.parquet$', 1)::INTEGER AS block,
       example_id, train_id, weight
FROM read_parquet('{{lake}}/datamodels/*/*.parquet', hive_partitioning = true,
                  hive_types = {'split': VARCHAR}, filename = true)
