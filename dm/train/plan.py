"""Which models an experiment has, how they are grouped, and what identifies the experiment."""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from dm.config.schema import model_identity
from dm.data.prepare import DataInfo

# trainer keys that do not change what a model computes (only speed or memory)
_NON_IDENTITY_TRAINER_KEYS = ("models_per_process", "engine", "channels_last", "compile", "processes_per_device")


def experiment_identity(cfg: DictConfig, info: DataInfo) -> dict[str, Any]:
    """Everything that determines the trained models; a lake is only ever extended by runs that agree."""
    trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
    for key in _NON_IDENTITY_TRAINER_KEYS:
        trainer.pop(key, None)
    identity = {
        "dataset": info.name,
        "dataset_fingerprint": info.fingerprint,
        "alpha": float(cfg.subsets.alpha),
        "seed": int(cfg.subsets.seed),
        "model": model_identity(cfg.model),
        "trainer": trainer,
    }
    if trainer.get("augment"):
        # augmentation draws became a function of each model's seed (they were drawn per group before): lakes
        # augmented the old way are refused instead of being extended with differently trained models
        identity["augmentation_draws"] = "per-model-keys"
    return identity


def lake_shape(cfg: DictConfig, info: DataInfo) -> dict[str, Any]:
    return {"d": info.d, "n_test": info.n_test, "num_classes": info.num_classes, "task": info.task,
            "target_block": int(cfg.lake.target_block)}


def chunks_to_train(num_models: int, chunk_size: int, committed: np.ndarray) -> list[np.ndarray]:
    """The missing model ids of `range(num_models)`, grouped by chunk (ids c*chunk_size ... ), in chunk order."""
    missing = np.setdiff1d(np.arange(num_models, dtype=np.int64), committed)
    if not len(missing):
        return []
    groups = np.split(missing, np.nonzero(np.diff(missing // chunk_size))[0] + 1)
    return [g for g in groups if len(g)]


def my_chunks(chunks: list[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """Round-robin split of chunks between ranks (ranks never share a model id)."""
    return chunks[rank::world]
