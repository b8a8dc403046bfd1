"""Nearest neighbours in a trained model's representation space (paper F.2 "representation distance").

Features are the input of the network's last linear layer (the penultimate representation) of reference models
trained on the full training set. The score of train example i for target x is the cosine similarity of their
features, averaged over the reference models. With `same_label` (default), training examples whose label differs
from the target's true label are ranked after all same-label ones (score − 3, below any cosine): a near
neighbour of another class pushes the target's margin *down*, so it is not support of the correct-class margin,
and for leakage a copied image carries its label. The paper uses ℓ2 distance; it reports cosine behaves alike.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dm.analyze.baselines.checkpoints import CheckpointedModel
from dm.data.prepare import ResidentData


def penultimate_features(network: nn.Module, x: torch.Tensor, batch: int = 4096) -> torch.Tensor:
    """float32 [n, h]: the input of the last `nn.Linear` of `network` for every row of x [n, ...]."""
    last = [m for m in network.modules() if isinstance(m, nn.Linear)][-1]
    captured: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0].detach().float()))
    try:
        network.eval()
        with torch.no_grad():
            for first in range(0, len(x), batch):
                network(x[first : first + batch])
    finally:
        hook.remove()
    return torch.cat(captured).flatten(1)


class NearestNeighbourRanker:
    """Cosine similarity of penultimate features (same-label neighbours first unless same_label=False)."""

    name = "nearest"
    calibration = "affine"

    def __init__(self, models: list[CheckpointedModel], data: ResidentData, same_label: bool = True):
        self.data = data
        self.same_label = same_label
        self.feats = {
            split: [nn.functional.normalize(penultimate_features(m.network, x), dim=1) for m in models]
            for split, x in (("train", data.x_train), ("test", data.x_test))
        }

    def scores(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids), d]: mean cosine similarity (minus 3 for other-label train examples)."""
        idx = torch.as_tensor(np.asarray(ids, np.int64), device=self.data.x_train.device)
        sims = torch.stack([f_t[idx] @ f_tr.T for f_t, f_tr in zip(self.feats[split], self.feats["train"],
                                                                      strict=True)]).mean(0)
        if self.same_label:
            labels = (self.data.y_test if split == "test" else self.data.y_train)[idx]
            sims = sims - 3.0 * (labels[:, None] != self.data.y_train[None, :]).float()
        return sims.cpu().numpy().astype(np.float32)
