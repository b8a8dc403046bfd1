"""Shared fixtures: composed Hydra configs and a small trained digits lake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from dm.config.compose import load_config

SMALL = ["subsets.num_models=48", "lake.chunk_size=16", "trainer.models_per_process=16"]


@pytest.fixture(scope="session")
def compose() -> Callable[..., DictConfig]:
    """compose(*overrides) -> the validated config, as the CLI would build it."""
    return lambda *overrides: load_config(list(overrides))


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory: pytest.TempPathFactory, compose) -> tuple[DictConfig, Path]:
    """48 digits MLPs at alpha=0.5 in 3 parts of 16, trained once per test session."""
    from dm.train.runner import run_train

    root = tmp_path_factory.mktemp("lake")
    cfg = compose(*SMALL, f"lake.root={root}", "lake.experiment=small", "lake.target_block=200")
    run_train(cfg)
    return cfg, root / "small"


def assert_same_lake(built: Path, reference: Path, n_models: int) -> None:
    """Two experiments hold the same models: ids 0..n_models-1, masks, margins and per-model columns."""
    from dm.lake.store import Lake

    two, one = Lake.open(built), Lake.open(reference)
    ids_two, masks_two = two.read_masks()
    ids_one, masks_one = one.read_masks()
    np.testing.assert_array_equal(ids_two, np.arange(n_models))
    np.testing.assert_array_equal(ids_two, ids_one)
    np.testing.assert_array_equal(masks_two, masks_one)
    for block in one.target_blocks():
        np.testing.assert_allclose(two.read_margins(block.split, block.block)[1],
                                   one.read_margins(block.split, block.block)[1], rtol=1e-5, atol=1e-5)
    cols = ["model_id", "seed", "n_included", "test_accuracy"]
    assert two.read_models().select(cols).sort_by("model_id").equals(one.read_models().select(cols))


def fitted_weights(root: Path) -> dict[str, np.ndarray]:
    """Dense datamodel weights [d, n_split] per split, read straight from an experiment's datamodels/ files."""
    import pyarrow.parquet as pq

    from dm.lake.store import Lake

    lake = Lake.open(root)
    out = {}
    for split in ("test", "train"):
        w = np.zeros((lake.d, lake.split_size(split)), np.float32)
        for path in sorted((root / "datamodels" / f"split={split}").glob("*.parquet")):
            t = pq.read_table(path)
            w[t["train_id"].to_numpy(), t["example_id"].to_numpy()] = t["weight"].to_numpy()
        out[split] = w
    return out
