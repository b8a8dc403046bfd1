-- Data support heuristic of paper App. F.3.2, per fitted target:
--   predicted_margin = bias + Σ_i θ_ij          (the datamodel's prediction for the full training set)
--   support_size     = smallest k such that the sum of the k largest positive weights >= predicted_margin,
--                      i.e. removing them is predicted to flip the margin to <= 0 (a misclassification);
--                      0 when predicted_margin <= 0 already, NULL when all positive weights together fall short.
--   support_ids      = those k train ids, largest weight first ([] for 0, NULL when never reached).
WITH totals AS (
    SELECT split, example_id, sum(weight) AS total FROM datamodels GROUP BY split, example_id
),
predicted AS (
    SELECT f.split, f.example_id, f.bias + coalesce(t.total, 0) AS predicted_margin
    FROM datamodel_fits AS f LEFT JOIN totals AS t ON f.split = t.split AND f.example_id = t.example_id
),
positive AS (
    SELECT split, example_id, train_id,
           row_number() OVER (PARTITION BY split, example_id ORDER BY weight DESC, train_id) AS k,
           sum(weight) OVER (PARTITION BY split, example_id ORDER BY weight DESC, train_id
                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
    FROM datamodels WHERE weight > 0
),
reached AS (
    SELECT p.split, p.example_id, min(p.k) AS support_size
    FROM positive AS p JOIN predicted AS m ON p.split = m.split AND p.example_id = m.example_id
    WHERE m.predicted_margin > 0 AND p.cum >= m.predicted_margin
    GROUP BY p.split, p.example_id
),
ids AS (
    SELECT p.split, p.example_id, list(p.train_id ORDER BY p.k) AS support_ids
    FROM positive AS p JOIN reached AS r ON p.split = r.split AND p.example_id = r.example_id
    WHERE p.k <= r.support_size
    GROUP BY p.split, p.example_id
)
SELECT m.split, m.example_id, m.predicted_margin,
       CASE WHEN m.predicted_margin <= 0 THEN 0 ELSE r.support_size END::INTEGER AS support_size,
       CASE WHEN m.predicted_margin <= 0 THEN []::INTEGER[] ELSE i.support_ids END AS support_ids
FROM predicted AS m
LEFT JOIN reached AS r ON m.split = r.split AND m.example_id = r.example_id
LEFT JOIN ids AS i ON m.split = i.split AND m.example_id = i.example_id
