-- Brittleness CDF (paper Fig. 7), written by `dm eval`: for each ranker (datamodels and the baselines) and
-- variant ('remove' / 'mislabel'), the fraction of sampled test targets whose margin turns negative when at
-- most k training examples are removed (or relabelled) in that ranker's order.
SELECT ranker, variant, k, fraction AS fraction_flipped, n_targets
FROM stg_brittleness
