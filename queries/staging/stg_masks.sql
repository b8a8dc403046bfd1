-- Raw bit-packed masks: train id i is bit i % 8 (least significant first) of byte i // 8.
-- Restricted to committed models, so a crash between file renames never shows a half-written model.
SELECT model_id, mask
FROM read_parquet('{{lake}}/masks/part-*.parquet')
WHERE model_id IN (SELECT model_id FROM stg_models)
