"""`run_experiments`: the retraining experiments of `dm eval` (counterfactuals, data support, mislabelling,
brittleness) on one lake, each stored under `lake/<exp>/eval/<experiment>/` and reused when its inputs repeat,
then the LDS-vs-cost comparison of every attribution method (`attribution`, needs `dm fit`'s held-out models).

Retrains are scheduled in three rounds so that models of equal training-set size from different experiments
share vmapped groups: (1) the control; (2) counterfactual sets and every search point; (3) verifications.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from omegaconf import DictConfig, OmegaConf

from dm.analyze.baselines.datamodel import DatamodelRanker
from dm.analyze.baselines.factory import RankerFactory, orders_for
from dm.analyze.baselines.lasso import fit_lasso_weights
from dm.analyze.baselines.random_order import RandomRanker
from dm.analyze.baselines.weights import DatamodelWeights, load_weights
from dm.analyze.experiments.attribution import score_attributions
from dm.analyze.experiments.brittleness import brittleness_cdf
from dm.analyze.experiments.config import EvalConfig
from dm.analyze.experiments.control import run_control
from dm.analyze.experiments.counterfactual import (
    counterfactual_metrics,
    counterfactual_requests,
    counterfactual_table,
    plan_counterfactual,
)
from dm.analyze.experiments.guided_search import (
    estimates_table,
    plan_search,
    search_requests,
    summarise_search,
    support_metrics,
)
from dm.analyze.experiments.results import ResultStore
from dm.analyze.experiments.retrain import Request, Retrainer
from dm.analyze.experiments.targets import balanced_sample
from dm.config.schema import model_identity
from dm.data.prepare import load_resident
from dm.lake.layout import experiment_root
from dm.lake.store import Lake, LakeError

SEARCHES = (("support", "remove"), ("mislabel", "mislabel"))


def device_for(cfg: DictConfig) -> str:
    """The device retrained models use: CUDA when the Fabric accelerator asks for a GPU and one is present."""
    return "cuda" if cfg.fabric.accelerator in ("gpu", "cuda") and torch.cuda.is_available() else "cpu"


def _weights(ecfg: EvalConfig, lake: Lake, weights: DatamodelWeights | None) -> DatamodelWeights | None:
    if weights is not None or ecfg.weights == "lasso":
        return weights
    loaded = load_weights(lake, ("test",))
    if "test" not in loaded.weights or not loaded.fitted("test").any():
        raise LakeError(f"{lake.layout.root} has no datamodel weights for test targets: run `dm fit` first "
                        "(or `dm eval eval.weights=lasso` to fit scikit-learn LASSO datamodels for the sampled targets)"
                        )
    return loaded


def run_experiments(cfg: DictConfig, lake_root: Path | str | None = None, weights: DatamodelWeights | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Run (or reuse) every enabled experiment of cfg.eval on the lake at `lake_root` (default: the experiment's).

    weights: datamodels to evaluate (default: read from the lake, or fitted with scikit-learn if
    eval.weights=lasso). Returns a summary: targets, retrains scheduled / trained, seconds, metrics (name ->
    value), written (experiment -> folder).
    """
    start = time.perf_counter()
    ecfg = EvalConfig.from_cfg(cfg.eval)
    root = Path(lake_root) if lake_root is not None else experiment_root(cfg)
    lake = Lake.open(root)
    if lake.meta["shape"].get("task", "classification") != "classification" or cfg.model.name == "linreg":
        raise LakeError("retraining experiments need a classification data set and network (margins of eq. 7)")
    data = load_resident(root, device_for(cfg))
    labels = data.y_test.cpu().numpy()
    weights = _weights(ecfg, lake, weights)
    targets = balanced_sample(labels, ecfg.targets, ecfg.seed, weights.fitted("test") if weights else None)
    if weights is None:
        weights = fit_lasso_weights(lake, "test", targets)
    store = ResultStore(root)
    retrainer = Retrainer(cfg, data, store.root / "retrains", ecfg.seed, progress)
    factory = RankerFactory(cfg, lake, data, weights, ecfg.ranker_options(), ecfg.seed)
    common = {"seed": ecfg.seed, "targets": targets.tolist(), "replicates": ecfg.replicates,
              "control_replicates": ecfg.control_replicates, "rankers": ecfg.ranker_options(),
              "trainer": OmegaConf.to_container(cfg.trainer), "model": model_identity(cfg.model),
              "lake": lake.meta["identity"], "n_models": int(len(lake.committed_ids())), "weights": weights.digest()}
    sections = ecfg.to_dict()
    configs = {name: {**common, name: sections[name]} for name in ("counterfactual", "support", "mislabel")}
    search_tables = ("curves", "estimates")
    tables_of = {"counterfactual": ("results",), "support": search_tables, "mislabel": search_tables}
    enabled = {"counterfactual": ecfg.counterfactual.enabled, "support": ecfg.support.enabled,
               "mislabel": ecfg.mislabel.enabled}
    done = {n: store.load(n, configs[n], tables_of[n]) for n in configs if enabled[n]}

    control = run_control(retrainer, ecfg.control_replicates, labels)
    store.save("control", {k: common[k] for k in ("seed", "control_replicates", "trainer", "model", "lake")},
               {"control": control.table(labels)})

    # round 2: every counterfactual set and search point, in one schedule
    requests: list[Request] = []
    spans: dict[str, tuple[int, int]] = {}
    plans: dict[str, Any] = {}
    d = lake.d
    datamodels = DatamodelRanker(weights)
    if enabled["counterfactual"] and done["counterfactual"] is None:
        random = RandomRanker(data.y_train.cpu().numpy(), labels, ecfg.seed,
                              ecfg.counterfactual.random_pool == "same_class")
        plans["counterfactual"] = plan_counterfactual(ecfg.counterfactual, targets, datamodels, random, d)
        reqs = counterfactual_requests(plans["counterfactual"], ecfg.replicates)
        spans["counterfactual"] = (len(requests), len(requests) + len(reqs))
        requests += reqs
    orders: dict[str, dict[int, np.ndarray]] = {}
    for name, variant in SEARCHES:
        scfg = getattr(ecfg, name)
        if not enabled[name] or done[name] is not None:
            continue
        for r in scfg.rankers:
            if r not in orders:
                orders[r] = orders_for(factory.get(r), "test", targets)
        plans[name] = plan_search(scfg, targets, d)
        reqs = search_requests(variant, plans[name], orders, control, ecfg.replicates)
        spans[name] = (len(requests), len(requests) + len(reqs))
        requests += reqs
    logits = retrainer.run(requests)

    # round 3: verification of the estimated supports
    searched, verify_reqs, verify_spans = {}, [], {}
    for name, variant in SEARCHES:
        if name not in plans:
            continue
        lo, hi = spans[name]
        searched[name] = summarise_search(variant, getattr(ecfg, name), plans[name], logits[lo:hi], labels, control, d)
        reqs = search_requests(variant, searched[name].to_verify, orders, control, ecfg.replicates)
        verify_spans[name] = (len(verify_reqs), len(verify_reqs) + len(reqs))
        verify_reqs += reqs
    verify_logits = retrainer.run(verify_reqs)

    summary: dict[str, Any] = {"targets": len(targets), "metrics": {}, "written": {}}
    if "counterfactual" in plans:
        lo, hi = spans["counterfactual"]
        table = counterfactual_table(plans["counterfactual"], logits[lo:hi], labels, control.mean, datamodels)
        summary["written"]["counterfactual"] = store.save("counterfactual", configs["counterfactual"],
                                                          {"results": table})
        done["counterfactual"] = {"results": table}
    for name, variant in SEARCHES:
        if name in searched:
            lo, hi = verify_spans[name]
            est = estimates_table(variant, searched[name], verify_logits[lo:hi], labels)
            summary["written"][name] = store.save(name, configs[name],
                                                  {"curves": searched[name].curves, "estimates": est})
            done[name] = {"curves": searched[name].curves, "estimates": est}
    if done.get("counterfactual"):
        rows = counterfactual_metrics(done["counterfactual"]["results"])
        store.write_metrics("counterfactual", rows)
        summary["metrics"].update({m: v for m, v, _ in rows})
    for name, _ in SEARCHES:
        if done.get(name):
            rows = support_metrics(name, done[name]["estimates"])
            store.write_metrics(name, rows)
            summary["metrics"].update({m: v for m, v, _ in rows})
    estimates = [done[n]["estimates"] for n, _ in SEARCHES if done.get(n)]
    if estimates:
        grid = sorted(set(ecfg.support.ks) | set(ecfg.mislabel.ks))
        cdf = brittleness_cdf(estimates, grid)
        summary["written"]["brittleness"] = store.save(
            "brittleness", {n: configs[n] for n, _ in SEARCHES if done.get(n)}, {"cdf": cdf})
    summary["retrains"] = {"scheduled": retrainer.scheduled, "trained": retrainer.trained}
    if ecfg.attribution.enabled:
        if lake.layout.fit_json.exists():
            fitted = load_weights(lake, ("test",)).fitted("test")
            n = ecfg.attribution.targets
            scored = np.nonzero(fitted)[0] if n == 0 else balanced_sample(labels, n, ecfg.seed, fitted)
            table = score_attributions(cfg, lake, factory, ecfg.attribution, scored, device_for(cfg), progress)
            summary["written"]["attribution"] = store.root / "attribution"
            summary["attribution"] = table
        else:
            summary["skipped"] = {"attribution": "no fit.json: run `dm fit` (its held-out models are the ground truth)"}
    summary["seconds"] = time.perf_counter() - start
    return summary


def read_table(lake_root: Path | str, experiment: str, table: str) -> pa.Table:
    """A stored experiment table, e.g. read_table(root, 'support', 'estimates')."""
    import pyarrow.parquet as pq

    return pq.read_table(Path(lake_root) / "eval" / experiment / f"{table}.parquet")
