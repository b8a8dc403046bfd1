"""Counterfactual retraining through `dm.train.runner.train_models`, with a content-addressed cache in the lake.

A `TrainingSet` is the full training set minus some examples, optionally with some examples relabelled. Every
experiment states what it needs as `Request`s (training set, targets to record, T replicates); `run_requests`
merges requests for the same training set, looks up the cache, groups the missing models by training-set size
(one vmapped group must have equal subset sizes) and trains them in chunks of `trainer.models_per_process`.

Replicate t of every training set uses the same seed (common random numbers: the control and a counterfactual
share initialisations, which lowers the variance of their difference). Relabelled examples are realised without
changing `train_models`: the chunk's training data gets extra rows (copies of the relabelled examples with their
new labels) and a model's mask swaps its originals for its own copies, so sizes stay equal across the group.

Cache: `eval/retrains/part-<uuid>.parquet`, one row per trained model: key (sha256 of the training set and of
everything else that determines the model: trainer, model, data fingerprint), replicate, seed, target_ids
(list<int32>, test ids), logits (list<float32>, row-major [len(target_ids), classes]).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from omegaconf import DictConfig, OmegaConf
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from dm.config.schema import model_identity
from dm.data.prepare import ResidentData
from dm.ids import RETRAIN_SALT, seed_stream
from dm.lake.atomic import write_atomic
from dm.models.networks import network_factory
from dm.train.group import GroupResult, evaluate_group
from dm.train.runner import train_models

CACHE_SCHEMA = pa.schema([
    ("key", pa.string()),
    ("replicate", pa.int32()),
    ("seed", pa.int64()),
    ("target_ids", pa.list_(pa.int32())),
    ("logits", pa.list_(pa.float32())),
])


@dataclass(frozen=True)
class TrainingSet:
    """All d training examples except `removed`, with `relabeled` (train id, new label) pairs; both sorted."""

    removed: tuple[int, ...] = ()
    relabeled: tuple[tuple[int, int], ...] = ()

    @staticmethod
    def without(ids: Sequence[int] | np.ndarray) -> TrainingSet:
        return TrainingSet(removed=tuple(sorted(int(i) for i in ids)))

    @staticmethod
    def relabel(ids: Sequence[int] | np.ndarray, label: int) -> TrainingSet:
        return TrainingSet(relabeled=tuple(sorted((int(i), int(label)) for i in ids)))

    def size(self, d: int) -> int:
        """Rows a model of this training set trains on."""
        return d - len(self.removed)

    def key(self, context: str) -> str:
        payload = json.dumps([context, self.removed, self.relabeled], separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Request:
    """Train `replicates` models on `training_set` and record their logits on test examples `targets`."""

    training_set: TrainingSet
    targets: np.ndarray  # int64 [n_t] test ids
    replicates: int


@dataclass
class Retrainer:
    """Everything needed to train counterfactual models: config, resident data, cache directory, seed."""

    cfg: DictConfig
    data: ResidentData
    cache_dir: Path
    seed: int
    progress: bool = True
    trained: int = field(default=0, init=False)  # models trained by this object (not from the cache)
    scheduled: int = field(default=0, init=False)  # distinct models asked for (trained or found in the cache)

    @property
    def d(self) -> int:
        return len(self.data.y_train)

    @property
    def context(self) -> str:
        """What besides the training set determines a model (hashed into cache keys)."""
        parts = {"trainer": OmegaConf.to_container(self.cfg.trainer), "model": model_identity(self.cfg.model),
                 "data": self.data.info.fingerprint, "seed": self.seed}
        return json.dumps(parts, sort_keys=True)

    def replicate_seeds(self, count: int) -> np.ndarray:
        """int64 [count]: seed of replicate t, shared by every training set (common random numbers)."""
        return seed_stream(self.seed, RETRAIN_SALT, count)

    # ------------------------------------------------------------------ cache
    def _read_cache(self) -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
        out: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
        for path in sorted(self.cache_dir.glob("part-*.parquet")):
            table = pq.read_table(path).to_pydict()
            for key, rep, tids, logits in zip(table["key"], table["replicate"], table["target_ids"], table["logits"],
                                              strict=True):
                tids = np.asarray(tids, np.int64)
                if (key, rep) in out and len(out[(key, rep)][0]) >= len(tids):
                    continue  # a later retrain of the same model recorded more targets
                out[(key, rep)] = (tids, np.asarray(logits, np.float32).reshape(len(tids), -1))
        return out

    def _write_cache(self, rows: list[tuple[str, int, int, np.ndarray, np.ndarray]]) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        table = pa.table({
            "key": [r[0] for r in rows], "replicate": [r[1] for r in rows], "seed": [r[2] for r in rows],
            "target_ids": [r[3].astype(np.int32) for r in rows],
            "logits": [r[4].astype(np.float32).reshape(-1) for r in rows],
        }, schema=CACHE_SCHEMA)
        write_atomic(table, self.cache_dir / f"part-{uuid.uuid4().hex}.parquet")

    # ------------------------------------------------------------------ training
    def run(self, requests: list[Request]) -> list[np.ndarray]:
        """Logits float32 [replicates, len(targets), classes] for every request, training what the cache lacks."""
        context = self.context
        merged: dict[str, tuple[TrainingSet, set[int], int]] = {}
        for req in requests:
            key = req.training_set.key(context)
            ts, tids, reps = merged.get(key, (req.training_set, set(), 0))
            merged[key] = (ts, tids | {int(t) for t in req.targets}, max(reps, req.replicates))
        cache = self._read_cache()
        self.scheduled += sum(reps for _, _, reps in merged.values())
        jobs: dict[int, list[tuple[str, int]]] = defaultdict(list)  # size -> [(key, replicate)]
        for key, (ts, tids, reps) in merged.items():
            for t in range(reps):
                hit = cache.get((key, t))
                if hit is None or not tids <= set(hit[0].tolist()):
                    jobs[ts.size(self.d)].append((key, t))
        total = sum(len(v) for v in jobs.values())
        seeds_all = self.replicate_seeds(max((r for _, _, r in merged.values()), default=0))
        bar = tqdm(total=total, unit="model", desc="retrain", disable=not self.progress or total == 0,
                   dynamic_ncols=True)
        per = int(self.cfg.trainer.models_per_process)
        for size in sorted(jobs, reverse=True):
            for first in range(0, len(jobs[size]), per):
                chunk = jobs[size][first : first + per]
                sets = [merged[k][0] for k, _ in chunk]
                targets = [np.array(sorted(merged[k][1]), np.int64) for k, _ in chunk]
                seeds = seeds_all[[t for _, t in chunk]]
                logits = self._train_chunk(sets, seeds, targets)
                rows = [(k, t, int(s), tid, lg) for (k, t), s, tid, lg in zip(chunk, seeds, targets, logits,
                                                                                strict=True)]
                self._write_cache(rows)
                for k, t, _, tid, lg in rows:
                    cache[(k, t)] = (tid, lg)
                self.trained += len(chunk)
                bar.update(len(chunk))
        bar.close()
        out = []
        for req in requests:
            key = req.training_set.key(context)
            stack = []
            for t in range(req.replicates):
                tids, lg = cache[(key, t)]
                pos = np.searchsorted(tids, req.targets)
                stack.append(lg[pos])
            out.append(np.stack(stack))
        return out

    def _train_chunk(self, sets: list[TrainingSet], seeds: np.ndarray, targets: list[np.ndarray]) -> list[np.ndarray]:
        """Train one vmapped group (equal sizes) and return each model's logits [len(targets_k), classes]."""
        d = self.d
        extra_ids = [i for ts in sets for i, _ in ts.relabeled]
        extra_labels = [lab for ts in sets for _, lab in ts.relabeled]
        masks = np.ones((len(sets), d + len(extra_ids)), dtype=bool)
        offset = d
        for row, ts in enumerate(sets):
            masks[row, d:] = False
            masks[row, list(ts.removed)] = False
            own = [i for i, _ in ts.relabeled]
            masks[row, own] = False
            masks[row, offset : offset + len(own)] = True
            offset += len(own)
        data = self.data
        if extra_ids:
            idx = torch.as_tensor(extra_ids, device=data.x_train.device)
            labels = torch.as_tensor(extra_labels, dtype=data.y_train.dtype, device=data.y_train.device)
            data = ResidentData(torch.cat([data.x_train, data.x_train[idx]]), torch.cat([data.y_train, labels]),
                                data.x_test, data.y_test, data.info)
        result = train_models(self.cfg, data, seeds, masks)
        union = np.unique(np.concatenate(targets))
        x = self.data.x_test[torch.as_tensor(union, device=self.data.x_test.device)]
        logits = group_logits(self.cfg, self.data, result, x)
        return [logits[k, np.searchsorted(union, tid)] for k, tid in enumerate(targets)]


def group_logits(cfg: DictConfig, data: ResidentData, result: GroupResult, x: torch.Tensor) -> np.ndarray:
    """float32 [M, n, classes]: logits of the M trained models of `result` on x [n, ...] (eval mode, TTA as trained)."""
    base = network_factory(cfg.model, data.info)().to("meta").eval()

    def one(p: dict, b: dict, xb: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (xb,))

    forward = vmap(one, randomness="different")
    with torch.no_grad():
        return evaluate_group(forward, result.params, result.buffers, x, cfg.trainer.flip_tta).cpu().numpy()
