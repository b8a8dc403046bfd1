"""The guided search of paper Alg. 1 (removal, App. F.3) and F.4 (mislabelling), driven by any ranker.

For each (ranker, target, k): retrain T models without the ranker's top-k training examples ('remove') or with
them relabelled to the target's most-confused wrong class ('mislabel'); estimate the support from the curve
(`dm.analyze.experiments.support`), then verify ⌈slack·k̂⌉ by retraining once more.

Tables in `eval/<support|mislabel>/`:
  curves.parquet     split, example_id, ranker, variant, k, n_models, mean_margin, std_margin, fitted_margin
                     (k = 0 is the control; fitted_margin is the isotonic fit)
  estimates.parquet  split, example_id, label, ranker, variant, control_margin, k_hat, support_size (⌈slack·k̂⌉,
                     rounded up if verify_round > 0; null if not found within the largest k), status
                     ('found'/'not_found'/'misclassified'), verify_k, verify_margin (mean margin of the
                     verification models), verified (verify_margin < 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dm.analyze.experiments.config import SupportConfig
from dm.analyze.experiments.control import Control, margins_from_logits
from dm.analyze.experiments.retrain import Request, TrainingSet
from dm.analyze.experiments.support import FOUND, estimate_support


def round_up(k: int, per_octave: int) -> int:
    """The smallest size ≥ k on a grid of `per_octave` sizes per doubling (k itself if per_octave is 0).

    Verifications of equal size share one vmapped training group; exact sizes give one tiny group per target.
    """
    if per_octave <= 0 or k <= per_octave:
        return k
    step = 2 ** max(0, math.floor(math.log2(k)) - math.floor(math.log2(per_octave)))
    return int(math.ceil(k / step) * step)


@dataclass(frozen=True)
class SearchPoint:
    """One counterfactual training set of the search: `k` top examples of `ranker` for `target`."""

    ranker: str
    target: int
    k: int


def training_set(variant: str, order: np.ndarray, k: int, confused: int) -> TrainingSet:
    """The training set without (or with relabelled) the first k ids of `order`."""
    if variant == "remove":
        return TrainingSet.without(order[:k])
    if variant == "mislabel":
        return TrainingSet.relabel(order[:k], confused)
    raise ValueError(f"unknown variant {variant!r}")


def plan_search(scfg: SupportConfig, targets: np.ndarray, d: int) -> list[SearchPoint]:
    """The grid: every ranker × target × k (k < d)."""
    return [SearchPoint(r, int(t), k) for r in scfg.rankers for t in targets for k in scfg.ks if k < d]


def search_requests(variant: str, points: list[SearchPoint], orders: dict[str, dict[int, np.ndarray]],
                    control: Control, replicates: int) -> list[Request]:
    """orders[ranker][target] = int64 [d] train ids, most supportive first."""
    return [Request(training_set(variant, orders[p.ranker][p.target], p.k, int(control.confused[p.target])),
                    np.array([p.target]), replicates) for p in points]


@dataclass
class SearchResult:
    """The two tables, plus the points to verify (ranker, target, verify_k)."""

    curves: pa.Table
    estimates: dict[tuple[str, int], dict]
    to_verify: list[SearchPoint]


def summarise_search(variant: str, scfg: SupportConfig, points: list[SearchPoint], logits: list[np.ndarray],
                     labels: np.ndarray, control: Control, d: int) -> SearchResult:
    """Fit the isotonic curve of each (ranker, target) and decide what to verify."""
    by_curve: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}
    for p, lg in zip(points, logits, strict=True):
        by_curve.setdefault((p.ranker, p.target), []).append((p.k, margins_from_logits(lg, labels[[p.target]])[:, 0]))
    curve_rows: dict[str, list] = {c: [] for c in ("example_id", "ranker", "k", "n_models", "mean_margin",
                                                   "std_margin", "fitted_margin")}
    estimates, to_verify = {}, []
    for (ranker, target), obs in by_curve.items():
        ctrl = control.margins[:, target].astype(np.float64)
        obs = [(0, ctrl)] + sorted(obs, key=lambda o: o[0])
        ks = np.array([k for k, _ in obs], np.float64)
        means = np.array([m.mean() for _, m in obs])
        counts = np.array([len(m) for _, m in obs], np.float64)
        est = estimate_support(ks, means, counts, scfg.slack)
        for (k, m), fitted in zip(obs, est.fitted, strict=True):
            curve_rows["example_id"].append(target)
            curve_rows["ranker"].append(ranker)
            curve_rows["k"].append(k)
            curve_rows["n_models"].append(len(m))
            curve_rows["mean_margin"].append(float(m.mean()))
            curve_rows["std_margin"].append(float(m.std(ddof=1)) if len(m) > 1 else float("nan"))
            curve_rows["fitted_margin"].append(float(fitted))
        support = round_up(est.support, scfg.verify_round) if est.status == FOUND and est.support else est.support
        verify_k = support if est.status == FOUND and support is not None and support < d else None
        estimates[(ranker, target)] = {"k_hat": est.k_hat, "support_size": support, "status": est.status,
                                       "control_margin": float(ctrl.mean()), "verify_k": verify_k}
        if scfg.verify and verify_k is not None:
            to_verify.append(SearchPoint(ranker, target, verify_k))
    n = len(curve_rows["k"])
    curves = pa.table({
        "split": pa.array(["test"] * n), "example_id": pa.array(curve_rows["example_id"], pa.int32()),
        "ranker": pa.array(curve_rows["ranker"]), "variant": pa.array([variant] * n),
        "k": pa.array(curve_rows["k"], pa.int32()), "n_models": pa.array(curve_rows["n_models"], pa.int32()),
        **{c: pa.array(curve_rows[c], pa.float64()) for c in ("mean_margin", "std_margin", "fitted_margin")},
    })
    return SearchResult(curves, estimates, to_verify)


def estimates_table(variant: str, result: SearchResult, verify_logits: list[np.ndarray],
                    labels: np.ndarray) -> pa.Table:
    """The estimates table, with verification margins filled in for the verified points."""
    verified = {}
    for p, lg in zip(result.to_verify, verify_logits, strict=True):
        verified[(p.ranker, p.target)] = float(margins_from_logits(lg, labels[[p.target]])[:, 0].astype(np.float64)
                                               .mean())
    keys = sorted(result.estimates, key=lambda rt: (rt[0], rt[1]))
    est = [result.estimates[k] for k in keys]
    vm = [verified.get(k) for k in keys]
    return pa.table({
        "split": pa.array(["test"] * len(keys)), "example_id": pa.array([t for _, t in keys], pa.int32()),
        "label": pa.array([int(labels[t]) for _, t in keys], pa.int32()),
        "ranker": pa.array([r for r, _ in keys]), "variant": pa.array([variant] * len(keys)),
        "control_margin": pa.array([e["control_margin"] for e in est], pa.float64()),
        "k_hat": pa.array([e["k_hat"] for e in est], pa.float64()),
        "support_size": pa.array([e["support_size"] for e in est], pa.int32()),
        "status": pa.array([e["status"] for e in est]),
        "verify_k": pa.array([e["verify_k"] for e in est], pa.int32()),
        "verify_margin": pa.array(vm, pa.float64()),
        "verified": pa.array([None if v is None else v < 0 for v in vm], pa.bool_()),
    })


def support_metrics(prefix: str, estimates: pa.Table) -> list[tuple[str, float, int]]:
    """Per ranker: median support (not found counts as +inf, so the median can be inf), median over found,
    found fraction, verified fraction (of the verified points); plus `<prefix>_verified_fraction` for datamodels."""
    rankers = np.asarray(estimates.column("ranker").to_pylist())
    status = np.asarray(estimates.column("status").to_pylist())
    size = np.array([np.inf if s is None else s for s in estimates.column("support_size").to_pylist()], np.float64)
    verified = estimates.column("verified").to_pylist()
    out = []
    for r in np.unique(rankers):
        sel = rankers == r
        found = sel & (status == FOUND)
        checked = [v for v, s in zip(verified, sel, strict=True) if s and v is not None]
        out += [
            (f"{prefix}_median_{r}", float(np.median(size[sel])), int(sel.sum())),
            (f"{prefix}_median_found_{r}", float(np.median(size[found])) if found.any() else np.nan, int(found.sum())),
            (f"{prefix}_found_fraction_{r}", float(found.sum() / sel.sum()), int(sel.sum())),
            (f"{prefix}_verified_fraction_{r}", float(np.mean(checked)) if checked else np.nan, len(checked)),
        ]
        if r == "datamodels":
            out.append((f"{prefix}_verified_fraction", out[-1][1], out[-1][2]))
    return out
