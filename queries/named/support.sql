-- dm query support: data support heuristic (paper F.3.2) per target.
-- Parameters (declared and typed in dm/analyze/views/named.py, always bound): $split, $example_id.
SELECT *
FROM support
WHERE ($split::VARCHAR IS NULL OR split = $split::VARCHAR)
  AND ($example_id::INTEGER IS NULL OR example_id = $example_id::INTEGER)
ORDER BY split, example_id
