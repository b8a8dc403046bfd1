"""Commands of the pipeline stages: each prints a short summary of what it wrote and where."""

from __future__ import annotations

import argparse

from omegaconf import DictConfig

from dm.lake.layout import experiment_root
from dm.lake.store import Lake
from dm.lake.views import build_views


def prepare_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    from dm.data.prepare import prepare

    root = experiment_root(cfg)
    info = prepare(cfg, root)
    print(f"prepared {info.name}: {info.d} train / {info.n_test} test examples, {info.num_classes or 'regression'}"
          f" classes, fingerprint {info.fingerprint[:12]} -> {root / 'data'}")
    return 0


def refresh_views(cfg: DictConfig) -> None:
    build = build_views(Lake.open(experiment_root(cfg)))
    print(f"views in {experiment_root(cfg) / 'dm.duckdb'}: {', '.join(v for v in build.created if not v.startswith('stg_'))}")


def train_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    from dm.train.runner import make_fabric, run_train

    fabric = make_fabric(cfg)
    summary = run_train(cfg, fabric)
    if fabric.global_rank == 0:
        refresh_views(cfg)
        acc = f", mean test accuracy {summary.mean_test_accuracy:.4f}" if summary.trained else ""
        print(f"trained {summary.trained} models on rank 0 in {summary.seconds:.1f}s "
              f"({summary.models_per_second:.1f} models/s{acc}); the lake holds {summary.total_models} models "
              f"-> {summary.lake}")
    return 0


def fit_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    from dm.solve.lake_fit import run_fit
    from dm.train.runner import make_fabric

    fabric = make_fabric(cfg)
    summary = run_fit(cfg, fabric)
    if fabric.global_rank == 0:
        refresh_views(cfg)
        for line in summary.failed[:20]:
            print(f"not fitted: {line}")
        print(f"fit {summary.targets} targets ({summary.skipped_blocks} blocks already done) in {summary.seconds:.1f}s"
              f"{f', {len(summary.failed)} failed' if summary.failed else ''} -> {summary.root}")
    return 0
