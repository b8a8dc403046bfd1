"""Per-target rollups of the datamodel weights, written by `dm fit` next to each target block's weights.

The `counterfactual_topk` and `support` views rank each target's weights; in SQL that is a sort of every
nonzero weight of the lake (25M rows at 10,000 targets x 2,500 weights: ~60 s and 7 GB in DuckDB), repeated on
every query. Per block in numpy it is a one-time sort of ~1M weights while the block is written, so the views
read a few hundred thousand precomputed rows instead. Both tables are pure functions of the block's weights
and biases (as stored: float32 weights) and are checked against independent numpy in tests/views.

counterfactual_topk (paper Alg. A.2, App. F.2-F.3): predicted_delta = -Σ_{i∈R} θ_ij for k ∈ {10, 20, 40, …} ≤ d,
with R taken from the full d-vector θ_j (zeros included):
  'top'    the k largest entries: positive weights (largest first), then zeros, then negatives;
  'bottom' the k smallest entries: negative weights (most negative first), then zeros, then positives;
  'random' the first k train ids of one fixed pseudo-random order of the training set (by md5('random-k/' ||
           train_id), then train_id): the same nested sets for every target, so one retraining per k measures
           the random baseline of all targets.
support (paper App. F.3.2 heuristic):
  predicted_margin = bias + Σ_i θ_ij (the prediction for the full training set; NULL for a failed target);
  support_size     = smallest k whose k largest positive weights (ties by train_id) sum to >= predicted_margin:
                     removing them is predicted to flip the margin; 0 when predicted_margin <= 0; NULL when all
                     positive weights together fall short;
  support_ids      = those k train ids, largest weight first ([] for 0, NULL when never reached).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dm.lake.atomic import write_atomic
from dm.lake.layout import Layout
from dm.lake.store import Lake, TargetBlock

ROLLUPS = ("counterfactual_topk", "support")


def removal_sizes(d: int) -> np.ndarray:
    """int64 [K]: k = 10·2^i for every i with k <= d."""
    ks = 10 * 2 ** np.arange(31, dtype=np.int64)
    return ks[ks <= d]


@lru_cache(maxsize=4)
def random_positions(d: int) -> np.ndarray:
    """int64 [d]: 1-based position of each train id in the fixed 'random' removal order."""
    keys = [hashlib.md5(f"random-k/{i}".encode()).hexdigest() for i in range(d)]
    order = sorted(range(d), key=lambda i: (keys[i], i))
    pos = np.empty(d, np.int64)
    pos[np.asarray(order, np.int64)] = np.arange(1, d + 1)
    return pos


def _segment_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each segment start (values grouped by segment, in order)."""
    total = np.cumsum(values)
    before = np.concatenate([[0.0], total])[starts]  # running total just before each segment
    counts = np.diff(np.append(starts, len(values)))
    return total - np.repeat(before, counts)


def _sums_of_largest(target: np.ndarray, weight: np.ndarray, n: int, d: int, ks: np.ndarray) -> np.ndarray:
    """float64 [n, K]: for each target, the sum of the k largest entries of its d-vector (zeros implied).

    target int64 [nnz] (0..n-1), weight float64 [nnz] nonzero. The sorted d-vector is the positives (descending),
    d - nnz zeros, then the negatives (descending); its prefix sum at k is read from the nonzero prefix sums.
    """
    order = np.lexsort((-weight, target))  # by target, largest weight first
    t, w = target[order], weight[order]
    starts = np.searchsorted(t, np.arange(n))
    counts = np.diff(np.append(starts, len(t)))
    cum = _segment_cumsum(w, starts) if len(w) else w
    n_pos = np.bincount(target[weight > 0], minlength=n)
    n_neg = counts - n_pos
    # number of nonzeros among the first k entries: min(k, n_pos), plus negatives once k passes d - n_neg
    taken = np.minimum(ks[None, :], n_pos[:, None]) + np.clip(ks[None, :] - (d - n_neg[:, None]), 0, None)
    out = np.zeros((n, len(ks)))
    has = taken > 0
    rows = np.nonzero(has)
    out[has] = cum[starts[rows[0]] + taken[has] - 1]
    return out


def topk_table(example_ids: np.ndarray, target: np.ndarray, train_id: np.ndarray,
               weight: np.ndarray, d: int) -> pa.Table:
    """The `counterfactual_topk` rows of one block: (example_id, k, removed, predicted_delta); the split is the
    block's partition.

    example_ids int [n] of the block's targets; (target [nnz] index into example_ids, train_id [nnz], weight
    [nnz]) its nonzero weights.
    """
    n, ks = len(example_ids), removal_sizes(d)
    w = np.asarray(weight, np.float32).astype(np.float64)  # as stored
    t = np.asarray(target, np.int64)
    top = _sums_of_largest(t, w, n, d, ks)
    bottom = -_sums_of_largest(t, -w, n, d, ks)
    bucket = np.searchsorted(ks, random_positions(d)[np.asarray(train_id, np.int64)])  # smallest k removing it
    inside = bucket < len(ks)
    random = np.zeros((n, len(ks)))
    np.add.at(random, (t[inside], bucket[inside]), w[inside])
    random = np.cumsum(random, axis=1)
    removed = np.array(["top", "bottom", "random"])
    delta = -np.stack([top, bottom, random], axis=2)  # [n, K, 3]
    return pa.table({
        "example_id": np.repeat(np.asarray(example_ids, np.int32), len(ks) * 3),
        "k": np.tile(np.repeat(ks.astype(np.int32), 3), n),
        "removed": np.tile(removed, n * len(ks)),
        "predicted_delta": delta.reshape(-1),
    })


def support_table(example_ids: np.ndarray, target: np.ndarray, train_id: np.ndarray,
                  weight: np.ndarray, bias: np.ndarray) -> pa.Table:
    """The `support` rows of one block: (example_id, predicted_margin, support_size, support_ids).

    bias float [n] (NaN for a failed target); other arguments as in `topk_table`.
    """
    n = len(example_ids)
    w = np.asarray(weight, np.float32).astype(np.float64)
    t, ids = np.asarray(target, np.int64), np.asarray(train_id, np.int64)
    predicted = np.asarray(bias, np.float64) + np.bincount(t, weights=w, minlength=n)
    pos = w > 0
    order = np.lexsort((ids[pos], -w[pos], t[pos]))  # by target, weight descending, train_id
    pt, pw, pid = t[pos][order], w[pos][order], ids[pos][order]
    starts = np.searchsorted(pt, np.arange(n))
    counts = np.diff(np.append(starts, len(pt)))
    cum = _segment_cumsum(pw, starts) if len(pw) else pw
    sizes: list[int | None] = []
    support: list[list[int] | None] = []
    for j in range(n):
        if np.isnan(predicted[j]):
            sizes.append(None)
            support.append(None)
        elif predicted[j] <= 0:
            sizes.append(0)
            support.append([])
        else:
            seg = cum[starts[j] : starts[j] + counts[j]]
            k = int(np.searchsorted(seg, predicted[j], side="left"))  # first prefix sum >= predicted
            if k < len(seg):
                sizes.append(k + 1)
                support.append(pid[starts[j] : starts[j] + k + 1].tolist())
            else:
                sizes.append(None)
                support.append(None)
    return pa.table({
        "example_id": np.asarray(example_ids, np.int32),
        "predicted_margin": pa.array(np.where(np.isnan(predicted), None, predicted), pa.float64()),
        "support_size": pa.array(sizes, pa.int32()),
        "support_ids": pa.array(support, pa.list_(pa.int32())),
    })


def write_block_rollups(layout: Layout, block: TargetBlock, target: np.ndarray, train_id: np.ndarray,
                        weight: np.ndarray, bias: np.ndarray, d: int) -> None:
    """Write one target block's rollups; (target [nnz] = example id - block.first, train_id, weight) are its
    stored nonzero weights, bias [block.length] its intercepts (NaN for failed targets)."""
    example_ids = np.arange(block.first, block.first + block.length, dtype=np.int32)
    write_atomic(topk_table(example_ids, target, train_id, weight, d),
                 layout.fit_block("counterfactual_topk", block.split, block.block))
    write_atomic(support_table(example_ids, target, train_id, weight, bias),
                 layout.fit_block("support", block.split, block.block))


def rollups_from_stored(lake: Lake, block: TargetBlock) -> None:
    """Write one committed block's rollups from its stored weights and biases (a block fitted before rollups)."""
    layout = lake.layout
    weights = pq.read_table(layout.fit_block("datamodels", block.split, block.block))
    fits = layout.fit_block("datamodel_fits", block.split, block.block)
    bias = pq.read_table(fits, columns=["example_id", "bias"]).sort_by("example_id").column("bias")
    target = weights.column("example_id").to_numpy().astype(np.int64) - block.first
    write_block_rollups(layout, block, target, weights.column("train_id").to_numpy(),
                        weights.column("weight").to_numpy(), bias.to_numpy(zero_copy_only=False), lake.d)


def backfill_rollups(lake: Lake) -> int:
    """Write the rollups of blocks with weights and fit summaries (datamodel_fits present) that lack them;
    returns the number of blocks written."""
    layout, done = lake.layout, 0
    for block in lake.target_blocks():
        fits = layout.fit_block("datamodel_fits", block.split, block.block)
        if not fits.exists() or all(layout.fit_block(r, block.split, block.block).exists() for r in ROLLUPS):
            continue
        rollups_from_stored(lake, block)
        done += 1
    return done
