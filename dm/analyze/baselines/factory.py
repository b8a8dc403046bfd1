"""Build rankers by name, lazily, sharing the reference models between the representation and TracIn baselines.

Names: datamodels, influence, nearest, tracin, random. Settings per name (conf/eval/default.yaml `rankers`):
influence.output; nearest.models, nearest.same_label; tracin.models, tracin.last_layer; random.same_class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from dm.analyze.baselines.checkpoints import CheckpointedModel, reference_seeds, train_reference_models
from dm.analyze.baselines.datamodel import DatamodelRanker
from dm.analyze.baselines.influence import InfluenceRanker
from dm.analyze.baselines.random_order import RandomRanker
from dm.analyze.baselines.ranker import Ranker
from dm.analyze.baselines.representation import NearestNeighbourRanker
from dm.analyze.baselines.tracin import TracInRanker
from dm.analyze.baselines.weights import DatamodelWeights
from dm.data.prepare import ResidentData
from dm.errors import ConfigError
from dm.lake.store import Lake

RANKER_NAMES = ("datamodels", "influence", "nearest", "tracin", "random")


class RankerFactory:
    """`get(name)` builds each ranker once. settings: name -> options dict; seed seeds reference models / random."""

    def __init__(self, cfg: DictConfig, lake: Lake, data: ResidentData, weights: DatamodelWeights | None,
                 settings: dict[str, dict[str, Any]] | None = None, seed: int = 0):
        self.cfg, self.lake, self.data, self.weights = cfg, lake, data, weights
        self.settings = settings or {}
        self.seed = seed
        self._built: dict[str, Ranker] = {}
        self._reference: list[CheckpointedModel] = []

    def reference_models(self, count: int) -> list[CheckpointedModel]:
        """The first `count` full-training-set reference models (trained on first use)."""
        if len(self._reference) < count:
            seeds = reference_seeds(self.seed, count)[len(self._reference):]
            self._reference += train_reference_models(self.cfg, self.data, seeds)
        return self._reference[:count]

    def get(self, name: str) -> Ranker:
        if name not in self._built:
            self._built[name] = self._build(name, dict(self.settings.get(name, {})))
        return self._built[name]

    def _build(self, name: str, opts: dict[str, Any]) -> Ranker:
        if name == "datamodels":
            if self.weights is None:
                raise ConfigError("the datamodels ranker needs weights (run `dm fit`, or eval.weights=lasso)")
            return DatamodelRanker(self.weights)
        if name == "influence":
            return InfluenceRanker(self.lake, **opts)
        if name == "nearest":
            return NearestNeighbourRanker(self.reference_models(int(opts.get("models", 1))), self.data,
                                          bool(opts.get("same_label", True)))
        if name == "tracin":
            return TracInRanker(self.reference_models(int(opts.get("models", 3))), self.data,
                                bool(opts.get("last_layer", False)))
        if name == "random":
            return RandomRanker(self.data.y_train.cpu().numpy(), self.data.y_test.cpu().numpy(), self.seed,
                                bool(opts.get("same_class", True)))
        raise ValueError(f"unknown ranker {name!r}; expected one of {RANKER_NAMES}")


def orders_for(ranker: Ranker, split: str, targets: np.ndarray) -> dict[int, np.ndarray]:
    """target id -> int64 [d] train ids, most supportive first."""
    from dm.analyze.baselines.ranker import ranking

    order = ranking(ranker.scores(split, targets))
    return {int(t): order[i] for i, t in enumerate(targets)}
