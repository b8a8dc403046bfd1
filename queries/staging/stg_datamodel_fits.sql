-- Raw per-target fit summaries written by `dm fit`: datamodel_fits/split=<s>/block=<b>.parquet.
SELECT split, regexp_extract(filename, 'block=([0-9]+)\.parquet$', 1)::INTEGER AS block,
       example_id, bias, "lambda", val_mse, nnz, n_models_used
FROM read_parquet('{{lake}}/datamodel_fits/*/*.parquet', hive_partitioning = true,
                  hive_types = {'split': VARCHAR}, filename = true)
