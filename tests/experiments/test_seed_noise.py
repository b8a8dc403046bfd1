"""OPT (eq. 11) and seed reliability: metrics against numpy, second draws train the lake models' own subsets."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from dm.analyze.views import seed_noise
from dm.analyze.views.predictions import SplitPredictions, _actual_margins
from dm.analyze.views.seed_noise import noise_metrics, replicate_seeds, train_replicates


def test_noise_metrics_against_numpy() -> None:
    rng = np.random.default_rng(0)
    m, k, n, n_split = 9, 6, 4, 7
    example_ids = np.array([5, 0, 3, 6])
    actual = rng.normal(size=(m, n))
    valid = rng.random((m, n)) > 0.3
    valid[:, 0] = True
    replicate = rng.normal(size=(k, n_split))
    preds = SplitPredictions("train", np.arange(m), example_ids, actual * 0, actual, valid)
    got = {r["metric"]: (r["value"], r["n"]) for r in noise_metrics(preds, replicate)}

    f1, f2, v = actual[:k], replicate[:, example_ids], valid[:k]
    opt = 0.5 * np.mean([np.mean((f1[v[:, j], j] - f2[v[:, j], j]) ** 2 / 2) for j in range(n)])
    rel = [spearmanr(f1[v[:, j], j], f2[v[:, j], j])[0] for j in range(n) if v[:, j].sum() >= 2]
    assert got["opt"] == (pytest.approx(opt, rel=1e-12), n)
    assert got["seed_reliability"][0] == pytest.approx(np.mean(rel), rel=1e-12)
    assert got["seed_reliability"][1] == len(rel)


def test_replicate_seeds_are_deterministic_and_new() -> None:
    seeds = np.array([0, 1, 2**62, 12345], np.int64)
    again = replicate_seeds(seeds)
    np.testing.assert_array_equal(again, replicate_seeds(seeds))
    assert (again >= 0).all() and len(set(again.tolist()) | set(seeds.tolist())) == 8


def test_second_draws_train_the_lake_models_subsets(small_lake, monkeypatch) -> None:
    ids = small_lake.lake.committed_ids()[[2, 7, 11]]
    stored = _actual_margins(small_lake.lake, "test", ids)
    draws = train_replicates(small_lake.cfg, small_lake.lake, ids)
    assert draws["test"].shape == stored.shape and draws["train"].shape == (3, small_lake.lake.d)
    assert not np.allclose(draws["test"], stored, atol=1e-3)  # another seed: other margins
    monkeypatch.setattr(seed_noise, "replicate_seeds", lambda seeds: seeds)  # same seeds: the lake's own models
    same = train_replicates(small_lake.cfg, small_lake.lake, ids)
    np.testing.assert_allclose(same["test"], stored, rtol=1e-4, atol=1e-4)
