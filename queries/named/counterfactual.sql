-- dm query counterfactual: predicted margin change of every target when the train ids R are removed (-Σ_{i∈R} θ).
-- Parameters (declared and typed in dm/analyze/views/named.py, always bound): $ids, $split, $example_id.
SELECT *
FROM counterfactual($ids::INTEGER[])
WHERE ($split::VARCHAR IS NULL OR split = $split::VARCHAR)
  AND ($example_id::INTEGER IS NULL OR example_id = $example_id::INTEGER)
ORDER BY split, example_id
