-- One row per fitted target: intercept (raw mask space), selected λ_j (eq. 8; quote it: "lambda" is a keyword),
-- validation MSE at that λ, nonzero weights and number of models used by the final fit (eq. 9 exclusion).
SELECT split, example_id::INTEGER AS example_id, bias, "lambda", val_mse, nnz, n_models_used
FROM stg_datamodel_fits
