-- Datamodel embeddings (paper 4.3), written by dm.analyze.views.embedding.compute_embedding: each θ_j normalised
-- to unit norm, pc = its first principal components (PCA fitted on the train targets, applied to all targets),
-- cluster = spectral clustering with an RBF affinity on the normalised embeddings (NULL if not clustered);
-- the RBF width is 1 / median squared distance to the 7th nearest target unless compute_embedding is given one.
SELECT split, example_id, pc, cluster FROM stg_embedding
