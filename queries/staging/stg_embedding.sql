-- Raw datamodel embeddings written by dm.analyze.views.embedding.compute_embedding (`dm eval`).
SELECT split, example_id, pc, cluster FROM read_parquet('{{lake}}/eval/embedding/*.parquet')
