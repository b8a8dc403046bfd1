-- Correct-class margin (paper eq. 7) of every model on every example, long form.
-- Each example reads only the margins rows of its own target block (a LATERAL lookup rather than unnesting every
-- row), so a filter on example_id scans one block's files: one example across 20,000 models reads 40 files of
-- 2,360 (bench/lake_scale.py). A plain join would leave that pruning to DuckDB's join order, which scans every
-- block of the larger split.
SELECT s.model_id, e.split, e.example_id, s.margin[e.example_id - s.block * {{target_block}} + 1] AS margin
FROM examples AS e,
     LATERAL (SELECT model_id, block, margin FROM stg_margins
              WHERE stg_margins.split = e.split AND stg_margins.block = e.example_id // {{target_block}}) AS s
