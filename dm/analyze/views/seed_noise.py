"""OPT (paper eq. 11) and seed reliability: the part of a held-out margin that its training seed decides.

A datamodel predicts f(x_j; S_i) from the subset S_i alone; training adds noise (init seed, batch order) that no
predictor of the subset can follow. For the first `models` held-out test models of fit.json, a second model is
trained on the same subset with another seed. With two draws f1, f2 of the margin, (f1 - f2)^2 / 2 estimates the
training variance Var[f | S_i] without bias, so

    opt = (1/2n) Σ_j mean_i (f1_ij - f2_ij)^2 / 2          (eq. 11, in the units of the `mse` metric, eq. 10)
    seed_reliability = mean_j Spearman_i(f1_ij, f2_ij)      (an LDS near its square root is the noise ceiling)

over the same (model, target) pairs as the held-out predictions (train targets: models that exclude them).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from omegaconf import DictConfig

from dm.analyze.views.evaluate import METRICS_SCHEMA, eq10_mse, per_target_spearman
from dm.analyze.views.predictions import SplitPredictions
from dm.ids import second_seeds
from dm.lake.atomic import write_atomic
from dm.lake.bits import unpack_masks
from dm.lake.store import Lake


def replicate_seeds(seeds: np.ndarray) -> np.ndarray:
    """int64 [M]: another init / batch-order seed for each model seed (deterministic, distinct)."""
    return second_seeds(seeds)


def train_replicates(cfg: DictConfig, lake: Lake, model_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Margins {split: float [len(model_ids), n_split]} of second-seed models on the subsets of `model_ids`,
    trained in groups of `trainer.models_per_process`."""
    from dm.analyze.experiments.runner import device_for
    from dm.data.prepare import load_resident
    from dm.train.runner import train_models

    models = lake.read_models()
    seed_of = dict(zip(models.column("model_id").to_pylist(), models.column("seed").to_pylist(), strict=True))
    seeds = replicate_seeds(np.array([seed_of[int(i)] for i in model_ids], np.int64))
    mask_ids, packed = lake.read_masks()
    row_of = {int(i): r for r, i in enumerate(mask_ids)}
    masks = unpack_masks(packed[[row_of[int(i)] for i in model_ids]], lake.d)
    data = load_resident(lake.layout.root, device_for(cfg))
    step = cfg.trainer.models_per_process
    parts = [train_models(cfg, data, seeds[s : s + step], masks[s : s + step]).margins
             for s in range(0, len(model_ids), step)]
    return {split: np.concatenate([p[split] for p in parts]) for split in parts[0]}


def noise_metrics(preds: SplitPredictions, replicate: np.ndarray) -> list[dict]:
    """opt and seed_reliability rows of one split; `replicate` [k, n_split] margins of the first k held-out
    models' second draws (k <= len(preds.model_ids)). n = targets where the metric is defined."""
    k = replicate.shape[0]
    f1, f2, valid = preds.actual[:k], replicate[:, preds.example_ids], preds.valid[:k]
    rel = per_target_spearman(f1, f2, valid)
    defined = ~np.isnan(rel)
    mse, seen = eq10_mse(f1, f2, valid)  # E(f1 - f2)^2 = 2 Var[f | S]: OPT is half of it
    rows = [
        ("opt", mse / 2, seen),
        ("seed_reliability", float(rel[defined].mean()) if defined.any() else float("nan"), int(defined.sum())),
    ]
    return [{"metric": m, "value": v, "n": n, "split": preds.split} for m, v, n in rows]


def evaluate_seed_noise(cfg: DictConfig, lake: Lake, preds: list[SplitPredictions], models: int) -> list[dict]:
    """Train second draws of up to `models` held-out models and write eval/metrics/seed_noise.parquet."""
    model_ids = preds[0].model_ids[:models]
    replicate = train_replicates(cfg, lake, model_ids)
    rows = [row for p in preds for row in noise_metrics(p, replicate[p.split])]
    write_atomic(pa.Table.from_pylist(rows, schema=METRICS_SCHEMA), lake.layout.metrics("seed_noise"))
    return rows
