-- Data support heuristic of paper App. F.3.2, per fitted target:
--   predicted_margin = bias + Σ_i θ_ij          (the datamodel's prediction for the full training set)
--   support_size     = smallest k such that the sum of the k largest positive weights >= predicted_margin,
--                      i.e. removing them is predicted to flip the margin to <= 0 (a misclassification);
--                      0 when predicted_margin <= 0 already, NULL when all positive weights together fall short.
--   support_ids      = those k train ids, largest weight first ([] for 0, NULL when never reached).
-- Computed per target block by `dm fit` (dm/lake/rollups.py), so the view reads one row per target.
SELECT split, example_id, predicted_margin, support_size, support_ids FROM stg_support
