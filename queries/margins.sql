-- Correct-class margin (paper eq. 7) of every model on every example, long form.
SELECT model_id, split, (block * {{target_block}} + k)::INTEGER AS example_id, margin[k + 1] AS margin
FROM (SELECT model_id, split, block, margin, unnest(range(array_length(margin))) AS k FROM stg_margins)
