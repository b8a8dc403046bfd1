"""Shared fixtures: composed Hydra configs and a small trained digits lake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
