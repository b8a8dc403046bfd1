-- Raw regularization-path log written by `dm fit`: fit_path/split=<s>/block=<b>.parquet, one row per (target, λ).
SELECT split, regexp_extract(filename, 'block=([0-9]+)\.parquet$', 1)::INTEGER AS block,
       example_id, lambda_index, "lambda", train_mse, val_mse, nnz
FROM read_parquet('{{lake}}/fit_path/*/*.parquet', hive_partitioning = true,
                  hive_types = {'split': VARCHAR}, filename = true)
