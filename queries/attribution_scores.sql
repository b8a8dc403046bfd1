-- Every attribution method scored by LDS against its cost, on the same held-out models and test targets as the
-- datamodels (dm.analyze.experiments.attribution). method: datamodels, influence (empirical), trak (traker),
-- if (dattri influence functions), tracin, nearest, random; settings: the run's JSON settings (models = lake
-- models for datamodels/influence, reference models otherwise). lds: mean per-target Spearman of mask @ scores
-- vs the actual margin; pearson / spearman (pooled) and mse (eq. 10) of the prediction after the per-target
-- calibration named in `calibration` (fitted on `calibration_models` validation models, never held-out ones).
-- Cost: n_models_used (lake models the scores come from), models_trained, checkpoints, seconds
-- (= train_seconds + attribution_seconds), device.
SELECT method, settings, split, lds, pearson, spearman, mse, n_targets, n_heldout_models, n_models_used,
       models_trained, checkpoints, calibration, calibration_models, train_seconds, attribution_seconds, seconds,
       device
FROM stg_attribution_scores
ORDER BY method, models_trained, settings
