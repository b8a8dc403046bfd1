"""Counterfactual evaluation (paper Alg. A.2, §4.1.2): remove top-k / bottom-k / random-k training examples by
θ_j, retrain T times, compare the actual margin change with the datamodel's prediction.

actual_delta = mean margin without R − control mean margin; predicted_delta = −Σ_{i∈R} θ_i (the view
`counterfactual_topk` uses the same sign). Random-k sets come from a fixed random order per target (same class as
the target by default, as in the paper's random baseline), so they are nested across k.

Table `eval/counterfactual/results.parquet`: split, example_id, label, removed ('top'/'bottom'/'random'), k,
n_models, control_margin, mean_margin, std_margin, actual_delta, predicted_delta (margins in logit units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from scipy import stats

from dm.analyze.baselines.datamodel import DatamodelRanker
from dm.analyze.baselines.ranker import Ranker, ranking
from dm.analyze.experiments.config import CounterfactualConfig
from dm.analyze.experiments.control import margins_from_logits
from dm.analyze.experiments.retrain import Request, TrainingSet


@dataclass(frozen=True)
class CounterfactualPoint:
    """One (target, removed set) of the experiment."""

    target: int
    removed: str
    k: int
    ids: np.ndarray  # int64 [k] train ids removed


def plan_counterfactual(ccfg: CounterfactualConfig, targets: np.ndarray, datamodels: DatamodelRanker,
                        random: Ranker, d: int) -> list[CounterfactualPoint]:
    """Every (target, removal heuristic, k) with k < d."""
    by_theta = ranking(datamodels.scores("test", targets))
    orders = {"top": by_theta, "bottom": by_theta[:, ::-1], "random": ranking(random.scores("test", targets))}
    return [CounterfactualPoint(int(t), kind, k, orders[kind][row, :k].copy())
            for row, t in enumerate(targets) for kind in ccfg.removed for k in ccfg.ks if k < d]


def counterfactual_requests(points: list[CounterfactualPoint], replicates: int) -> list[Request]:
    return [Request(TrainingSet.without(p.ids), np.array([p.target]), replicates) for p in points]


def counterfactual_table(points: list[CounterfactualPoint], logits: list[np.ndarray], labels: np.ndarray,
                         control_mean: np.ndarray, datamodels: DatamodelRanker) -> pa.Table:
    """The results table; logits[i] float32 [T, 1, C] of point i's retrained models."""
    rows: dict[str, list] = {c: [] for c in ("example_id", "label", "removed", "k", "n_models", "control_margin",
                                             "mean_margin", "std_margin", "actual_delta", "predicted_delta")}
    for p, lg in zip(points, logits, strict=True):
        m = margins_from_logits(lg, labels[[p.target]])[:, 0].astype(np.float64)
        rows["example_id"].append(p.target)
        rows["label"].append(int(labels[p.target]))
        rows["removed"].append(p.removed)
        rows["k"].append(p.k)
        rows["n_models"].append(len(m))
        rows["control_margin"].append(float(control_mean[p.target]))
        rows["mean_margin"].append(float(m.mean()))
        rows["std_margin"].append(float(m.std(ddof=1)) if len(m) > 1 else float("nan"))
        rows["actual_delta"].append(float(m.mean() - control_mean[p.target]))
        rows["predicted_delta"].append(datamodels.predicted_delta("test", p.target, p.ids))
    n = len(points)
    return pa.table({
        "split": pa.array(["test"] * n), "example_id": pa.array(rows["example_id"], pa.int32()),
        "label": pa.array(rows["label"], pa.int32()), "removed": pa.array(rows["removed"]),
        "k": pa.array(rows["k"], pa.int32()), "n_models": pa.array(rows["n_models"], pa.int32()),
        **{c: pa.array(rows[c], pa.float64()) for c in ("control_margin", "mean_margin", "std_margin",
                                                          "actual_delta", "predicted_delta")},
    })


def counterfactual_metrics(table: pa.Table) -> list[tuple[str, float, int]]:
    """Pearson and Spearman of predicted vs actual change, pooled and per removal heuristic."""
    actual = table.column("actual_delta").to_numpy()
    predicted = table.column("predicted_delta").to_numpy()
    kinds = np.asarray(table.column("removed").to_pylist())
    out = []
    for suffix, sel in [("", np.ones(len(actual), bool))] + [(f"_{k}", kinds == k) for k in np.unique(kinds)]:
        a, p = actual[sel], predicted[sel]
        ok = len(a) > 2 and np.std(a) > 0 and np.std(p) > 0
        out.append((f"counterfactual_pearson{suffix}", stats.pearsonr(p, a)[0] if ok else np.nan, len(a)))
        out.append((f"counterfactual_spearman{suffix}", stats.spearmanr(p, a)[0] if ok else np.nan, len(a)))
    return out
