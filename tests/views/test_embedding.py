"""embedding: PCA on unit-normalised train θ applied to every target (vs numpy SVD); spectral clusters recover the
planted groups (disjoint θ supports)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_rand_score

from tests.views.conftest import Truth


def _unit(w: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(w, axis=1, keepdims=True)
    return np.divide(w, norm, out=np.zeros_like(w), where=norm > 0)


def test_principal_components(truth: Truth, con) -> None:
    rows = con.execute("SELECT split, example_id, pc FROM embedding ORDER BY split, example_id").fetchall()
    train = _unit(truth.weights["train"])
    mean = train.mean(axis=0)
    components = np.linalg.svd(train - mean, full_matrices=False)[2][:4]  # [4, d]
    want = np.vstack([(_unit(truth.weights[s]) - mean) @ components.T for s in ("test", "train")])
    got = np.array([r[2] for r in rows])
    assert [r[:2] for r in rows] == [(s, j) for s in ("test", "train") for j in range(len(truth.bias[s]))]
    signs = np.sign((got * want).sum(axis=0))  # a component's sign is arbitrary
    np.testing.assert_allclose(got * signs, want, atol=1e-8)


def test_clusters_recover_planted_groups(truth: Truth, con) -> None:
    rows = con.execute("SELECT split, example_id, cluster FROM embedding ORDER BY split, example_id").fetchall()
    cluster = np.array([r[2] for r in rows])
    group = np.concatenate([truth.group["test"], truth.group["train"]])
    assert set(cluster) == {0, 1, 2}
    planted = group >= 0  # the all-zero θ has no group
    assert adjusted_rand_score(group[planted], cluster[planted]) == 1.0
