-- Counterfactual evaluation by retraining (paper Alg. A.2), written by `dm eval`
-- (dm.analyze.experiments): for each sampled test target, k and removal rule ('top'/'bottom'/'random'),
-- the mean margin of T models retrained without those k examples minus the full-data control (actual_delta)
-- next to the datamodel's prediction -Σθ over the removed examples (predicted_delta).
SELECT 'test' AS split, example_id, label, k, removed, n_models, control_margin, mean_margin, std_margin,
       actual_delta, predicted_delta
FROM stg_counterfactual_results
