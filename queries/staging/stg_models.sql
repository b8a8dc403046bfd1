-- Raw models parts (one file per committed set of models).
SELECT * FROM read_parquet('{{lake}}/models/part-*.parquet')
