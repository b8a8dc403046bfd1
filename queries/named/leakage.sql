-- dm query leakage: train-test leakage candidates, highest score first.
-- Parameters (declared and typed in dm/analyze/views/named.py, always bound): $example_id, $top, $min_score.
SELECT *
FROM leakage
WHERE ($example_id::INTEGER IS NULL OR example_id = $example_id::INTEGER)
  AND rank <= $top::INTEGER AND score >= $min_score::DOUBLE
ORDER BY score DESC, example_id, rank
