-- The regularization path per target (λ study): λ_index 0 is λ_max, then log-spaced down to λ_max / ratio.
SELECT split, example_id::INTEGER AS example_id, lambda_index, "lambda", train_mse, val_mse, nnz
FROM stg_fit_path
