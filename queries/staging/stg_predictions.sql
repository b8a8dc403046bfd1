-- Raw held-out predictions written by dm.analyze.views.predictions.compute_predictions (`dm eval`).
SELECT model_id, split, example_id, predicted, actual FROM read_parquet('{{lake}}/eval/predictions/*.parquet')
