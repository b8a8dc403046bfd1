-- Held-out evaluation (paper eq. 10, LDS): for each held-out test model (fit.json "test_model_ids") and target,
-- predicted = mask @ weight + bias and the actual margin. Train targets only appear for the models whose subset
-- excludes them (eq. 9). Written by dm.analyze.views.predictions.compute_predictions.
SELECT model_id, split, example_id, predicted, actual FROM stg_predictions
