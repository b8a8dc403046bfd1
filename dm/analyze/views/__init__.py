"""Python computations behind the lake's evaluation views (`queries/embedding.sql`, `predictions.sql`,
`evaluation.sql`) and the named, parameter-bound queries of `dm query`.

- `embedding.compute_embedding(lake, n_components, n_clusters)` -> eval/embedding/embedding.parquet
- `predictions.compute_predictions(lake)` -> eval/predictions/<split>.parquet
- `evaluate.evaluate_heldout(lake)` -> eval/metrics/heldout.parquet (LDS, pooled Pearson/Spearman, MSE)

Modules are imported directly (no re-exports) so that `dm query` does not pay for scikit-learn.
"""
