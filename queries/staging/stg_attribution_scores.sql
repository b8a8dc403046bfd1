-- Raw LDS-vs-cost rows written by `dm eval` (dm.analyze.experiments.attribution): one per attribution method run
-- (and per model count for the lake-trained methods), scored on the held-out models of `dm fit`.
SELECT * FROM read_parquet('{{lake}}/eval/attribution/scores.parquet')
