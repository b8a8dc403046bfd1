-- Raw metric files of `dm eval`: every eval/metrics/*.parquet (metric, value, n [, split, ...]) stacked; columns a
-- file lacks are NULL, extra columns are kept.
SELECT * FROM (SELECT NULL::VARCHAR AS metric, NULL::DOUBLE AS value, NULL::BIGINT AS n, NULL::VARCHAR AS split
               WHERE false)
UNION ALL BY NAME
SELECT * FROM read_parquet('{{lake}}/eval/metrics/*.parquet', union_by_name = true)
