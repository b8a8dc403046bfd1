"""`dm train`: train the experiment's missing models with Fabric and commit them to the lake.

Ranks (devices x nodes) take chunks of model ids round-robin and train each chunk in groups of
`trainer.models_per_process` with the configured engine; they never synchronise gradients. With
`trainer.processes_per_device` > 1 each rank hands its chunks round-robin to that many worker processes on its
device (several model streams per GPU). Each chunk is committed atomically as soon
as it is done, so a crash loses at most the chunks in flight and a rerun trains only what is missing.
A chunk is claimed (`dm.lake.lock.chunk_claim`) while it trains: a second launcher of the same experiment skips
chunks in flight elsewhere and says so at the end.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from tqdm.auto import tqdm

from dm.cluster.shard import Shard
from dm.data.prepare import ResidentData, load_resident, prepare, read_info
from dm.lake.layout import experiment_root
from dm.lake.lock import chunk_claim
from dm.lake.store import Lake, PartResult
from dm.lake.version import code_version
from dm.models.networks import network_factory
from dm.train.group import GroupResult, train_group
from dm.train.linreg_group import train_linreg_group
from dm.train.memory import check_fits, group_size
from dm.train.plain import train_plain
from dm.train.plan import chunks_to_train, experiment_identity, lake_shape, my_chunks
from dm.train.subsets import model_seeds, subset_masks, subset_size


@dataclass
class TrainSummary:
    lake: Path
    trained: int  # by this rank
    total_models: int  # in the lake after the run (rank 0's view)
    seconds: float
    mean_test_accuracy: float
    skipped: int = 0  # by all ranks: models of chunks another launcher was training

    @property
    def models_per_second(self) -> float:
        return self.trained / self.seconds if self.seconds > 0 else float("nan")


def make_fabric(cfg: DictConfig) -> L.Fabric:
    """A launched Fabric for the `fabric` config group (several processes for devices > 1 on CPU)."""
    strategy = cfg.fabric.strategy
    if strategy == "auto" and cfg.fabric.accelerator == "cpu" and (cfg.fabric.devices > 1 or cfg.fabric.num_nodes > 1):
        strategy = "ddp"
    fabric = L.Fabric(accelerator=cfg.fabric.accelerator, devices=cfg.fabric.devices, num_nodes=cfg.fabric.num_nodes,
                      strategy=strategy, precision=cfg.trainer.precision)
    fabric.launch()
    return fabric


def train_models(cfg: DictConfig, data, seeds: np.ndarray, masks: np.ndarray) -> GroupResult:
    """Train models with given seeds and masks (bool [M, d], equal sizes) with the configured engine:
    `trainer.engine=vmap` trains them as one vmapped group, `plain` one after the other as ordinary modules."""
    eval_sets = {"test": (data.x_test, data.y_test), "train": (data.x_train, data.y_train)}
    if cfg.model.name == "linreg":
        return train_linreg_group(data.x_train, data.y_train, masks, cfg.model.ridge, eval_sets)
    factory = network_factory(cfg.model, data.info)
    engine = train_plain if cfg.trainer.engine == "plain" else train_group
    return engine(factory, data.x_train, data.y_train, masks, seeds, cfg.trainer, eval_sets)


def train_chunks(cfg: DictConfig, root: Path, chunks: list[np.ndarray], desc: str, position: int,
                 data: ResidentData | str, quiet: bool = False) -> tuple[list[np.ndarray], int, int]:
    """Train the model ids of `chunks` in groups of `trainer.models_per_process`, committing each group to the
    lake as soon as it is trained. Each chunk is claimed first; one that another process holds is skipped, and
    ids committed since the plan are dropped. Returns (the groups' test accuracies, models trained, models
    skipped). data: resident data or a device to load it on (a worker process of `trainer.processes_per_device`)."""
    if isinstance(data, str):  # a fresh worker process: the rank's settings, its share of the CPU threads
        torch.use_deterministic_algorithms(cfg.trainer.deterministic)
        torch.backends.cudnn.benchmark = data.startswith("cuda") and not cfg.trainer.deterministic
        torch.set_num_threads(max(1, torch.get_num_threads() // cfg.trainer.processes_per_device))
        data = load_resident(root, data)
    info, lake = data.info, Lake.open(root)
    size = subset_size(cfg.subsets.alpha, info.d)
    todo = int(sum(len(c) for c in chunks))
    bar = tqdm(total=todo, unit="model", desc=desc, position=position, dynamic_ncols=True, disable=quiet)
    accs, trained, skipped = [], 0, 0
    for planned in chunks:
        with chunk_claim(root, int(planned[0]) // cfg.lake.chunk_size) as claimed:
            ids = np.setdiff1d(planned, lake.committed_ids()) if claimed else planned[:0]
            skipped += 0 if claimed else len(planned)
            bar.total -= len(planned) - len(ids)  # skipped, or committed by another launcher since the plan
            bar.refresh()
            for first in range(0, len(ids), cfg.trainer.models_per_process):
                group = ids[first : first + cfg.trainer.models_per_process]
                seeds = model_seeds(cfg.subsets.seed, cfg.subsets.alpha, group)
                masks = subset_masks(seeds, info.d, size)
                result = train_models(cfg, data, seeds, masks)
                part = PartResult(group, seeds, masks, result.margins, result.test_accuracy,
                                  np.full(len(group), result.seconds / len(group)), code_version())
                added = lake.write_part(part)
                if added < len(group):  # another launcher of this experiment committed them first: never twice
                    tqdm.write(f"models {group[0]}..{group[-1]}: {len(group) - added} already committed by another "
                               "process; kept theirs")
                accs.append(result.test_accuracy)
                trained += len(group)
                bar.update(len(group))
    bar.close()
    return accs, trained, skipped


def run_train(cfg: DictConfig, fabric: L.Fabric | None = None) -> TrainSummary:
    """Train every model id in range(subsets.num_models) that the lake lacks."""
    fabric = fabric or make_fabric(cfg)
    if cfg.trainer.deterministic:
        torch.use_deterministic_algorithms(True)
    elif fabric.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed batch shapes: let cuDNN pick the fastest convolutions
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # pay torch's one-time optimizer import now
    root = experiment_root(cfg)
    if fabric.global_rank == 0:
        info = prepare(cfg, root)
        Lake.create_or_open(root, experiment_identity(cfg, info), lake_shape(cfg, info))
    fabric.barrier()
    info = read_info(root)
    lake = Lake.open(root)
    shard = Shard.from_cfg(cfg.launch)  # a job-array task trains only its own chunks
    chunks = shard.chunks(chunks_to_train(cfg.subsets.num_models, cfg.lake.chunk_size, lake.committed_ids()),
                          cfg.lake.chunk_size)
    fabric.barrier()  # every rank plans from the same committed set before anyone commits more
    mine = my_chunks(chunks, fabric.global_rank, fabric.world_size)
    todo = int(sum(len(c) for c in mine))
    start = time.perf_counter()
    workers = cfg.trainer.processes_per_device
    data = load_resident(root, fabric.device)
    check_fits(cfg, data, group_size(cfg, mine), workers)  # a one-line ConfigError now, not an OOM mid-training
    if workers == 1:
        accs, trained, skipped = train_chunks(cfg, root, mine, f"train rank {fabric.global_rank}", 0,
                                              data, quiet=fabric.global_rank != 0 and todo == 0)
    else:  # several processes share this rank's device, each taking whole chunks of this rank's share
        del data  # each worker loads its own copy
        if fabric.device.type == "cuda":
            torch.cuda.empty_cache()
        context = mp.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            jobs = [pool.submit(train_chunks, cfg, root, my_chunks(mine, w, workers),
                                f"train rank {fabric.global_rank}.{w}", w, str(fabric.device)) for w in range(workers)]
            results = [job.result() for job in jobs]
        accs = [acc for result in results for acc in result[0]]
        trained, skipped = sum(r[1] for r in results), sum(r[2] for r in results)
    seconds = time.perf_counter() - start
    skipped = int(fabric.all_reduce(torch.tensor(skipped, device=fabric.device), reduce_op="sum"))
    total = len(lake.committed_ids())
    acc = float(np.nanmean(np.concatenate(accs))) if accs and info.task == "classification" else float("nan")
    return TrainSummary(root, trained, total, seconds, acc, skipped)
