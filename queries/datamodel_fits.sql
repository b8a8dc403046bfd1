-- One row per fitted target: intercept (raw mask space), selected λ_j (eq. 8; quote it: "lambda" is a keyword),
-- validation MSE at that λ, nonzero weights and number of models used by the final fit (eq. 9 exclusion);
-- converged: the refit's relative duality gap (an upper bound on the relative excess of eq. 8's objective over
-- its minimum) is within solve.gap_tol; kkt_residual: its largest optimality violation in units of λ;
-- status: 'ok' or why the target was not fitted.
SELECT split, example_id::INTEGER AS example_id, bias, "lambda", val_mse, nnz, n_models_used,
       converged, duality_gap, kkt_residual, status
FROM stg_datamodel_fits
