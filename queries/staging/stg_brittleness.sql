-- Raw brittleness CDF written by dm.analyze.experiments.brittleness (`dm eval`).
SELECT ranker, variant, k, fraction, n_targets FROM read_parquet('{{lake}}/eval/brittleness/cdf.parquet')
