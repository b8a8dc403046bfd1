-- One row per training example included in a model's subset.
SELECT m.model_id, b.train_id::INTEGER AS train_id
FROM stg_masks AS m,
     range((SELECT count(*) FROM examples WHERE split = 'train')) AS b(train_id)
WHERE get_bit(m.mask::BIT, ((b.train_id // 8) * 8 + 7 - b.train_id % 8)::INTEGER) = 1
