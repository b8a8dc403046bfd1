"""TRAK (Park et al. 2023) through MadryLab's `traker` package, as a ranker with a score matrix.

Each reference model trained on the full set is one TRAK checkpoint: `traker` featurizes the training set with
projected per-example gradients of the margin-based output log(p/(1-p)) (its "image_classification" task, which
works on any classifier taking one example per call, so also on dm's MLP over feature vectors), then scores
targets; scores are averaged over checkpoints by `traker` itself. τ[j, i] estimates the change of target j's
output when training example i is included, so the prediction for a subset model is mask @ τ_j, up to an
arbitrary per-target scale (calibrated on validation models by `dm.analyze.baselines.prediction`).

`last_layer` restricts the gradients to the last linear layer's parameters (`traker`'s grad_wrt); proj_dim=0
uses `traker`'s NoOpProjector (no projection: exact TRAK on the raw gradients, for small parameter counts).

Projector: on CUDA `traker` uses its `fast_jl` CudaProjector when that optional extension is installed and
otherwise falls back, logging why, to its BasicProjector (dense Rademacher matrix); on CPU it always uses the
BasicProjector with a normal projection. dm does not install `fast_jl` (a CUDA build), so scores come from the
BasicProjector everywhere; they are the same estimator, only slower on large networks.
"""

from __future__ import annotations

import copy
import logging
import tempfile

import numpy as np
import torch

from dm.analyze.baselines.checkpoints import CheckpointedModel
from dm.data.prepare import ResidentData


class TrakRanker:
    """TRAK scores from `traker.TRAKer` over the final parameters of `models` (one checkpoint each)."""

    name = "trak"
    calibration = "affine"

    def __init__(self, models: list[CheckpointedModel], data: ResidentData, proj_dim: int = 512,
                 lambda_reg: float = 0.0, last_layer: bool = False, batch: int = 512, seed: int = 0):
        from trak import TRAKer
        from trak.projectors import NoOpProjector

        if not models:
            raise ValueError("TRAK needs at least one checkpoint (models >= 1)")
        self.models, self.data, self.batch = models, data, batch
        self.device = str(data.x_train.device)
        self._dir = tempfile.TemporaryDirectory(prefix="dm-trak-")
        network = _network(models[0])
        grad_wrt = None
        if last_layer:
            last = [n for n, m in network.named_modules() if isinstance(m, torch.nn.Linear)][-1]
            grad_wrt = [n for n, _ in network.named_parameters() if n.startswith(last + ".")]
        projector = NoOpProjector(device=self.device) if proj_dim == 0 else None
        self.traker = TRAKer(model=network, task="image_classification", train_set_size=len(data.y_train),
                             save_dir=self._dir.name, device=self.device, projector=projector,
                             proj_dim=proj_dim, use_half_precision=False, projector_seed=seed, lambda_reg=lambda_reg,
                             grad_wrt=grad_wrt, logging_level=logging.WARNING)
        for model_id, model in enumerate(models):
            self.traker.load_checkpoint(_state(model), model_id=model_id)
            for first in range(0, len(data.y_train), batch):
                xb, yb = data.x_train[first : first + batch], data.y_train[first : first + batch]
                self.traker.featurize(batch=[xb, yb], num_samples=len(yb))
        self.traker.finalize_features()
        self._calls = 0

    @property
    def checkpoints(self) -> int:
        return len(self.models)

    def scores(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids), d]: TRAK scores τ (mean over checkpoints) of every training example for each target."""
        x, y = self.data.rows(split, ids)
        self._calls += 1
        exp = f"{split}_{self._calls}"
        for model_id, model in enumerate(self.models):
            self.traker.start_scoring_checkpoint(exp_name=exp, checkpoint=_state(model), model_id=model_id,
                                                 num_targets=len(y))
            for first in range(0, len(y), self.batch):
                yb = y[first : first + self.batch]
                self.traker.score(batch=[x[first : first + self.batch], yb], num_samples=len(yb))
        out = np.array(self.traker.finalize_scores(exp_name=exp), dtype=np.float32)  # [d, n], copied off the memmap
        return np.ascontiguousarray(out.T)


def _network(model: CheckpointedModel) -> torch.nn.Module:
    return copy.deepcopy(model.network).eval()


def _state(model: CheckpointedModel) -> dict[str, torch.Tensor]:
    """The final parameters (the last epoch's checkpoint)."""
    return model.checkpoints[-1]
