"""`dm fit`: datamodels for every target of the lake, sharded by target block over Fabric ranks.

Each rank reads the (bit-packed) masks once and only the margins of its own blocks, solves them with
`fit_datamodels`, and writes per block, atomically, `datamodels/`, `fit_path/` and last `datamodel_fits/`
(the block's commit marker). Rank 0 records the run in `fit.json`. A rerun with the same configuration skips
committed blocks (a no-op when all are done); a rerun with another configuration is refused.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pyarrow as pa
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm.auto import tqdm

from dm.errors import ConfigError
from dm.lake.atomic import write_atomic
from dm.lake.layout import Layout, experiment_root
from dm.lake.store import Lake, LakeError, TargetBlock
from dm.lake.version import code_version
from dm.solve.config import SolveConfig
from dm.solve.model_roles import ModelRoles, assign_roles
from dm.solve.path import fit_datamodels
from dm.solve.results import DatamodelFit

_ROLE_KEYS = ("test_fraction", "val_fraction", "split_seed")
_RUN_KEYS = ("blocks_per_call", "overwrite")  # change how, not what, is computed
OUTPUTS = ("datamodels", "datamodel_fits", "fit_path")


@dataclass
class FitSummary:
    root: Path
    fitted_blocks: int  # by this rank
    skipped_blocks: int
    targets: int
    failed: list[str]
    seconds: float


def solve_config(cfg: DictConfig, device: torch.device) -> SolveConfig:
    """The solver's dataclass from the `solve` config group (unknown keys are refused by SolveConfig)."""
    raw = OmegaConf.to_container(cfg.solve, resolve=True)
    for key in _ROLE_KEYS + _RUN_KEYS:
        raw.pop(key, None)
    raw["dtype"] = {"float32": torch.float32, "float64": torch.float64}[raw.get("dtype", "float32")]
    if raw.get("use_triton") in ("true", "false"):
        raw["use_triton"] = raw["use_triton"] == "true"
    try:
        return SolveConfig(**raw, device=str(device))
    except TypeError as err:
        raise ConfigError(f"solve: {err}") from err


def block_path(root: Path, output: str, block: TargetBlock) -> Path:
    return Layout(root).fit_block(output, block.split, block.block)


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


def _open_fit(cfg: DictConfig, lake: Lake, roles: ModelRoles) -> None:
    """Rank 0: refuse (or, with solve.overwrite, clear) a fit of another configuration; record this one."""
    root = lake.layout.root
    path = Layout(root).fit_json
    identity = fit_identity(cfg, roles)
    if path.exists():
        old = json.loads(path.read_text())
        same = {k: old.get(k) for k in identity} == identity
        if not same and not cfg.solve.overwrite:
            what = "solver settings" if old.get("solve") != identity["solve"] else "set of models in the lake"
            raise LakeError(
                f"{root} holds a fit made with other {what}; rerun with solve.overwrite=true to replace "
                "it, or use another lake.experiment"
            )
        if same:
            return
        for output in OUTPUTS:
            shutil.rmtree(root / output, ignore_errors=True)
    tmp = path.with_name(".fit.json.tmp")
    tmp.write_text(json.dumps({**identity, "code_version": code_version(), "status": "running"}))
    tmp.replace(path)


def _targets(blocks: list[TargetBlock]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target_train_ids int64 [n] with -1 for test targets, block index [n], example id [n]) of the columns."""
    example = np.concatenate([np.arange(b.first, b.first + b.length) for b in blocks]).astype(np.int64)
    owner = np.concatenate([np.full(b.length, i) for i, b in enumerate(blocks)])
    is_train = np.array([blocks[i].split == "train" for i in owner], dtype=bool)
    return np.where(is_train, example, -1), owner, example


def _write_block(root: Path, block: TargetBlock, fit: DatamodelFit, cols: np.ndarray) -> None:
    """Write one block's outputs; `cols` are this block's columns in `fit` (target k of the block = cols[k])."""
    failed = {f.target: f.reason for f in fit.failed}
    example_ids = np.arange(block.first, block.first + block.length, dtype=np.int32)
    w = fit.weights[:, cols].numpy()  # [d, len]
    train_id, k = np.nonzero(w)
    keep = ~np.isin(cols[k], list(failed))
    write_atomic(
        pa.table(
            {
                "example_id": example_ids[k[keep]],
                "train_id": train_id[keep].astype(np.int32),
                "weight": w[train_id[keep], k[keep]].astype(np.float32),
            }
        ),
        block_path(root, "datamodels", block),
    )
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
                "status": status,
            }
        ),
        block_path(root, "datamodel_fits", block),
    )  # last: the block's commit marker


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
    start = time.perf_counter()
    root = experiment_root(cfg)
    lake = Lake.open(root)
    roles = assign_roles(lake.committed_ids(), cfg.solve.test_fraction, cfg.solve.val_fraction, cfg.solve.split_seed)
    config = solve_config(cfg, fabric.device)
    if fabric.global_rank == 0:
        _open_fit(cfg, lake, roles)
    fabric.barrier()
    blocks = lake.target_blocks()
    pending = [b for b in blocks if not block_path(root, "datamodel_fits", b).exists()]
    fabric.barrier()  # all ranks plan from the same committed set
    mine = pending[fabric.global_rank :: fabric.world_size]
    per_call = cfg.solve.blocks_per_call or max(1, len(mine))
    fitting = np.concatenate([roles.train, roles.val])
    val_rows = torch.from_numpy(np.searchsorted(np.sort(fitting), roles.val))
    failed: list[str] = []
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
            _write_block(root, block, fit, np.nonzero(owner == i)[0])
        failed += [f"{group[owner[f.target]].split} example {example[f.target]}: {f.reason}" for f in fit.failed]
        bar.update(int(y.shape[1]))
    bar.close()
    fabric.barrier()
    seconds = time.perf_counter() - start
    if fabric.global_rank == 0:
        path = Layout(root).fit_json
        record = json.loads(path.read_text())
        record.update(status="done", fit_seconds=record.get("fit_seconds", 0.0) + seconds, code_version=code_version())
        tmp = path.with_name(".fit.json.tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(path)
    return FitSummary(root, len(mine), len(blocks) - len(pending), sum(b.length for b in blocks), failed, seconds)
