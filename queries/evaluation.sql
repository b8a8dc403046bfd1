-- Evaluation metrics: every lake/<exp>/eval/metrics/*.parquet file (metric, value, n [, split, ...]) stacked.
-- dm.analyze.views.evaluate.evaluate_heldout writes heldout.parquet (lds, pearson, spearman, mse per split);
-- retraining experiments add their own files. Columns a file lacks are NULL; extra columns are kept.
SELECT * FROM (SELECT NULL::VARCHAR AS metric, NULL::DOUBLE AS value, NULL::BIGINT AS n, NULL::VARCHAR AS split
               WHERE false)
UNION ALL BY NAME
SELECT * FROM read_parquet('{{lake}}/eval/metrics/*.parquet', union_by_name = true)
