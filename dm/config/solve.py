"""The `solve` config group (conf/solve/saga.yaml), typed and checked without importing torch.

The solver's own dataclass, :class:`dm.solve.config.SolveConfig`, takes the same knobs (with a torch dtype and a
device) and runs the same checks, :func:`check_solver_knobs`: one set of rules for `dm fit` and for library calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dm.errors import ConfigError

DTYPES = ("float32", "float64")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(f"solve.{message}")


def check_solver_knobs(c: Any) -> None:
    """Check the solver knobs of `c` (a SolveSettings or a SolveConfig; dtype given by name or as torch dtype)."""
    _require(c.k_lambdas >= 1, f"k_lambdas={c.k_lambdas} must be >= 1")
    _require(c.lambda_ratio > 1.0, f"lambda_ratio={c.lambda_ratio} must be > 1 (λ_max / λ_min)")
    _require(c.path_patience is None or c.path_patience >= 1,
             f"path_patience={c.path_patience} must be >= 1 or null (walk the whole path)")
    _require(c.batch_size >= 1, f"batch_size={c.batch_size} must be >= 1")
    _require(getattr(c, "eval_batch_size", 1) >= 1, "eval_batch_size must be >= 1")
    _require(c.max_epochs >= 1, f"max_epochs={c.max_epochs} must be >= 1")
    _require(c.tol > 0 and c.path_tol > 0, f"tol={c.tol} and solve.path_tol={c.path_tol} must be > 0")
    _require(0.0 < c.gap_tol < 1.0, f"gap_tol={c.gap_tol} must be in (0, 1)")
    _require(c.full_batch in ("auto", True, False), f"full_batch={c.full_batch!r} must be auto, true or false")
    _require(c.checks_per_epoch >= 1, f"checks_per_epoch={c.checks_per_epoch} must be >= 1")
    _require(c.step_scale > 0, f"step_scale={c.step_scale} must be > 0")
    _require(0.0 < c.val_fraction < 1.0, f"val_fraction={c.val_fraction} must be in (0, 1)")
    dtype = str(c.dtype).removeprefix("torch.")
    _require(dtype in DTYPES, f"dtype={c.dtype} must be one of {DTYPES}")
    _require(c.use_triton in ("auto", True, False), f"use_triton={c.use_triton!r} must be auto, true or false")


@dataclass
class SolveSettings:
    """Knobs of `dm fit`: the solver's (documented on :class:`dm.solve.config.SolveConfig`; its eval_batch_size
    only sets memory use and is left at its default) plus how the lake's models are split and how the work is run.

    The fields are the keys of conf/solve/saga.yaml, which `dm fit` records in fit.json: a new field changes the
    recorded identity, and an existing fit is then refused until rerun with solve.overwrite=true."""

    k_lambdas: int = 20
    lambda_ratio: float = 100.0
    path_patience: int | None = 3
    batch_size: int = 512
    full_batch: Any = "auto"  # auto | true | false
    max_epochs: int = 300
    tol: float = 3e-3
    gap_tol: float = 1e-3
    path_tol: float = 2e-2
    checks_per_epoch: int = 8
    step_scale: float = 1.0
    val_fraction: float = 0.1
    dtype: str = "float32"
    use_triton: Any = "auto"  # auto | true | false
    seed: int = 0
    test_fraction: float = 0.1  # models held out for `dm eval` (by a hash of model_id), never fitted
    split_seed: int = 0  # seed of that hash (dm.ids.role_uniforms)
    blocks_per_call: int = 0  # target blocks solved together by one rank (0 = all of its blocks at once)
    overwrite: bool = False  # drop an existing fit of another configuration instead of refusing

    def __post_init__(self) -> None:
        check_solver_knobs(self)
        _require(0.0 <= self.test_fraction < 1.0, f"test_fraction={self.test_fraction} must be in [0, 1)")
        _require(self.blocks_per_call >= 0, f"blocks_per_call={self.blocks_per_call} must be >= 0")

