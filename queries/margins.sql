-- Correct-class margin (paper eq. 7) of every model on every example, long form.
-- Written as a join of examples with the margins rows of each example's block (rather than unnesting every
-- row), so a filter on example_id narrows the scan to that block's files (DuckDB pushes the join's key range
-- into the Parquet scan): one example across 20,000 models in ~0.15 s instead of ~3 s (bench/lake_scale.py).
SELECT s.model_id, e.split, e.example_id, s.margin[e.example_id - s.block * {{target_block}} + 1] AS margin
FROM examples AS e
JOIN stg_margins AS s ON s.split = e.split AND s.block = e.example_id // {{target_block}}
