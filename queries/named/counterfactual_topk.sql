-- dm query counterfactual_topk: predicted margin change when removing the top/bottom/random k train examples.
-- Parameters (declared and typed in dm/analyze/views/named.py, always bound): $split, $example_id, $k, $removed.
SELECT *
FROM counterfactual_topk
WHERE ($split::VARCHAR IS NULL OR split = $split::VARCHAR)
  AND ($example_id::INTEGER IS NULL OR example_id = $example_id::INTEGER)
  AND ($k::INTEGER IS NULL OR k = $k::INTEGER)
  AND ($removed::VARCHAR IS NULL OR removed = $removed::VARCHAR)
ORDER BY split, example_id, removed, k
