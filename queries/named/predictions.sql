-- dm query predictions: held-out models' predicted vs actual margins.
-- Parameters (declared and typed in dm/analyze/views/named.py, always bound): $split, $example_id, $model_id.
SELECT *
FROM predictions
WHERE ($split::VARCHAR IS NULL OR split = $split::VARCHAR)
  AND ($example_id::INTEGER IS NULL OR example_id = $example_id::INTEGER)
  AND ($model_id::BIGINT IS NULL OR model_id = $model_id::BIGINT)
ORDER BY split, example_id, model_id
