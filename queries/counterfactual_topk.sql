-- Datamodel-predicted margin change when k training examples are removed from the full training set
-- (paper Alg. A.2, App. F.2-F.3): predicted_delta = -Σ_{i in R} θ_ij, for every fitted target j and every
-- k in {10, 20, 40, ...} up to d. The removed set R is taken from the full d-vector θ_j (zeros included):
--   'top'    the k largest entries: positive weights (largest first), then zero weights, then negatives;
--   'bottom' the k smallest entries: negative weights (most negative first), then zeros, then positives;
--   'random' the first k train ids of one fixed pseudo-random order of the training set, ordered by
--            md5('random-k/' || train_id). It is the same set for every target and nested in k, so a single
--            retraining per k measures the random baseline of all targets at once.
-- Computed per target block by `dm fit` (dm/lake/rollups.py): ranking 25M weights on every query took ~60 s.
SELECT split, example_id, k, removed, predicted_delta FROM stg_counterfactual_topk
