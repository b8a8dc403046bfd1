-- Correct-class margin (paper eq. 7) of every model on every example, long form. The margins files are stored
-- long form, so this is staging itself: a filter on model_id or (split, example_id) reaches the Parquet scan
-- (no join for DuckDB's planner to reorder), and reads only what it needs (bench/lake_scale.py).
SELECT model_id, split, example_id, margin
FROM stg_margins
