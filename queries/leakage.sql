-- Train-test leakage candidates (paper 4.2.2, App. H): for every test target, the 10 training examples with the
-- largest positive datamodel weights (rank 1 = largest; ties by train_id), with
--   score = weight / Σ (the target's positive weights)   in (0, 1]
-- the share of the target's total positive influence carried by that one training example. A near-duplicate
-- carries most of it alone (score near 1), whereas an ordinary target spreads its mass over many similar images;
-- unlike the raw weight the score is comparable across targets whose margins have different scales.
-- same_label tells whether candidate and target share a class (leaks almost always do).
WITH positive AS (
    SELECT example_id, train_id, weight,
           row_number() OVER (PARTITION BY example_id ORDER BY weight DESC, train_id) AS rank,
           sum(weight) OVER (PARTITION BY example_id) AS positive_total
    FROM datamodels WHERE split = 'test' AND weight > 0
)
SELECT p.example_id, p.rank::INTEGER AS rank, p.train_id, p.weight, p.weight / p.positive_total AS score,
       te.label AS label, tr.label AS train_label, te.label = tr.label AS same_label
FROM positive AS p
LEFT JOIN examples AS te ON te.split = 'test' AND te.example_id = p.example_id
LEFT JOIN examples AS tr ON tr.split = 'train' AND tr.example_id = p.train_id
WHERE p.rank <= 10
