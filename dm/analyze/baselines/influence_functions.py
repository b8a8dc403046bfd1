"""Influence functions (Koh & Liang 2017) through `dattri`, as a ranker with a score matrix.

score[j, i] = ∇ℓ(z_i; θ)ᵀ (H + λI)⁻¹ ∇ℓ(z_j; θ), averaged over the final parameters θ of the reference models
(dattri's checkpoint ensemble), with ℓ the cross-entropy of dm's training and H the Hessian of the mean training
loss. Positive = up-weighting training example i lowers target j's loss (a proponent), so higher is more
supportive, as for TracIn. The damping λ defaults to the trainer's weight decay: SGD with weight decay minimises
mean loss + (wd/2)‖θ‖², whose Hessian is exactly H + wd·I. The score scale is arbitrary for LDS purposes
(calibrated per target on validation models by `dm.analyze.baselines.prediction`).

Methods (dattri attributors): `cg` (conjugate gradient iHVP), `explicit` (the inverse of the full Hessian; fine
for small networks), `ekfac` (eigenvalue-corrected K-FAC; Linear layers), `lissa`. dattri runs on CPU or CUDA
(`device` follows the data). The whole training set is one batch of dattri's Hessian loader, so H is the
Hessian of the mean loss over all d examples.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dm.analyze.baselines.checkpoints import CheckpointedModel
from dm.data.prepare import ResidentData

METHODS = ("cg", "explicit", "ekfac", "lissa")


def _attributor(method: str, task: Any, device: str, damping: float, max_iter: int) -> Any:
    from dattri.algorithm.influence_function import (
        IFAttributorCG,
        IFAttributorEKFAC,
        IFAttributorExplicit,
        IFAttributorLiSSA,
    )

    if method == "cg":
        return IFAttributorCG(task=task, device=device, regularization=damping, max_iter=max_iter)
    if method == "explicit":
        return IFAttributorExplicit(task=task, device=device, regularization=damping)
    if method == "ekfac":
        return IFAttributorEKFAC(task=task, device=device, damping=damping)
    if method == "lissa":
        return IFAttributorLiSSA(task=task, device=device, damping=damping, recursion_depth=max_iter)
    raise ValueError(f"unknown influence-function method {method!r}; expected one of {METHODS}")


class InfluenceFunctionRanker:
    """dattri influence-function scores of every training example for targets, from reference models."""

    name = "if"
    calibration = "affine"

    def __init__(self, models: list[CheckpointedModel], data: ResidentData, method: str = "cg",
                 damping: float = 0.0, max_iter: int = 20, batch: int = 4096):
        from dattri.task import AttributionTask

        if method not in METHODS:
            raise ValueError(f"unknown influence-function method {method!r}; expected one of {METHODS}")
        if not models:
            raise ValueError("influence functions need at least one reference model (models >= 1)")
        self.models, self.data, self.method, self.batch = models, data, method, batch
        self.network = copy.deepcopy(models[0].network).eval()
        net = self.network

        def loss(params: dict[str, torch.Tensor], batch_data: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            x, y = batch_data
            return nn.functional.cross_entropy(torch.func.functional_call(net, params, x).float(), y)

        self.task = AttributionTask(loss_func=loss, model=net, checkpoints=[m.checkpoints[-1] for m in models])
        self.attributor = _attributor(method, self.task, str(data.x_train.device), float(damping), int(max_iter))
        self.train_loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=batch, shuffle=False)
        self.attributor.cache(self.train_loader)

    @property
    def checkpoints(self) -> int:
        return len(self.models)

    def scores(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids), d]: mean over reference models of ∇ℓ_iᵀ (H + λI)⁻¹ ∇ℓ_j."""
        x, y = self.data.rows(split, ids)
        targets = DataLoader(TensorDataset(x, y), batch_size=self.batch, shuffle=False)
        out = self.attributor.attribute(self.train_loader, targets)  # [d, n]
        return np.ascontiguousarray(out.detach().T.cpu().numpy().astype(np.float32))
