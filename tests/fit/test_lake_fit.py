"""`dm fit` over a lake: block plumbing, resume, refusals, NaN targets and two ranks."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from dm.lake.fit_blocks import block_path
from dm.lake.margins import read_block, write_split
from dm.lake.store import Lake, LakeError
from dm.lake.views import connect
from dm.solve.lake_fit import read_fitting_data, run_fit, solve_config
from dm.solve.model_roles import assign_roles
from dm.solve.path import fit_datamodels
from dm.train.runner import make_fabric, run_train
from tests.conftest import fitted_weights

LINREG = [
    "dataset=linear_sim",
    "model=linreg",
    "subsets.num_models=400",
    "lake.chunk_size=200",
    "lake.target_block=50",
    "lake.experiment=sim",
    "solve.k_lambdas=8",
    "solve.max_epochs=30",
]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, compose):
    root = tmp_path_factory.mktemp("fit")
    cfg = compose(*LINREG, f"lake.root={root}")
    run_train(cfg)
    fabric = make_fabric(cfg)
    summary = run_fit(cfg, fabric)
    return cfg, root / "sim", summary, fabric


def test_lake_weights_are_the_solver_output_column_for_column(fitted):
    cfg, root, summary, fabric = fitted
    lake = Lake.open(root)
    assert summary.fitted_blocks == len(lake.target_blocks()) == 6 and not summary.failed
    roles = assign_roles(lake.committed_ids(), cfg.solve.test_fraction, cfg.solve.val_fraction, cfg.solve.split_seed)
    record = json.loads((root / "fit.json").read_text())
    assert record["status"] == "done" and record["test_model_ids"] == roles.test.tolist() and len(roles.test) > 10
    blocks = lake.target_blocks()
    packed, y = read_fitting_data(lake, roles, blocks)
    assert packed.shape[0] == len(roles.train) + len(roles.val)
    train_ids = np.concatenate([np.full(125, -1), np.arange(125)])
    fitting = np.sort(np.concatenate([roles.train, roles.val]))
    direct = fit_datamodels(
        packed,
        y,
        torch.from_numpy(train_ids),
        lake.d,
        torch.from_numpy(np.searchsorted(fitting, roles.val)),
        solve_config(cfg, fabric.device),
    )
    lake_w = fitted_weights(root)
    np.testing.assert_allclose(np.c_[lake_w["test"], lake_w["train"]], direct.weights.numpy(), atol=1e-6)
    fits = pq.read_table(block_path(root, "datamodel_fits", blocks[4]))  # train block 1: examples 50..99
    assert fits["example_id"].to_pylist() == list(range(50, 100))
    np.testing.assert_allclose(fits["bias"].to_numpy(), direct.bias[125 + 50 : 125 + 100].numpy(), rtol=1e-6)
    # eq. 9: a train target's own weight is never used, and its models exclude it
    assert np.all(lake_w["train"][np.arange(125), np.arange(125)] == 0)
    assert (fits["n_models_used"].to_numpy() < packed.shape[0]).all()


def test_rerun_is_a_no_op_and_a_crash_refits_only_the_missing_block(fitted, compose, tmp_path):
    cfg, root, _, fabric = fitted
    copy = tmp_path / "sim"
    shutil.copytree(root, copy)
    again = compose(*LINREG, f"lake.root={tmp_path}")
    before = fitted_weights(copy)
    assert run_fit(again, fabric).fitted_blocks == 0
    (block_path(copy, "datamodel_fits", Lake.open(copy).target_blocks()[2])).unlink()  # crash before commit
    assert run_fit(again, fabric).fitted_blocks == 1
    after = fitted_weights(copy)
    for split in before:
        np.testing.assert_allclose(after[split], before[split], atol=1e-6)


def test_another_solver_config_is_refused_unless_overwrite(fitted, compose, tmp_path):
    cfg, root, _, fabric = fitted
    shutil.copytree(root, tmp_path / "sim")
    with pytest.raises(LakeError, match="other solver settings"):
        run_fit(compose(*LINREG, f"lake.root={tmp_path}", "solve.lambda_ratio=10"), fabric)
    summary = run_fit(
        compose(*LINREG, f"lake.root={tmp_path}", "solve.lambda_ratio=10", "solve.overwrite=true"), fabric
    )
    assert summary.fitted_blocks == 6


def test_a_nan_margin_is_reported_and_the_other_targets_fit(fitted, compose, tmp_path):
    cfg, root, _, fabric = fitted
    copy = tmp_path / "sim"
    shutil.copytree(root, copy)
    for output in ("datamodels", "datamodel_fits", "fit_path"):
        shutil.rmtree(copy / output)
    path = sorted((copy / "margins" / "split=test").glob("*.parquet"))[0]
    blocks = [(b.first, b.length) for b in Lake.open(copy).target_blocks(("test",))]
    parts = [read_block(path, i, first, length) for i, (first, length) in enumerate(blocks)]
    values = np.concatenate([v for _, v in parts], axis=1)
    values[3, 7] = np.nan
    write_split(path, parts[0][0], values, blocks)
    with pytest.raises(LakeError, match="record"):  # an edited part is refused ...
        run_fit(compose(*LINREG, f"lake.root={tmp_path}"), fabric)
    _rerecord(copy, path)  # ... unless its commit record is rewritten, as a trainer that made NaNs would have
    summary = run_fit(compose(*LINREG, f"lake.root={tmp_path}"), fabric)
    assert len(summary.failed) == 1 and "test example 7" in summary.failed[0]
    fits = pq.read_table(block_path(copy, "datamodel_fits", Lake.open(copy).target_blocks()[0]))
    status = fits["status"].to_pylist()
    assert status[7] != "ok" and status.count("ok") == 49 and fits["bias"].to_pylist()[7] is None
    weights = pq.read_table(block_path(copy, "datamodels", Lake.open(copy).target_blocks()[0]))
    assert 7 not in set(weights["example_id"].to_pylist()) and weights.num_rows > 0


def _rerecord(root: Path, path: Path) -> None:
    """Record the current bytes of `path` in its part's commit record."""
    from dm.lake.records import file_digest, read_records, write_record

    rel = str(path.relative_to(root))
    record = next(r for r in read_records(root, "part")[0].values() if rel in r.files)
    record.files[rel] = file_digest(path)
    write_record(root, record)


def unfitted_copy(root: Path, tmp_path: Path) -> Path:
    """A copy of the fitted lake with its fit removed (models, masks and margins kept)."""
    copy = tmp_path / "sim"
    shutil.copytree(root, copy)
    for output in ("datamodels", "datamodel_fits", "fit_path", "counterfactual_topk", "support", "_records/fit"):
        shutil.rmtree(copy / output)
    (copy / "fit.json").unlink()
    return copy


def test_two_ranks_fit_the_same_weights_as_one(fitted, tmp_path):
    cfg, root, _, _ = fitted
    copy = unfitted_copy(root, tmp_path)
    dm = Path(sys.executable).with_name("dm")
    run = subprocess.run(
        [str(dm), "fit", *LINREG, f"lake.root={tmp_path}", "fabric.devices=2"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    one, two = fitted_weights(root), fitted_weights(copy)
    for split in one:  # float32: differently shaped work sets round differently (BLAS blocking), a few ulps
        np.testing.assert_allclose(two[split], one[split], atol=1e-5)


def test_dm_eval_reports_heldout_metrics_through_the_views(fitted, capsys):
    from dm.cli import main

    cfg, root, _, _ = fitted
    assert main(["eval", *LINREG, f"lake.root={root.parent}"]) == 0
    assert "lds_test" in capsys.readouterr().out

    con = connect(Lake.open(root))
    lds = dict(con.execute("SELECT split, value FROM evaluation WHERE metric = 'lds'").fetchall())
    n_pred = con.execute("SELECT count(*) FROM predictions WHERE split = 'test'").fetchone()[0]
    held_out = len(json.loads((root / "fit.json").read_text())["test_model_ids"])
    assert n_pred == held_out * 125
    # the min-norm model is exact and the datamodel linear-ish in the mask: held-out ranks are well predicted
    assert 0.5 < lds["test"] <= 1.0 and 0.5 < lds["train"] <= 1.0


def test_array_tasks_fit_their_own_blocks_and_together_equal_one_fit(fitted, tmp_path, compose):
    """Job-array tasks (launch.shard_index/num_shards) split the target blocks; fit.json says done at the end."""
    cfg, root, _, fabric = fitted
    copy = unfitted_copy(root, tmp_path)
    blocks = Lake.open(copy).target_blocks()
    for index in (1, 0):
        task = compose(*LINREG, f"lake.root={tmp_path}", f"launch.shard_index={index}", "launch.num_shards=2")
        summary = run_fit(task, fabric)
        assert summary.fitted_blocks == len(blocks[index::2]) and summary.skipped_blocks == 0
        assert summary.targets == sum(b.length for b in blocks[index::2])
        done = [b for b in blocks if block_path(copy, "datamodel_fits", b).exists()]
        assert done == (blocks[1::2] if index == 1 else blocks)
        assert json.loads((copy / "fit.json").read_text())["status"] == ("running" if index == 1 else "done")
    one, two = fitted_weights(root), fitted_weights(copy)
    for split in one:  # float32: differently shaped work sets round differently (BLAS blocking), a few ulps
        np.testing.assert_allclose(two[split], one[split], atol=1e-5)


def test_two_array_tasks_fit_at_once_into_one_lake(fitted, tmp_path):
    """Two `dm fit` job-array tasks start together: each holds its own fit lock, fit.json is recorded once."""
    _, root, _, _ = fitted
    copy = unfitted_copy(root, tmp_path)
    dm = str(Path(sys.executable).with_name("dm"))
    procs = [subprocess.Popen([dm, "fit", *LINREG, f"lake.root={tmp_path}", f"launch.shard_index={i}",
                               "launch.num_shards=2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in (0, 1)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    assert json.loads((copy / "fit.json").read_text())["status"] == "done"
    one, two = fitted_weights(root), fitted_weights(copy)
    for split in one:  # float32: differently shaped work sets round differently (BLAS blocking), a few ulps
        np.testing.assert_allclose(two[split], one[split], atol=1e-5)
    again = subprocess.run([dm, "fit", *LINREG, f"lake.root={tmp_path}", "launch.shard_index=1",
                            "launch.num_shards=2"], capture_output=True, text=True, timeout=600)
    owned = Lake.open(copy).target_blocks()[1::2]  # a requeued task: its own blocks done, nothing else counted
    assert f"fit {sum(b.length for b in owned)} targets ({len(owned)} blocks already done)" in again.stdout, again


def test_unconverged_targets_are_listed_and_written_with_their_certificate(fitted, compose, tmp_path):
    cfg, root, _, fabric = fitted
    shutil.copytree(root, tmp_path / "sim")
    summary = run_fit(
        compose(*LINREG, f"lake.root={tmp_path}", "solve.max_epochs=1", "solve.overwrite=true"), fabric
    )
    fits = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "sim" / "datamodel_fits").glob("*/*"))])
    converged, gap = fits["converged"].to_numpy(), fits["duality_gap"].to_numpy()
    np.testing.assert_array_equal(converged, gap <= cfg.solve.gap_tol)
    assert 0 < len(summary.not_converged) == int((~converged).sum())
    assert "relative duality gap" in summary.not_converged[0]
    assert np.isfinite(fits["kkt_residual"].to_numpy()).all()
