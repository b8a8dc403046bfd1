"""Two Fabric processes (gloo on CPU) split the model ids and produce the same lake as one process."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dm.lake.store import Lake
from tests.conftest import SMALL, assert_same_lake


def test_two_processes_make_the_same_lake_as_one(small_lake, tmp_path):
    _, single = small_lake
    dm = Path(sys.executable).with_name("dm")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.run(
        [str(dm), "train", *SMALL, "fabric.devices=2", f"lake.root={tmp_path}", "lake.experiment=small",
         "lake.target_block=200"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(Lake.open(tmp_path / "small").committed_parts()) == 3  # chunks of 16 ids, round-robin over ranks
    assert_same_lake(tmp_path / "small", single, 48)


@pytest.mark.slow
def test_two_worker_processes_on_one_device_make_the_same_lake(small_lake, compose, tmp_path):
    """trainer.processes_per_device=2: the rank's chunks go to two spawned workers sharing its device."""
    from dm.train.runner import run_train

    _, single = small_lake
    cfg = compose(*SMALL, "trainer.processes_per_device=2", f"lake.root={tmp_path}", "lake.experiment=small",
                  "lake.target_block=200")
    summary = run_train(cfg)
    assert summary.trained == 48 and summary.total_models == 48 and summary.mean_test_accuracy > 0.9
    two, one = Lake.open(tmp_path / "small"), Lake.open(single)
    np.testing.assert_array_equal(two.read_masks()[0], np.arange(48))
    for block in one.target_blocks():
        np.testing.assert_allclose(two.read_margins(block.split, block.block)[1],
                                   one.read_margins(block.split, block.block)[1], rtol=1e-5, atol=1e-5)
