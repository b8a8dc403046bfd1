"""A small digits lake (200 subset models) shared by the experiment tests, trained once per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from dm.config.compose import load_config
from dm.data.prepare import ResidentData, load_resident
from dm.lake.store import Lake
from dm.train.runner import experiment_root, run_train

SMALL_EVAL = [
    "eval.targets=3", "eval.replicates=2", "eval.control_replicates=3", "eval.weights=lasso",
    "eval.counterfactual.ks=[10,80]", "eval.support.ks=[40,160]", "eval.support.rankers=[datamodels,random]",
    "eval.mislabel.ks=[16,64]", "eval.rankers.tracin.models=1",
]


@pytest.fixture(autouse=True, scope="session")
def _threads() -> Iterator[None]:
    """Keep to one core: other work shares the machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class SmallLake:
    cfg: DictConfig
    root: Path
    lake: Lake
    data: ResidentData


def small_config(root: Path, *extra: str) -> DictConfig:
    return load_config(["dataset=digits", "subsets.num_models=200", "trainer.models_per_process=200",
                        f"lake.root={root}", "lake.experiment=small", *SMALL_EVAL, *extra])


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory: pytest.TempPathFactory) -> SmallLake:
    cfg = small_config(tmp_path_factory.mktemp("lake"))
    run_train(cfg)
    root = experiment_root(cfg)
    return SmallLake(cfg, root, Lake.open(root), load_resident(root))
