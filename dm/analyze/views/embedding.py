"""Datamodel embeddings (paper §4.3, App. I-J): θ_j as a feature vector of target j.

Each θ_j is normalised to unit norm (paper footnote 7; an all-zero θ stays zero); PCA is fitted on the train
targets' embeddings and applied to every target; spectral clustering runs on an RBF affinity between the
normalised embeddings, exp(-γ ||u_i - u_j||²), γ from the 7th-nearest-neighbour scale unless given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from sklearn.cluster import SpectralClustering
from sklearn.decomposition import PCA

from dm.lake.atomic import write_atomic
from dm.lake.store import Lake, LakeError
from dm.lake.weights import read_datamodels

MAX_CLUSTER_TARGETS = 20_000  # the dense affinity is n² float64: 3.2 GB at this size


def unit_rows(weights: sp.csr_matrix) -> sp.csr_matrix:
    """CSR [n, d] with every nonzero row scaled to unit L2 norm."""
    norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ weights)


def rbf_affinity(units: sp.csr_matrix, gamma: float | None, neighbours: int = 7) -> tuple[np.ndarray, float]:
    """Dense [n, n] RBF affinity exp(-γ ||u_i - u_j||²) of unit-norm (or zero) rows, and the γ used.

    γ = None picks a local scale: 1 / median over targets of the squared distance to the `neighbours`-th nearest
    target. (The median of all pairs would mostly measure unrelated targets, which sit at distance² = 2 when
    their θ supports are disjoint, and leave little contrast with the related ones.)
    """
    gram = np.asarray((units @ units.T).todense())
    sq_norm = np.diag(gram)
    dist2 = np.maximum(sq_norm[:, None] + sq_norm[None, :] - 2 * gram, 0.0)
    if gamma is None:
        kth = np.sort(dist2, axis=1)[:, min(neighbours, len(dist2) - 1)]  # column 0 is the target itself
        scale = float(np.median(kth)) if kth.size else 0.0
        gamma = 1.0 / scale if scale > 0 else 1.0
    return np.exp(-gamma * dist2), float(gamma)


def compute_embedding(
    lake: Lake,
    n_components: int = 20,
    n_clusters: int = 10,
    gamma: float | None = None,
    cluster_splits: tuple[str, ...] = ("train", "test"),
    seed: int = 0,
) -> Path:
    """Write eval/embedding/embedding.parquet: split, example_id, pc (list of n_components float64), cluster (int32).

    Args:
        n_components: principal components kept (fitted on the train targets; must be < their number and d).
        n_clusters: spectral clusters over the targets of `cluster_splits` (clustered jointly); others get NULL.
        gamma: RBF width in 1 / squared unit-norm distance; None picks a local scale (`rbf_affinity`).
        seed: seeds ARPACK (PCA) and the spectral embedding, so reruns give the same file.
    """
    parts = [
        read_datamodels(lake, split)
        for split in ("train", "test")
        if any(lake.layout.fit_dir("datamodel_fits", split).glob("*.parquet"))
    ]
    train = next((p for p in parts if p.split == "train"), None)
    if train is None:
        raise LakeError("the embedding PCA is fitted on train targets, but there are no train datamodels")
    if not 0 < n_components < min(train.weights.shape):
        raise ValueError(f"n_components must be in [1, {min(train.weights.shape) - 1}], got {n_components}")
    units = {p.split: unit_rows(p.weights) for p in parts}
    pca = PCA(n_components=n_components, svd_solver="arpack", random_state=seed).fit(units["train"])
    pcs = {split: pca.transform(u) for split, u in units.items()}

    clustered = [p.split for p in parts if p.split in cluster_splits]
    stacked = sp.vstack([units[s] for s in clustered]).tocsr() if clustered else None
    labels: dict[str, np.ndarray] = {}
    gamma_used = float("nan")
    if stacked is not None:
        if stacked.shape[0] > MAX_CLUSTER_TARGETS:
            raise ValueError(
                f"spectral clustering of {stacked.shape[0]} targets needs a dense n² affinity; "
                f"cluster at most {MAX_CLUSTER_TARGETS} (e.g. cluster_splits=('test',))"
            )
        affinity, gamma_used = rbf_affinity(stacked, gamma)
        model = SpectralClustering(
            n_clusters=n_clusters, affinity="precomputed", assign_labels="cluster_qr", random_state=seed
        )
        flat = model.fit_predict(affinity)
        offsets = np.cumsum([0] + [units[s].shape[0] for s in clustered])
        labels = {s: flat[offsets[i] : offsets[i + 1]] for i, s in enumerate(clustered)}

    tables = []
    for p in parts:
        n = len(p.example_ids)
        pc = pa.ListArray.from_arrays(
            pa.array(np.arange(n + 1, dtype=np.int32) * n_components), pa.array(pcs[p.split].reshape(-1))
        )
        cluster = pa.array(labels[p.split], pa.int32()) if p.split in labels else pa.nulls(n, pa.int32())
        tables.append(
            pa.table(
                {
                    "split": pa.array([p.split] * n, pa.string()),
                    "example_id": p.example_ids.astype(np.int32),
                    "pc": pc,
                    "cluster": cluster,
                }
            )
        )
    table = pa.concat_tables(tables).replace_schema_metadata(
        {
            "explained_variance_ratio": ",".join(f"{v:.6g}" for v in pca.explained_variance_ratio_),
            "gamma": f"{gamma_used:.6g}",
        }
    )
    return write_atomic(table, lake.layout.embedding)
