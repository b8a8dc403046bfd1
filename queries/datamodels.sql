-- Datamodel weights θ_j (paper eq. 8) in raw 0/1 mask space: one row per nonzero weight.
-- split/example_id name the target j, train_id the training example; prediction = Σ_{i in mask} weight + bias.
SELECT split, example_id::INTEGER AS example_id, train_id::INTEGER AS train_id, weight
FROM stg_datamodels
WHERE weight <> 0
