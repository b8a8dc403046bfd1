-- Datamodel-predicted margin change when k training examples are removed from the full training set
-- (paper Alg. A.2, App. F.2-F.3): predicted_delta = -Σ_{i in R} θ_ij, for every fitted target j and every
-- k in {10, 20, 40, ...} up to d. The removed set R is taken from the full d-vector θ_j (zeros included):
--   'top'    the k largest entries: positive weights (largest first), then zero weights, then negatives;
--   'bottom' the k smallest entries: negative weights (most negative first), then zeros, then positives;
--   'random' the first k train ids of one fixed pseudo-random order of the training set, ordered by
--            md5('random-k/' || train_id). It is the same set for every target and nested in k, so a single
--            retraining per k measures the random baseline of all targets at once.
-- Ties are broken by train_id. Each cumulative sum is read at the largest position <= k with an ASOF join,
-- so the cost is O(nonzero weights + targets * |k|), not O(targets * d).
WITH n_train AS (SELECT count(*)::INTEGER AS d FROM examples WHERE split = 'train'),
ks AS (
    SELECT (10 * 2 ** i)::INTEGER AS k FROM range(0, 31) AS r(i), n_train WHERE 10 * 2 ** i <= n_train.d
),
ranked AS (
    SELECT split, example_id, train_id, weight,
           row_number() OVER (PARTITION BY split, example_id ORDER BY weight DESC, train_id) AS r_desc,
           row_number() OVER (PARTITION BY split, example_id ORDER BY weight ASC, train_id) AS r_asc,
           count(*) OVER (PARTITION BY split, example_id) AS nnz
    FROM datamodels
),
-- Position of each nonzero weight in the full sorted d-vector: the d - nnz zeros sit between the signs.
cum_top AS (
    SELECT split, example_id,
           CASE WHEN weight > 0 THEN r_desc ELSE r_desc + n_train.d - nnz END AS pos,
           sum(weight) OVER (PARTITION BY split, example_id ORDER BY r_desc
                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
    FROM ranked, n_train
),
cum_bottom AS (
    SELECT split, example_id,
           CASE WHEN weight < 0 THEN r_asc ELSE r_asc + n_train.d - nnz END AS pos,
           sum(weight) OVER (PARTITION BY split, example_id ORDER BY r_asc
                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
    FROM ranked, n_train
),
random_order AS (
    SELECT t.train_id::INTEGER AS train_id,
           row_number() OVER (ORDER BY md5('random-k/' || t.train_id::VARCHAR), t.train_id) AS pos
    FROM n_train, range(n_train.d) AS t(train_id)
),
cum_random AS (
    SELECT w.split, w.example_id, o.pos,
           sum(w.weight) OVER (PARTITION BY w.split, w.example_id ORDER BY o.pos
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
    FROM datamodels AS w JOIN random_order AS o USING (train_id)
),
grid AS (SELECT f.split, f.example_id, ks.k FROM datamodel_fits AS f, ks)
SELECT g.split, g.example_id, g.k, 'top' AS removed, coalesce(-c.cum, 0.0) AS predicted_delta
FROM grid AS g ASOF LEFT JOIN cum_top AS c
  ON g.split = c.split AND g.example_id = c.example_id AND g.k >= c.pos
UNION ALL
SELECT g.split, g.example_id, g.k, 'bottom' AS removed, coalesce(-c.cum, 0.0) AS predicted_delta
FROM grid AS g ASOF LEFT JOIN cum_bottom AS c
  ON g.split = c.split AND g.example_id = c.example_id AND g.k >= c.pos
UNION ALL
SELECT g.split, g.example_id, g.k, 'random' AS removed, coalesce(-c.cum, 0.0) AS predicted_delta
FROM grid AS g ASOF LEFT JOIN cum_random AS c
  ON g.split = c.split AND g.example_id = c.example_id AND g.k >= c.pos
