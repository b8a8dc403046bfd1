"""`dm fit`: datamodels for every target of the lake, sharded by target block over Fabric ranks.

Each rank reads the (bit-packed) masks once and only the margins of its own blocks, solves them with
`fit_datamodels`, and writes per block, atomically, `datamodels/`, `fit_path/` and last `datamodel_fits/`
and last the block's commit record (`dm.lake.records`: fit hash, checksums), its commit marker. Rank 0 holds
the experiment's fit lock for the whole run (a second `dm fit` is refused at once) and records the run in
`fit.json` (`dm.lake.fit_meta`). A rerun with the same configuration skips blocks whose record matches (a no-op
when all are done); a rerun with another configuration is refused, or with solve.overwrite replaces the fit.
"""

from __future__ import annotations

import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pyarrow as pa
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from dm.cluster.shard import Shard
from dm.errors import ConfigError
from dm.lake import schema
from dm.lake.atomic import write_atomic
from dm.lake.fit_blocks import OUTPUTS, block_key, block_path, commit_block, done_blocks
from dm.lake.fit_meta import read_fit_meta, write_fit_meta
from dm.lake.layout import Layout, experiment_root
from dm.lake.lock import experiment_lock, fit_lock, other_fits_running
from dm.lake.records import RECORDS_DIR, identity_hash
from dm.lake.rollups import write_block_rollups
from dm.lake.store import Lake, LakeError, TargetBlock
from dm.lake.verify import check_parts
from dm.lake.version import code_version
from dm.solve.config import SolveConfig
from dm.solve.model_roles import ModelRoles, assign_roles
from dm.solve.path import fit_datamodels
from dm.solve.results import DatamodelFit

_ROLE_KEYS = ("test_fraction", "val_fraction", "split_seed")
_RUN_KEYS = ("blocks_per_call", "overwrite")  # change how, not what, is computed


@dataclass
class FitSummary:
    root: Path
    fitted_blocks: int  # by this rank
    skipped_blocks: int  # of this task's blocks (a job-array task owns every num_shards-th block), done before
    targets: int  # in this task's blocks
    failed: list[str]
    seconds: float
    not_converged: list[str] = field(default_factory=list)  # fitted targets without a certificate (this rank)


def solve_config(cfg: DictConfig, device: torch.device) -> SolveConfig:
    """The solver's dataclass from the `solve` config group (unknown keys are refused by SolveConfig)."""
    raw = OmegaConf.to_container(cfg.solve, resolve=True)
    for key in _ROLE_KEYS + _RUN_KEYS:
        raw.pop(key, None)
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if raw.get("dtype", "float32") not in dtypes:
        raise ConfigError(f"solve.dtype={raw.get('dtype')!r} is not supported (float32 or float64)")
    raw["dtype"] = dtypes[raw.get("dtype", "float32")]
    for key in ("use_triton", "full_batch"):
        if raw.get(key) in ("true", "false"):
            raw[key] = raw[key] == "true"
    try:
        return SolveConfig(**raw, device=str(device))
    except TypeError as err:
        raise ConfigError(f"solve: {err}") from err


def fit_identity(cfg: DictConfig, roles: ModelRoles) -> dict[str, Any]:
    solve = OmegaConf.to_container(cfg.solve, resolve=True)
    for key in _RUN_KEYS:
        solve.pop(key, None)
    return {
        "solve": solve,
        "train_model_ids": roles.train.tolist(),
        "val_model_ids": roles.val.tolist(),
        "test_model_ids": roles.test.tolist(),
    }


def _open_fit(cfg: DictConfig, lake: Lake, roles: ModelRoles) -> str:
    """Rank 0, holding the fit lock: refuse (or, with solve.overwrite, clear) a fit of another configuration;
    record this one. Returns the fit hash that this fit's block records carry."""
    root = lake.layout.root
    identity = fit_identity(cfg, roles)
    fit_hash = identity_hash(lake.experiment_id, identity)
    old = read_fit_meta(lake.layout)
    if old is not None:
        same = {k: old.get(k) for k in identity} == identity and old.get("fit_hash") == fit_hash
        if not same and not cfg.solve.overwrite:
            what = "solver settings" if old.get("solve") != identity["solve"] else "set of models in the lake"
            raise LakeError(
                f"{root} holds a fit made with other {what}; rerun with solve.overwrite=true to replace "
                "it, or use another lake.experiment"
            )
        if same:
            return fit_hash
        if other_fits_running(root):
            raise LakeError(f"{root}: other `dm fit` tasks are writing the current fit; solve.overwrite would mix "
                            "two configurations (wait for them, or use another lake.experiment)")
        for output in (*OUTPUTS, f"{RECORDS_DIR}/fit"):
            shutil.rmtree(root / output, ignore_errors=True)
    write_fit_meta(lake.layout, {**identity, "fit_hash": fit_hash, "code_version": code_version(),
                                 "status": "running"})
    return fit_hash


def _targets(blocks: list[TargetBlock]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target_train_ids int64 [n] with -1 for test targets, block index [n], example id [n]) of the columns."""
    example = np.concatenate([np.arange(b.first, b.first + b.length) for b in blocks]).astype(np.int64)
    owner = np.concatenate([np.full(b.length, i) for i, b in enumerate(blocks)])
    is_train = np.array([blocks[i].split == "train" for i in owner], dtype=bool)
    return np.where(is_train, example, -1), owner, example


def _write_block(root: Path, block: TargetBlock, fit: DatamodelFit, cols: np.ndarray, fit_hash: str) -> None:
    """Write one block's outputs, then its commit record; `cols` are this block's columns in `fit` (target k of
    the block = cols[k])."""
    failed = {f.target: f.reason for f in fit.failed}
    example_ids = np.arange(block.first, block.first + block.length, dtype=np.int32)
    w = fit.weights[:, cols].numpy()  # [d, len]
    k, train_id = np.nonzero(w.T)  # target-major: one target's weights are contiguous (lake schema)
    keep = ~np.isin(cols[k], list(failed))
    train_id, k = train_id[keep].astype(np.int32), k[keep]
    weight = w[train_id, k].astype(np.float32)
    write_atomic(
        pa.table({"example_id": example_ids[k], "train_id": train_id, "weight": weight}),
        block_path(root, "datamodels", block),
        **schema.DATAMODELS_PARQUET,
    )
    write_block_rollups(Layout(root), block, k, train_id, weight, fit.bias[cols].double().numpy(), d=w.shape[0])
    log = fit.path
    sel = np.isin(log.target.numpy(), cols)
    pos = np.searchsorted(cols, log.target.numpy()[sel])
    write_atomic(
        pa.table(
            {
                "example_id": example_ids[pos],
                "lambda_index": log.lambda_index.numpy()[sel].astype(np.int32),
                "lambda": log.lam.numpy()[sel].astype(np.float64),
                "train_mse": log.train_mse.numpy()[sel].astype(np.float64),
                "val_mse": log.val_mse.numpy()[sel].astype(np.float64),
                "nnz": log.nnz.numpy()[sel].astype(np.int32),
            }
        ),
        block_path(root, "fit_path", block),
    )
    bias = fit.bias[cols].double().numpy()
    status = [failed.get(int(c), "ok") for c in cols]
    write_atomic(
        pa.table(
            {
                "example_id": example_ids,
                "bias": pa.array(np.where(np.isnan(bias), None, bias), type=pa.float64()),
                "lambda": fit.lam[cols].double().numpy(),
                "val_mse": fit.val_mse[cols].double().numpy(),
                "nnz": fit.nnz[cols].numpy().astype(np.int32),
                "n_models_used": fit.n_models_used[cols].numpy().astype(np.int32),
                "converged": fit.converged[cols].numpy(),
                "duality_gap": fit.duality_gap[cols].double().numpy(),
                "kkt_residual": fit.kkt[cols].double().numpy(),
                "status": status,
            }
        ),
        block_path(root, "datamodel_fits", block),
    )
    commit_block(root, block, fit_hash)


def read_fitting_data(lake: Lake, roles: ModelRoles, blocks: list[TargetBlock]) -> tuple[torch.Tensor, torch.Tensor]:
    """(packed masks uint8 [m, ceil(d/8)], margins float32 [m, n]) of the train + validation models, in id order."""
    ids, packed = lake.read_masks()
    keep = np.isin(ids, np.concatenate([roles.train, roles.val]))
    columns = []
    for block in blocks:
        margin_ids, margins = lake.read_margins(block.split, block.block)
        if not np.array_equal(margin_ids, ids):
            raise LakeError(
                f"masks and margins of {block.split} block {block.block} cover different model sets "
                f"({len(ids)} vs {len(margin_ids)} models); the lake is inconsistent"
            )
        columns.append(margins[keep])
    return torch.from_numpy(np.ascontiguousarray(packed[keep])), torch.from_numpy(np.concatenate(columns, axis=1))


def run_fit(cfg: DictConfig, fabric: L.Fabric) -> FitSummary:
    """Fit every target block this rank owns that is not yet committed."""
    shard = Shard.from_cfg(cfg.launch)
    with ExitStack() as stack:
        if fabric.global_rank == 0:  # job-array tasks of one fit hold one lock each and fit disjoint blocks
            stack.enter_context(fit_lock(experiment_root(cfg), shard.tag))
        return _run_fit(cfg, fabric)


def _run_fit(cfg: DictConfig, fabric: L.Fabric) -> FitSummary:
    start = time.perf_counter()
    root = experiment_root(cfg)
    lake = Lake.open(root)
    check_parts(lake, full=fabric.global_rank == 0)  # before anything is replaced (checksums are then cached)
    config = solve_config(cfg, fabric.device)
    roles = assign_roles(lake.committed_ids(), cfg.solve.test_fraction, cfg.solve.val_fraction, cfg.solve.split_seed)
    fit_hash = identity_hash(lake.experiment_id, fit_identity(cfg, roles))
    if fabric.global_rank == 0:
        with experiment_lock(root):  # job-array tasks starting together check and record fit.json one at a time
            _open_fit(cfg, lake, roles)
    fabric.barrier()
    blocks = lake.target_blocks()
    owned = Shard.from_cfg(cfg.launch).blocks(blocks)  # a job-array task fits only its own blocks
    done = done_blocks(root, fit_hash)
    pending = [b for b in owned if block_key(b) not in done]
    fabric.barrier()  # all ranks plan from the same committed set
    mine = pending[fabric.global_rank :: fabric.world_size]
    per_call = cfg.solve.blocks_per_call or max(1, len(mine))
    fitting = np.concatenate([roles.train, roles.val])
    val_rows = torch.from_numpy(np.searchsorted(np.sort(fitting), roles.val))
    failed: list[str] = []
    not_converged: list[str] = []
    bar = tqdm(
        total=sum(b.length for b in mine),
        unit="target",
        desc=f"fit rank {fabric.global_rank}",
        disable=not mine,
        dynamic_ncols=True,
    )
    for first in range(0, len(mine), per_call):
        group = mine[first : first + per_call]
        packed, y = read_fitting_data(lake, roles, group)
        train_ids, owner, example = _targets(group)
        fit = fit_datamodels(packed, y, torch.from_numpy(train_ids), lake.d, val_rows, config)
        for i, block in enumerate(group):
            _write_block(root, block, fit, np.nonzero(owner == i)[0], fit_hash)
        failed += [f"{group[owner[f.target]].split} example {example[f.target]}: {f.reason}" for f in fit.failed]
        unfit = {f.target for f in fit.failed}
        not_converged += [
            f"{group[owner[j]].split} example {example[j]}: relative duality gap {float(fit.duality_gap[j]):.1e} "
            f"after {float(fit.epochs[j]):.0f} epochs"
            for j in torch.nonzero(~fit.converged).squeeze(1).tolist()
            if j not in unfit
        ]
        bar.update(int(y.shape[1]))
    bar.close()
    fabric.barrier()
    seconds = time.perf_counter() - start
    if fabric.global_rank == 0:
        record = read_fit_meta(lake.layout) or {}
        finished = {block_key(b) for b in blocks} <= done_blocks(root, fit_hash)  # other shards may still run
        record.update(status="done" if finished else "running", code_version=code_version(),
                      fit_seconds=record.get("fit_seconds", 0.0) + seconds)
        write_fit_meta(lake.layout, record)
    return FitSummary(
        root, len(mine), len(owned) - len(pending), sum(b.length for b in owned), failed, seconds, not_converged
    )
