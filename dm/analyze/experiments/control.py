"""The control of every counterfactual (paper F.1): models trained on the full training set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import torch

from dm.analyze.experiments.retrain import Request, Retrainer, TrainingSet
from dm.models.outputs import correct_class_margin


@dataclass
class Control:
    """margins float32 [T_c, n_test] of the T_c full-data models; confused int64 [n_test]: the wrong class with the
    highest mean logit (the relabelling target of F.4)."""

    margins: np.ndarray
    confused: np.ndarray

    @property
    def mean(self) -> np.ndarray:
        """float64 [n_test]: E[f(x; S)] estimated by the control models."""
        return self.margins.astype(np.float64).mean(axis=0)

    def table(self, labels: np.ndarray) -> pa.Table:
        """split, example_id, label, n_models, mean_margin, std_margin, confused_class."""
        n = self.margins.shape[1]
        return pa.table({
            "split": ["test"] * n, "example_id": np.arange(n, dtype=np.int32), "label": labels.astype(np.int32),
            "n_models": np.full(n, len(self.margins), np.int32), "mean_margin": self.mean,
            "std_margin": self.margins.astype(np.float64).std(axis=0, ddof=1) if len(self.margins) > 1
            else np.full(n, np.nan),
            "confused_class": self.confused.astype(np.int32),
        })


def margins_from_logits(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """float32 [..., n]: correct-class margins (eq. 7) of logits [..., n, C] for labels [n]."""
    lg = torch.from_numpy(np.ascontiguousarray(logits))
    lab = torch.from_numpy(np.asarray(labels, np.int64)).expand(lg.shape[:-1])
    return correct_class_margin(lg, lab).numpy()


def run_control(retrainer: Retrainer, replicates: int, labels: np.ndarray) -> Control:
    """Train (or reuse) `replicates` full-data models and summarise them for every test example."""
    n = len(labels)
    logits = retrainer.run([Request(TrainingSet(), np.arange(n, dtype=np.int64), replicates)])[0]  # [T, n, C]
    mean_logits = logits.astype(np.float64).mean(axis=0)
    mean_logits[np.arange(n), labels] = -np.inf
    return Control(margins_from_logits(logits, labels), mean_logits.argmax(axis=1))
