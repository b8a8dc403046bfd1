-- Raw per-target fit summaries written by `dm fit`: datamodel_fits/split=<s>/block=<b>.parquet. Fits written
-- before the solver's certificates lack converged/duality_gap/kkt_residual/status: they read as NULL.
SELECT split, regexp_extract(filename, 'block=([0-9]+)\.parquet$', 1)::INTEGER AS block,
       example_id, bias, "lambda", val_mse, nnz, n_models_used, converged, duality_gap, kkt_residual, status
FROM (
    SELECT * FROM (SELECT NULL::BOOLEAN AS converged, NULL::DOUBLE AS duality_gap, NULL::DOUBLE AS kkt_residual,
                          NULL::VARCHAR AS status WHERE false)
    UNION ALL BY NAME
    SELECT * FROM read_parquet('{{lake}}/datamodel_fits/*/*.parquet', hive_partitioning = true,
                               hive_types = {'split': VARCHAR}, filename = true, union_by_name = true)
)
