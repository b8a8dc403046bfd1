-- dm query datamodel: the largest-magnitude datamodel weights of one target, with the train examples' labels.
-- Parameters (declared and typed in dm/analyze/views/named.py, always bound): $split, $example_id, $top.
SELECT w.train_id, w.weight, e.label AS train_label
FROM datamodels AS w
LEFT JOIN examples AS e ON e.split = 'train' AND e.example_id = w.train_id
WHERE w.split = $split::VARCHAR AND w.example_id = $example_id::INTEGER
ORDER BY abs(w.weight) DESC, w.train_id
LIMIT $top::INTEGER
