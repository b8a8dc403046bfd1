"""TracInCP (Pruthi et al. 2020; paper F.2): Σ_checkpoints η_e ⟨∇ℓ(z_train; θ_e), ∇ℓ(z_target; θ_e)⟩, averaged over
a few reference models trained on the full set. Positive = a gradient step on the train example lowers the
target's loss (a proponent), so higher is more supportive. Per-example gradients come from `torch.func`
(vmap of grad), streamed over chunks of training examples; `last_layer` restricts them to the last linear
layer's parameters (the usual TracIn shortcut for large networks)."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from dm.analyze.baselines.checkpoints import CheckpointedModel
from dm.data.prepare import ResidentData


def per_example_grads(network: nn.Module, state: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                      names: list[str]) -> torch.Tensor:
    """float32 [n, P]: ∇ of the cross-entropy of each example (x [n, ...], y [n]) w.r.t. parameters `names`."""
    params = {k: v for k, v in state.items() if k in names}
    rest = {k: v for k, v in state.items() if k not in names}

    def loss(p: dict, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = functional_call(network, ({**p, **rest},), (xi[None],))
        return nn.functional.cross_entropy(logits.float(), yi[None])

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    return torch.cat([grads[k].flatten(1) for k in names], dim=1)


class TracInRanker:
    """TracInCP scores of every training example for targets, from checkpointed reference models."""

    name = "tracin"
    calibration = "affine"

    def __init__(self, models: list[CheckpointedModel], data: ResidentData, last_layer: bool = False,
                 chunk: int = 512):
        self.models = models
        self.data = data
        self.chunk = chunk
        net = models[0].network
        if last_layer:
            last = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)][-1]
            self.names = [n for n, _ in net.named_parameters() if n.startswith(last + ".")]
        else:
            self.names = [n for n, _ in net.named_parameters()]

    def scores(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids), d]: mean over reference models of Σ_e η_e ⟨g_train, g_target⟩."""
        x_t, y_t = self.data.rows(split, ids)
        d = len(self.data.y_train)
        total = torch.zeros(len(y_t), d, dtype=torch.float64, device=x_t.device)
        for model in self.models:
            net = copy.deepcopy(model.network).eval()
            for state, lr in zip(model.checkpoints, model.lrs, strict=True):
                g_t = per_example_grads(net, state, x_t, y_t, self.names)
                for first in range(0, d, self.chunk):
                    g_tr = per_example_grads(net, state, self.data.x_train[first : first + self.chunk],
                                             self.data.y_train[first : first + self.chunk], self.names)
                    total[:, first : first + self.chunk] += lr * (g_t @ g_tr.T).double()
        return (total / len(self.models)).cpu().numpy().astype(np.float32)
