-- Evaluation metrics: every lake/<exp>/eval/metrics/*.parquet file (metric, value, n [, split, ...]) stacked.
-- dm.analyze.views.evaluate.evaluate_heldout writes heldout.parquet (lds, pearson, spearman, mse per split);
-- retraining experiments add their own files. Columns a file lacks are NULL; extra columns are kept.
SELECT * FROM stg_metrics
