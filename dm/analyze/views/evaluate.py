"""Held-out evaluation of the datamodels (paper §3.2, eq. 10): LDS, pooled correlations and MSE."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from scipy.stats import rankdata

from dm.analyze.views.predictions import SPLITS, SplitPredictions, compute_predictions
from dm.lake.atomic import write_atomic
from dm.lake.store import Lake

METRICS_SCHEMA = pa.schema(
    [("metric", pa.string()), ("value", pa.float64()), ("n", pa.int64()), ("split", pa.string())]
)


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two 1-D arrays; NaN when either is constant or shorter than 2."""
    if len(x) < 2:
        return float("nan")
    x = x - x.mean()
    y = y - y.mean()
    denom = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denom) if denom > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman ρ (Pearson r of average ranks)."""
    return _pearson(rankdata(x), rankdata(y))


def per_target_spearman(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """float [n]: Spearman, over the valid rows of each column, of x against y ([m, n] each); NaN where undefined."""
    return np.array([spearman(x[v, j], y[v, j]) for j, v in enumerate(valid.T)])


def eq10_mse(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> tuple[float, int]:
    """Eq. 10, (1/2n) Σ_j mean_i (x_ij - y_ij)^2 over the valid rows of each column; returns (value, n columns)."""
    counts = valid.sum(axis=0)
    seen = counts > 0
    sq = np.where(valid, (x - y) ** 2, 0.0).sum(axis=0)
    return (float(0.5 * (sq[seen] / counts[seen]).mean()) if seen.any() else float("nan")), int(seen.sum())


def split_metrics(preds: SplitPredictions) -> list[dict]:
    """Metric rows of one split.

    lds: mean over targets of the Spearman correlation, across held-out models, between predicted and actual
        margin; n = targets where it is defined (at least 2 valid models, neither side constant).
    pearson / spearman: pooled over every valid (model, target) pair; n = pairs.
    mse: eq. 10, (1/2n) Σ_j mean_i (predicted_ij - actual_ij)^2, in squared margin units; n = targets.
    """
    per_target = per_target_spearman(preds.predicted, preds.actual, preds.valid)
    defined = ~np.isnan(per_target)
    pred, act = preds.predicted[preds.valid], preds.actual[preds.valid]
    rows = [
        ("lds", float(per_target[defined].mean()) if defined.any() else float("nan"), int(defined.sum())),
        ("pearson", _pearson(pred, act), int(len(pred))),
        ("spearman", spearman(pred, act), int(len(pred))),
        ("mse", *eq10_mse(preds.predicted, preds.actual, preds.valid)),
    ]
    return [{"metric": m, "value": v, "n": n, "split": preds.split} for m, v, n in rows]


def evaluate_heldout(
    lake: Lake, splits: tuple[str, ...] = SPLITS, preds: list[SplitPredictions] | None = None
) -> pa.Table:
    """Compute the held-out predictions (eval/predictions/; pass `preds` if already computed) and their metrics
    (eval/metrics/heldout.parquet).

    Returns the metrics table (metric, value, n, split), which the `evaluation` view serves.
    """
    preds = compute_predictions(lake, splits) if preds is None else preds
    rows = [row for p in preds for row in split_metrics(p)]
    table = pa.Table.from_pylist(rows, schema=METRICS_SCHEMA)
    write_atomic(table, lake.layout.metrics("heldout"))
    return table
