-- dm query evaluation: held-out and experiment metrics.
-- Parameters (declared and typed in dm/analyze/views/named.py, always bound): none.
SELECT *
FROM evaluation
ORDER BY split, metric
