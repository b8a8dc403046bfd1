-- counterfactual(ids): for a list R of train ids, every fitted target's datamodel-predicted margin change when R
-- is removed from the full training set, predicted_delta = -Σ_{i in R} θ_ij (0 for targets with no weight on R).
-- Repeated ids count once. Usage: SELECT * FROM counterfactual([3, 17, 42]);  or  dm query counterfactual --ids 3,17,42
CREATE OR REPLACE MACRO counterfactual(ids) AS TABLE
SELECT f.split, f.example_id, coalesce(-s.removed_weight, 0.0) AS predicted_delta
FROM datamodel_fits AS f
LEFT JOIN (
    SELECT w.split, w.example_id, sum(w.weight) AS removed_weight
    FROM datamodels AS w
    JOIN (SELECT DISTINCT unnest(ids)::INTEGER AS train_id) AS r ON w.train_id = r.train_id
    GROUP BY w.split, w.example_id
) AS s ON f.split = s.split AND f.example_id = s.example_id
ORDER BY f.split, f.example_id
