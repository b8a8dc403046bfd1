-- Raw counterfactual retraining results written by dm.analyze.experiments.counterfactual (`dm eval`).
SELECT example_id, label, k, removed, n_models, control_margin, mean_margin, std_margin, actual_delta, predicted_delta
FROM read_parquet('{{lake}}/eval/counterfactual/results.parquet')
