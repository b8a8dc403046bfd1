"""Every attribution method scored by LDS on dm's held-out models, against its cost (`dm eval`, view
`attribution_scores`).

Ground truth: the lake's held-out test models (fit.json `test_model_ids`, never used by any method) and their
margins on test targets. Each method's score matrix s [n, d] predicts a held-out model's margin on target j as
mask @ s_j (calibrated per `dm.analyze.baselines.prediction`, on validation models only). Metrics are those of
the `evaluation` view (`dm.analyze.views.evaluate.split_metrics`): lds = mean per-target Spearman of mask @ s_j
vs the actual margin across held-out models (uncalibrated: a method is scored on its own ranking of subsets);
pearson / spearman (pooled over model-target pairs) and mse (eq. 10) of the calibrated prediction.

Methods that learn from the lake's subset models (datamodels, empirical influence) are run on the first N
fitting models (train + validation roles, in id order: ids are i.i.d. subsets) for every N of `model_counts`,
so datamodels become a curve "LDS vs how many models I trained". Datamodels are refitted with `dm fit`'s solver
(`dm.solve.path.fit_datamodels`, the `solve` config) on test targets only, λ chosen on the validation models
among the N. Methods that use reference models trained on the full set (TRAK, influence functions, TracIn,
nearest neighbours) count those models and their checkpoints.

Cost columns: models_trained (lake models for the lake methods, full-set reference models otherwise),
checkpoints (parameter sets the method evaluates gradients or features at), train_seconds (lake: Σ the models'
`train_seconds`, a vmapped group's wall time shared among its models; reference models: their own one-at-a-time
training loop, so per model far more than a lake model), attribution_seconds (fitting / featurizing / scoring),
seconds = their sum, device.

Table `eval/attribution/scores.parquet`, one row per (run, model count); rows are reused on a rerun when their
inputs (lake, fit split, targets, run settings, trainer, model, solver) are unchanged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from dm.analyze.baselines.datamodel import DatamodelRanker
from dm.analyze.baselines.factory import RankerFactory
from dm.analyze.baselines.influence import InfluenceRanker, read_outputs
from dm.analyze.baselines.prediction import LinearPredictor, fit_predictor
from dm.analyze.baselines.weights import DatamodelWeights
from dm.analyze.experiments.results import config_key
from dm.analyze.views.evaluate import split_metrics
from dm.analyze.views.model_split import read_model_split
from dm.analyze.views.predictions import SplitPredictions
from dm.config.attribution import LAKE_METHODS, AttributionConfig, ranker_options
from dm.lake.atomic import write_atomic
from dm.lake.bits import unpack_masks
from dm.lake.store import Lake, LakeError
from dm.solve.lake_fit import solve_config
from dm.solve.path import fit_datamodels

SCHEMA = pa.schema([
    ("method", pa.string()), ("settings", pa.string()), ("split", pa.string()), ("lds", pa.float64()),
    ("pearson", pa.float64()), ("spearman", pa.float64()), ("mse", pa.float64()), ("n_targets", pa.int32()),
    ("n_heldout_models", pa.int32()), ("n_models_used", pa.int32()), ("models_trained", pa.int32()),
    ("checkpoints", pa.int32()), ("calibration", pa.string()), ("calibration_models", pa.int32()),
    ("train_seconds", pa.float64()), ("attribution_seconds", pa.float64()), ("seconds", pa.float64()),
    ("device", pa.string()), ("key", pa.string()),
])


@dataclass
class GroundTruth:
    """The lake's models split by role, with masks and test margins.

    fitting: int64 [m_f] train + validation model ids (sorted); val: int64 [m_v]; heldout: int64 [m_h];
    heldout_masks bool [m_h, d]; heldout_margins float64 [m_h, n] on `targets`; the *_rows arrays index the
    lake-wide arrays `packed` (uint8 [M, ceil(d/8)]) and `margins` (float32 [M, n_test]) by model id.
    """

    d: int
    targets: np.ndarray
    model_ids: np.ndarray
    packed: np.ndarray
    margins: np.ndarray
    fitting: np.ndarray
    val: np.ndarray
    heldout: np.ndarray
    train_seconds: dict[int, float]

    def rows(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.model_ids, ids)

    def masks(self, ids: np.ndarray) -> np.ndarray:
        """bool [len(ids), d]."""
        return unpack_masks(self.packed[self.rows(ids)], self.d)

    def actual(self, ids: np.ndarray) -> np.ndarray:
        """float64 [len(ids), n]: margins of models `ids` on the targets."""
        return self.margins[self.rows(ids)][:, self.targets].astype(np.float64)


def ground_truth(lake: Lake, targets: np.ndarray) -> GroundTruth:
    roles = read_model_split(lake)
    if len(roles.test) < 3:
        raise LakeError("LDS needs held-out models: fit.json lists fewer than 3 test_model_ids")
    model_ids, packed = lake.read_masks()
    margin_ids, margins = read_outputs(lake, "test")
    if not np.array_equal(model_ids, margin_ids):
        raise LakeError("masks and test margins of the lake hold different models")
    models = lake.read_models()
    seconds = dict(zip(models.column("model_id").to_pylist(), models.column("train_seconds").to_pylist(), strict=True))
    return GroundTruth(lake.d, np.asarray(targets, np.int64), model_ids, packed, margins,
                       np.union1d(roles.train, roles.val), roles.val, roles.test, seconds)


def lake_subset(truth: GroundTruth, count: int) -> np.ndarray:
    """The first `count` fitting models (0 or more than there are: all)."""
    return truth.fitting if count <= 0 or count >= len(truth.fitting) else truth.fitting[:count]


def fit_datamodel_subset(cfg: DictConfig, truth: GroundTruth, models: np.ndarray, device: str) -> DatamodelWeights:
    """Datamodels of the test targets from the fitting models `models` only (λ chosen on their validation ones)."""
    rows = truth.rows(models)
    val_rows = np.nonzero(np.isin(models, truth.val))[0]
    if len(val_rows) == 0 or len(val_rows) == len(models):
        raise LakeError(f"{len(models)} fitting models hold no validation (or only validation) models")
    fit = fit_datamodels(torch.from_numpy(np.ascontiguousarray(truth.packed[rows])),
                         torch.from_numpy(np.ascontiguousarray(truth.margins[rows][:, truth.targets])),
                         torch.full((len(truth.targets),), -1, dtype=torch.int64), truth.d,
                         torch.from_numpy(val_rows), solve_config(cfg, torch.device(device)))
    n_test = truth.margins.shape[1]
    w = np.zeros((truth.d, n_test), np.float32)
    b = np.full(n_test, np.nan, np.float32)
    w[:, truth.targets] = fit.weights.numpy()
    b[truth.targets] = fit.bias.numpy()
    return DatamodelWeights(truth.d, {"test": w}, {"test": b})


def score(predictor: LinearPredictor, truth: GroundTruth) -> dict[str, float]:
    """lds of the raw scores; pearson, spearman, mse of the calibrated prediction (on the held-out models)."""
    masks = truth.masks(truth.heldout)
    actual = truth.actual(truth.heldout)
    valid = np.ones(actual.shape, bool)

    def metrics(predicted: np.ndarray) -> dict[str, float]:
        preds = SplitPredictions("test", truth.heldout, truth.targets, predicted, actual, valid)
        return {r["metric"]: r["value"] for r in split_metrics(preds)}

    calibrated = metrics(predictor.predict(masks))
    return {"lds": metrics(predictor.raw(masks))["lds"],
            **{k: calibrated[k] for k in ("pearson", "spearman", "mse")}}


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


def run_one(cfg: DictConfig, run: dict[str, Any], count: int | None, truth: GroundTruth, factory: RankerFactory,
            device: str) -> dict[str, Any]:
    """One row of the table: build the method, score the targets, calibrate, evaluate, account for the cost."""
    method = run["method"]
    opts = ranker_options(run)
    settings = dict(opts)
    if method in LAKE_METHODS:
        used = lake_subset(truth, int(count or 0))
        settings["models"] = len(used)
        calib_ids = used[np.isin(used, truth.val)]
        train_seconds = float(sum(truth.train_seconds[int(i)] for i in used))
        models_trained, checkpoints = len(used), len(used)
        if method == "datamodels":
            weights, seconds = _timed(lambda: fit_datamodel_subset(cfg, truth, used, device))
            ranker = DatamodelRanker(weights)
            predictor = fit_predictor(ranker.scores("test", truth.targets), "native",
                                      native_bias=ranker.bias("test", truth.targets))
        else:
            ranker = InfluenceRanker(factory.lake, model_ids=used, **opts)
            scores, seconds = _timed(lambda: ranker.scores("test", truth.targets))
            predictor = fit_predictor(scores, ranker.calibration, truth.masks(calib_ids), truth.actual(calib_ids))
    else:
        used = np.zeros(0, np.int64)
        calib_ids = truth.val
        n_ref = int(opts.get("models", 1)) if method != "random" else 0
        reference = factory.reference_models(n_ref) if n_ref else []
        train_seconds = float(sum(m.seconds for m in reference))
        (ranker, scores), seconds = _timed(lambda: _build_and_score(factory, method, opts, truth.targets))
        models_trained = len(reference)
        checkpoints = sum(len(m.checkpoints) for m in reference) if method == "tracin" else len(reference)
        predictor = fit_predictor(scores, ranker.calibration, truth.masks(calib_ids), truth.actual(calib_ids))
    return {"method": method, "settings": json.dumps(settings, sort_keys=True), "split": "test",
            **score(predictor, truth), "n_targets": len(truth.targets), "n_heldout_models": len(truth.heldout),
            "n_models_used": len(used), "models_trained": models_trained, "checkpoints": checkpoints,
            "calibration": predictor.calibration,
            "calibration_models": 0 if predictor.calibration == "native" else len(calib_ids),
            "train_seconds": train_seconds, "attribution_seconds": seconds, "seconds": train_seconds + seconds,
            "device": device}


def _build_and_score(factory: RankerFactory, method: str, opts: dict[str, Any], targets: np.ndarray):
    ranker = factory.build(method, opts)
    return ranker, ranker.scores("test", targets)


def score_attributions(cfg: DictConfig, lake: Lake, factory: RankerFactory, acfg: AttributionConfig,
                       targets: np.ndarray, device: str, progress: bool = True) -> pa.Table:
    """Score every run of `acfg` (each lake method at every model count), reusing rows whose inputs are unchanged;
    writes and returns `eval/attribution/scores.parquet`."""
    truth = ground_truth(lake, targets)
    common = {"lake": lake.meta["identity"], "targets": truth.targets.tolist(), "heldout": truth.heldout.tolist(),
              "val": truth.val.tolist(), "n_fitting": len(truth.fitting), "seed": factory.seed,
              "trainer": OmegaConf.to_container(cfg.trainer), "model": OmegaConf.to_container(cfg.model),
              "solve": OmegaConf.to_container(cfg.solve), "device": device}
    jobs = [(run, n if run["method"] in LAKE_METHODS else None) for run in acfg.runs
            for n in (sorted(set(acfg.model_counts), key=lambda c: c or np.inf) if run["method"] in LAKE_METHODS
                      else [None])]
    path = lake.layout.root / "eval" / "attribution" / "scores.parquet"
    old = {r["key"]: r for r in pq.read_table(path).to_pylist()} if path.exists() else {}
    rows = []
    bar = tqdm(jobs, desc="attribution LDS", unit="method", disable=not progress, dynamic_ncols=True)
    for run, count in bar:
        key = config_key({**common, "run": run, "count": count})
        bar.set_postfix_str(f"{run['method']}" + (f" n={count or 'all'}" if count is not None else ""))
        row = old.get(key) or {**run_one(cfg, run, count, truth, factory, device), "key": key}
        rows.append(row)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(pa.Table.from_pylist(rows, schema=SCHEMA), path)  # after every run: nothing lost on a crash
    bar.close()
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    write_atomic(table, path)
    return table
