"""A small lake with hand-written datamodels, shared by the view tests, and the numpy truth it was made from."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dm.lake.fit_blocks import commit_block
from dm.lake.rollups import backfill_rollups
from dm.lake.store import Lake, PartResult
from dm.lake.views import build_views

D, N_TEST, BLOCK, M, GROUPS = 60, 25, 16, 90, 3
SPLITS = ("test", "train")


@dataclass
class Truth:
    """Everything written to the lake, dense. Targets of a split are all its examples (ids 0..n-1)."""

    root: Path
    masks: np.ndarray  # bool [M, D]
    margins: dict[str, np.ndarray]  # split -> float32 [M, n]
    labels: dict[str, np.ndarray]  # split -> int32 [n]
    weights: dict[str, np.ndarray]  # split -> float64 [n, D] (θ per target, zeros included)
    bias: dict[str, np.ndarray]  # split -> float64 [n]
    group: dict[str, np.ndarray]  # split -> int [n]: planted cluster (-1 for the all-zero target)
    test_models: np.ndarray  # int64 held-out model ids

    @property
    def lake(self) -> Lake:
        return Lake.open(self.root)


def _weights(rng: np.random.Generator, n: int, group: np.ndarray) -> np.ndarray:
    """Sparse θ per target, supported on the train ids of its group's third of the training set."""
    w = np.zeros((n, D))
    width = D // GROUPS
    for j in range(n):
        if group[j] < 0:
            continue
        cols = group[j] * width + np.flatnonzero(rng.random(width) < 0.8)
        sign = np.where(rng.random(len(cols)) < 0.1, -0.5, 1.0)  # mostly positive, some negative weights
        w[j, cols] = (sign * rng.normal(1.0, 0.3, len(cols))).round(6)
    return w


def _write_blocks(root: Path, table_name: str, split: str, table: pa.Table) -> None:
    """Write `table` (with an example_id column) as <table_name>/split=<s>/block=<b>.parquet files."""
    block_of = table.column("example_id").to_numpy() // BLOCK
    for b in np.unique(block_of):
        path = root / table_name / f"split={split}" / f"block={b:04d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.filter(pa.array(block_of == b)), path)


def _write_retraining_results(root: Path) -> None:
    """`dm eval`'s retraining outputs, with the column types of their writers (dm.analyze.experiments)."""
    from dm.analyze.experiments.attribution import SCHEMA

    (root / "eval" / "attribution").mkdir(parents=True, exist_ok=True)
    pq.write_table(SCHEMA.empty_table(), root / "eval" / "attribution" / "scores.parquet")
    folder = root / "eval" / "counterfactual"
    folder.mkdir(parents=True, exist_ok=True)
    floats = {c: pa.array([0.5, -0.25]) for c in ("control_margin", "mean_margin", "std_margin", "actual_delta")}
    pq.write_table(
        pa.table(
            {
                "split": ["test", "test"],
                "example_id": pa.array([3, 3], pa.int32()),
                "label": pa.array([1, 1], pa.int32()),
                "removed": ["top", "random"],
                "k": pa.array([10, 10], pa.int32()),
                "n_models": pa.array([4, 4], pa.int32()),
                **floats,
                "predicted_delta": pa.array([-0.2, 0.0]),
            }
        ),
        folder / "results.parquet",
    )
    folder = root / "eval" / "brittleness"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "ranker": ["datamodel", "datamodel"],
                "variant": ["remove", "mislabel"],
                "k": pa.array([10, 10], pa.int32()),
                "fraction": pa.array([0.25, 0.5]),
                "n_targets": pa.array([8, 8], pa.int32()),
            }
        ),
        folder / "cdf.parquet",
    )


def make_lake(root: Path, seed: int = 0) -> Truth:
    rng = np.random.default_rng(seed)
    sizes = {"test": N_TEST, "train": D}
    lake = Lake.create_or_open(
        root,
        {"alpha": 0.5, "seed": seed},
        {"d": D, "n_test": N_TEST, "num_classes": 3, "task": "classification", "target_block": BLOCK},
    )
    labels = {s: rng.integers(0, 3, n).astype(np.int32) for s, n in sizes.items()}
    examples = pa.table(
        {
            "split": [s for s in SPLITS for _ in range(sizes[s])],
            "example_id": np.concatenate([np.arange(sizes[s]) for s in SPLITS]).astype(np.int32),
            "label": np.concatenate([labels[s] for s in SPLITS]),
            "target": pa.nulls(N_TEST + D, pa.float64()),
        }
    )
    lake.layout.examples.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(examples, lake.layout.examples)

    masks = np.zeros((M, D), bool)
    for i in range(M):
        masks[i, rng.choice(D, D // 2, replace=False)] = True
    group = {s: rng.integers(0, GROUPS, n) for s, n in sizes.items()}
    group["test"][0] = -1  # a target with no nonzero weight
    weights = {s: _weights(rng, n, group[s]) for s, n in sizes.items()}
    for j in range(D):  # eq. 9: a train target's own weight is never fitted
        weights["train"][j, j] = 0.0
    bias = {s: rng.normal(0.5, 1.0, n).round(6) for s, n in sizes.items()}
    bias["test"][1] = -50.0  # predicted margin <= 0: support 0
    bias["test"][2] = 1e3  # never reached: support NULL
    margins = {
        s: (masks @ weights[s].T + bias[s] + rng.normal(0, 0.3, (M, n))).astype(np.float32) for s, n in sizes.items()
    }
    for first, last in ((0, 39), (40, M - 1)):
        ids = np.arange(first, last + 1)
        lake.write_part(
            PartResult(
                ids.astype(np.int64),
                ids.astype(np.int64),
                masks[ids],
                {s: margins[s][ids] for s in SPLITS},
                np.full(len(ids), 0.5),
                np.ones(len(ids)),
                "test",
            )
        )

    for s in SPLITS:
        j, i = np.nonzero(weights[s])
        _write_blocks(
            root,
            "datamodels",
            s,
            pa.table(
                {
                    "example_id": j.astype(np.int32),
                    "train_id": i.astype(np.int32),
                    "weight": weights[s][j, i].astype(np.float32),
                }
            ),
        )
        n = sizes[s]
        _write_blocks(
            root,
            "datamodel_fits",
            s,
            pa.table(
                {
                    "example_id": np.arange(n, dtype=np.int32),
                    "bias": bias[s],
                    "lambda": np.full(n, 0.01),
                    "val_mse": rng.random(n),
                    "nnz": (weights[s] != 0).sum(axis=1).astype(np.int32),
                    "n_models_used": np.full(n, 60, np.int32),
                    "converged": np.arange(n) % 7 != 3,
                    "duality_gap": np.where(np.arange(n) % 7 != 3, 1e-4, 0.2),
                    "kkt_residual": np.full(n, 1e-3),
                    "status": ["ok"] * n,
                }
            ),
        )
        path_len = 4
        _write_blocks(
            root,
            "fit_path",
            s,
            pa.table(
                {
                    "example_id": np.repeat(np.arange(n, dtype=np.int32), path_len),
                    "lambda_index": np.tile(np.arange(path_len, dtype=np.int32), n),
                    "lambda": np.tile(0.1 / 10.0 ** np.arange(path_len), n),
                    "train_mse": rng.random(n * path_len),
                    "val_mse": rng.random(n * path_len),
                    "nnz": rng.integers(0, D, n * path_len).astype(np.int32),
                }
            ),
        )
    backfill_rollups(lake)  # the per-block counterfactual_topk / support tables `dm fit` writes with the weights
    _write_retraining_results(root)
    weights = {s: weights[s].astype(np.float32).astype(np.float64) for s in SPLITS}  # as stored
    test_models = np.arange(60, M, dtype=np.int64)
    (root / "fit.json").write_text(
        json.dumps(
            {
                "train_model_ids": list(range(45)),
                "val_model_ids": list(range(45, 60)),
                "test_model_ids": test_models.tolist(),
                "fit_hash": "hand-written",
            }
        )
    )
    for block in lake.target_blocks():  # commit the hand-written blocks as `dm fit` would
        commit_block(root, block, "hand-written")
    return Truth(root, masks, margins, labels, weights, bias, group, test_models)


@pytest.fixture(scope="session")
def truth(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    """The lake with its eval outputs computed and views built."""
    from dm.analyze.views.embedding import compute_embedding
    from dm.analyze.views.evaluate import evaluate_heldout

    t = make_lake(tmp_path_factory.mktemp("lake") / "exp")
    evaluate_heldout(t.lake)
    compute_embedding(t.lake, n_components=4, n_clusters=GROUPS)
    build = build_views(t.lake)
    assert not build.missing, build.missing
    return t


@pytest.fixture()
def con(truth: Truth):
    """A fresh read-only connection to dm.duckdb (what the plain duckdb CLI would see)."""

    from dm.lake.views import connect

    c = connect(truth.lake)
    yield c
    c.close()


def run_cli(truth: Truth, capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """`dm <argv> lake.root=... lake.experiment=exp` in-process: (exit code, stdout, stderr)."""
    from dm.cli import main

    capsys.readouterr()
    code = main([*argv, f"lake.root={truth.root.parent}", f"lake.experiment={truth.root.name}"])
    out = capsys.readouterr()
    return code, out.out, out.err
