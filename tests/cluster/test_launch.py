"""Scheduled jobs on this machine: CPU processes stand in for nodes and job-array tasks (gloo on localhost)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dm.cli import main
from dm.cluster.shard import Shard
from dm.train.plan import chunks_to_train
from tests.conftest import SMALL, assert_same_lake

DM = str(Path(sys.executable).with_name("dm"))
LAKE = [*SMALL, "lake.experiment=small", "lake.target_block=200"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args: list[str], **env: str) -> subprocess.Popen:
    return subprocess.Popen([DM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env})


def _wait(procs: list[subprocess.Popen]) -> list[str]:
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        outs.append(out)
    return outs


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_partition_chunks_and_blocks_whatever_is_committed(count):
    committed = np.array([0, 1, 2, 40, 41, 77])  # a partly trained lake: shards must not depend on it
    for done in (np.array([], dtype=np.int64), committed):
        chunks = chunks_to_train(100, 8, done)
        owned = [Shard(i, count).chunks(chunks, 8) for i in range(count)]
        ids = np.sort(np.concatenate([np.concatenate(o) for o in owned if o]))
        np.testing.assert_array_equal(ids, np.setdiff1d(np.arange(100), done))  # every missing id exactly once
        for i, chunks_i in enumerate(owned):
            assert all(int(c[0]) // 8 % count == i for c in chunks_i)
    blocks = list(range(11))
    assert sorted(b for i in range(count) for b in Shard(i, count).blocks(blocks)) == blocks


def test_two_nodes_of_one_process_make_the_same_lake_as_one(small_lake, tmp_path):
    """`fabric.num_nodes=2` with NODE_RANK / MASTER_ADDR on localhost, as a cluster launcher sets them."""
    _, single = small_lake
    nodes = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    args = ["train", *LAKE, f"lake.root={tmp_path}", "fabric.num_nodes=2", "fabric.devices=1"]
    _wait([_launch(args, NODE_RANK=str(rank), **nodes) for rank in (0, 1)])
    assert_same_lake(tmp_path / "small", single, 48)


def test_two_array_tasks_at_once_fill_one_lake(small_lake, tmp_path):
    """Two job-array tasks start together on a new experiment and each trains only its own chunks."""
    _, single = small_lake
    args = ["train", *LAKE, f"lake.root={tmp_path}", "launch.num_shards=2"]
    outs = _wait([_launch([*args, f"launch.shard_index={i}"]) for i in (0, 1)])
    assert_same_lake(tmp_path / "small", single, 48)
    summaries = [next(line for line in out.splitlines() if " trained " in line) for out in outs]
    assert summaries[0].startswith("shard 1/2: trained") and summaries[1].startswith("shard 2/2: trained")
    trained = sorted(int(line.split("trained ")[1].split()[0]) for line in summaries)
    assert trained == [16, 32]  # chunks 0 and 2 on task 0, chunk 1 on task 1: no id trained twice
    rerun = subprocess.run([DM, *args, "launch.shard_index=1"], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0 and "trained 0 models" in rerun.stdout  # a requeued task finds its work done


def test_slurm_script_runs_an_array_of_shards_on_every_node(capsys, tmp_path):
    code = main(["slurm", "train", "experiment=cifar10_paper", "launch.slurm.nodes=4", "launch.slurm.array=8",
                 "launch.slurm.max_parallel=2", "launch.slurm.partition=gpu", "launch.shard_index=3",
                 "launch.num_shards=9", "launch.slurm.setup=[source .venv/bin/activate]", "subsets.num_models=1000"])
    script = capsys.readouterr().out
    assert code == 0
    lines = script.splitlines()
    for line in ("#SBATCH --nodes=4", "#SBATCH --ntasks-per-node=8", "#SBATCH --gpus-per-node=8",
                 "#SBATCH --array=0-7%2", "#SBATCH --partition=gpu", "#SBATCH --requeue",
                 "source .venv/bin/activate"):
        assert line in lines
    srun = script[script.index("srun "):].replace("\\\n", " ")
    words = srun.split()
    assert words[:4] == ["srun", "dm", "train", "experiment=cifar10_paper"]
    assert "subsets.num_models=1000" in words and "launch.num_shards=8" in words
    assert "launch.shard_index=${SLURM_ARRAY_TASK_ID}" in words and "fabric.num_nodes=${SLURM_JOB_NUM_NODES}" in words
    assert "launch.shard_index=3" not in words and "launch.num_shards=9" not in words  # the script sets its own
    path = tmp_path / "job.sbatch"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0


def test_slurm_script_on_cpu_nodes_and_bad_requests(capsys):
    assert main(["slurm", "fit", "fabric.devices=2", "launch.slurm.nodes=2"]) == 0
    script = capsys.readouterr().out
    assert "#SBATCH --ntasks-per-node=2" in script and "--gpus-per-node" not in script and "--array" not in script
    assert "launch.shard_index" not in script
    assert main(["slurm", "train", "launch.slurm.array=0"]) == 2
    assert "launch.slurm.array=0 must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["slurm", "query"])  # not a batch command: argparse refuses it


@pytest.mark.slow
def test_torchrun_two_nodes_make_the_same_lake_as_one(small_lake, tmp_path):
    """torchrun (what `fabric run` uses) with static rendezvous on localhost: 2 nodes x 1 process."""
    _, single = small_lake
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    port = str(_free_port())
    procs = [
        subprocess.Popen([torchrun, "--nnodes=2", f"--node-rank={rank}", "--nproc-per-node=1",
                          "--master-addr=127.0.0.1", f"--master-port={port}", "-m", "dm.cli", "train", *LAKE,
                          f"lake.root={tmp_path}", "fabric.num_nodes=2", "fabric.devices=1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
        for rank in (0, 1)
    ]
    _wait(procs)
    assert_same_lake(tmp_path / "small", single, 48)
