-- dm query embedding: datamodel embeddings (principal components) and spectral clusters.
-- Parameters (declared and typed in dm/analyze/views/named.py, always bound): $split, $example_id, $cluster.
SELECT *
FROM embedding
WHERE ($split::VARCHAR IS NULL OR split = $split::VARCHAR)
  AND ($example_id::INTEGER IS NULL OR example_id = $example_id::INTEGER)
  AND ($cluster::INTEGER IS NULL OR cluster = $cluster::INTEGER)
ORDER BY split, example_id
