"""predictions and evaluation (LDS, pooled correlations, eq. 10 MSE) against numpy, and metric files from other
experiments showing up in the evaluation view."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.views.conftest import SPLITS, Truth


def _heldout(truth: Truth, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """predicted, actual [m_test, n] and valid [m_test, n] (train targets only where excluded, eq. 9)."""
    masks = truth.masks[truth.test_models]
    predicted = masks @ truth.weights[split].T + truth.bias[split]
    actual = truth.margins[split][truth.test_models].astype(np.float64)
    valid = ~masks if split == "train" else np.ones_like(predicted, bool)
    return predicted, actual, valid


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (predictions tie when models agree on a θ's support)."""
    return (x[:, None] > x[None, :]).sum(axis=1) + ((x[:, None] == x[None, :]).sum(axis=1) + 1) / 2


def test_predictions(truth: Truth, con) -> None:
    for split in SPLITS:
        predicted, actual, valid = _heldout(truth, split)
        rows = con.execute(
            "SELECT model_id, example_id, predicted, actual FROM predictions WHERE split = ? "
            "ORDER BY model_id, example_id",
            [split],
        ).fetchall()
        i, j = np.nonzero(valid)
        assert [(r[0], r[1]) for r in rows] == list(zip(truth.test_models[i].tolist(), j.tolist(), strict=True))
        np.testing.assert_allclose([r[2] for r in rows], predicted[i, j], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose([r[3] for r in rows], actual[i, j])


def test_evaluation_metrics(truth: Truth, con) -> None:
    got = {(m, s): (v, n) for m, v, n, s in con.execute("SELECT metric, value, n, split FROM evaluation").fetchall()}
    for split in SPLITS:
        predicted, actual, valid = _heldout(truth, split)
        lds = []
        for j in range(predicted.shape[1]):
            p, a = predicted[valid[:, j], j], actual[valid[:, j], j]
            if np.ptp(p) > 0:
                lds.append(np.corrcoef(_ranks(p), _ranks(a))[0, 1])
        p, a = predicted[valid], actual[valid]
        mse = 0.5 * np.mean(
            [np.mean((predicted[valid[:, j], j] - actual[valid[:, j], j]) ** 2) for j in range(predicted.shape[1])]
        )
        want = {
            "lds": (np.mean(lds), len(lds)),
            "pearson": (np.corrcoef(p, a)[0, 1], len(p)),
            "spearman": (np.corrcoef(_ranks(p), _ranks(a))[0, 1], len(p)),
            "mse": (mse, predicted.shape[1]),
        }
        for metric, (value, n) in want.items():
            assert got[(metric, split)][1] == n, (metric, split)
            np.testing.assert_allclose(got[(metric, split)][0], value, rtol=1e-9, err_msg=f"{metric} {split}")
    assert got[("lds", "test")][1] == len(truth.bias["test"]) - 1  # the all-zero θ predicts a constant


def test_evaluation_unions_other_metric_files(truth: Truth, con) -> None:
    extra = truth.root / "eval" / "metrics" / "counterfactual_retrain.parquet"
    pq.write_table(pa.table({"metric": ["cf_pearson"], "value": [0.9], "n": [12], "k": [10]}), extra)
    try:
        rows = con.execute("SELECT metric, value, n, split, k FROM evaluation WHERE metric = 'cf_pearson'").fetchall()
        assert rows == [("cf_pearson", 0.9, 12, None, 10)]
        assert con.execute("SELECT count(*) FROM evaluation WHERE split IS NOT NULL").fetchone()[0] == 8
    finally:
        extra.unlink()
