"""Empirical influence (eq. 15) against a direct difference of means; the dense weights reader."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dm.analyze.baselines.influence import InfluenceRanker, empirical_influence, read_outputs
from dm.analyze.baselines.weights import load_weights
from dm.lake.bits import unpack_masks
from dm.lake.store import Lake


def _direct(masks: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.zeros((masks.shape[1], y.shape[1]))
    for i in range(masks.shape[1]):
        inside, outside = masks[:, i], ~masks[:, i]
        if inside.any() and outside.any():
            out[i] = y[inside].mean(axis=0) - y[outside].mean(axis=0)
    return out


def test_empirical_influence_is_the_difference_of_means() -> None:
    rng = np.random.default_rng(0)
    masks = rng.random((300, 40)) < 0.5
    masks[:, 3] = True  # in every model: no contrast, influence 0
    y = rng.normal(size=(300, 7)) + masks[:, :7] * 2.0
    infl = empirical_influence(masks, y)
    assert infl.shape == (40, 7) and infl.dtype == np.float32
    np.testing.assert_allclose(infl, _direct(masks, y), atol=1e-5)
    assert np.all(infl[3] == 0)


def test_influence_ranker_on_a_lake_matches_numpy(small_lake) -> None:
    lake = small_lake.lake
    _, packed = lake.read_masks()
    _, margins = read_outputs(lake, "test")
    expected = _direct(unpack_masks(packed, lake.d), margins.astype(np.float64))
    ranker = InfluenceRanker(lake, chunk_models=64)  # several chunks
    ids = np.array([0, 5, 449])
    np.testing.assert_allclose(ranker.scores("test", ids), expected[:, ids].T, atol=1e-4)


def test_load_weights_reads_the_solver_layout(tmp_path) -> None:
    root = tmp_path / "exp"
    Lake.create_or_open(root, {"x": 1}, {"d": 10, "n_test": 6, "num_classes": 2, "task": "classification",
                                         "target_block": 4})
    rows = {0: [(0, 2, 0.5), (1, 9, -1.0)], 1: [(5, 3, 2.0)]}
    fits = {0: [(0, 0.1), (1, 0.2), (2, 0.3)], 1: [(5, 1.5)]}  # targets 3 and 4 were not fitted
    for block in rows:
        for folder, cols, data in (("datamodels", ("example_id", "train_id", "weight"), rows[block]),
                                   ("datamodel_fits", ("example_id", "bias"), fits[block])):
            path = root / folder / "split=test" / f"block={block}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table({c: [r[i] for r in data] for i, c in enumerate(cols)}), path)
    w = load_weights(root)
    assert set(w.weights) == {"test"}
    expected = np.zeros((10, 6), np.float32)
    expected[2, 0], expected[9, 1], expected[3, 5] = 0.5, -1.0, 2.0
    np.testing.assert_array_equal(w.weights["test"], expected)
    np.testing.assert_array_equal(w.fitted("test"), [True, True, True, False, False, True])
    assert w.bias["test"][5] == np.float32(1.5)
