"""Build rankers by name, lazily, sharing the reference models between the representation and TracIn baselines.

Names: datamodels, influence, nearest, tracin, random, and the peers from their own libraries: trak (`traker`),
if (influence functions, `dattri`). Settings per name (conf/eval/default.yaml `rankers`): influence.output;
nearest.models, nearest.same_label; tracin.models, tracin.last_layer; random.same_class; trak.models,
trak.proj_dim (0: no projection), trak.lambda_reg, trak.last_layer; if.models, if.method
(cg/explicit/ekfac/lissa), if.damping (default: the trainer's weight decay), if.max_iter.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig

from dm.analyze.baselines.checkpoints import CheckpointedModel, reference_seeds, train_reference_models
from dm.analyze.baselines.datamodel import DatamodelRanker
from dm.analyze.baselines.influence import InfluenceRanker
from dm.analyze.baselines.influence_functions import InfluenceFunctionRanker
from dm.analyze.baselines.random_order import RandomRanker
from dm.analyze.baselines.ranker import Ranker
from dm.analyze.baselines.representation import NearestNeighbourRanker
from dm.analyze.baselines.tracin import TracInRanker
from dm.analyze.baselines.trak import TrakRanker
from dm.analyze.baselines.weights import DatamodelWeights
from dm.data.prepare import ResidentData
from dm.errors import ConfigError
from dm.lake.store import Lake

RANKER_NAMES = ("datamodels", "influence", "nearest", "tracin", "random", "trak", "if")


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
        """The ranker `name` with the factory's settings for it (built once)."""
        if name not in self._built:
            self._built[name] = self.build(name, dict(self.settings.get(name, {})))
        return self._built[name]

    def build(self, name: str, opts: dict[str, Any]) -> Ranker:
        """A new ranker `name` with settings `opts` (reference models are shared across builds)."""
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
        if name == "trak":
            return TrakRanker(self.reference_models(int(opts.get("models", 1))), self.data,
                              int(opts.get("proj_dim", 512)), float(opts.get("lambda_reg", 0.0)),
                              bool(opts.get("last_layer", False)), seed=self.seed)
        if name == "if":
            damping = opts.get("damping")
            return InfluenceFunctionRanker(self.reference_models(int(opts.get("models", 1))), self.data,
                                           str(opts.get("method", "cg")),
                                           float(self.cfg.trainer.weight_decay if damping is None else damping),
                                           int(opts.get("max_iter", 20)))
        if name == "random":
            return RandomRanker(self.data.y_train.cpu().numpy(), self.data.y_test.cpu().numpy(), self.seed,
                                bool(opts.get("same_class", True)))
        raise ValueError(f"unknown ranker {name!r}; expected one of {RANKER_NAMES}")


def orders_for(ranker: Ranker, split: str, targets: np.ndarray) -> dict[int, np.ndarray]:
    """target id -> int64 [d] train ids, most supportive first."""
    from dm.analyze.baselines.ranker import ranking

    order = ranking(ranker.scores(split, targets))
    return {int(t): order[i] for i, t in enumerate(targets)}
