-- One row per trained model in the lake.
SELECT model_id, alpha, seed, n_included, test_accuracy, train_seconds, code_version
FROM stg_models
