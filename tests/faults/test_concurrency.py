"""Several launchers on one experiment: commits wait for the experiment lock, recovery leaves live staging alone,
a second `dm fit` is refused at once, and two `dm train` at once (new or half-done experiment, with delays
injected into commits) end with every model exactly once and the reference's values."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dm.lake.lock import FIT_LOCK_FILE, LOCK_FILE
from dm.lake.records import read_records
from dm.lake.store import Lake
from tests.faults.conftest import TALLY, Experiment, outcome, run_cli

HOLD = ("import sys, time; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
        "print('held', flush=True); time.sleep(float(sys.argv[2]))")


def hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    """Another process holding `path`'s lock for `seconds` (returns once it holds it)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_recovery_leaves_a_live_process_staging_alone(partial: Experiment) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        stage = partial.path / ".staging" / f"{socket.gethostname()}-{sleeper.pid}-0123"
        (stage / "models").mkdir(parents=True)
        (stage / "models" / "part-000000040-000000049.parquet").write_bytes(b"being written")
        lake = Lake.open(partial.path)
        lake.recover()
        TALLY["faults"] += 1
        assert stage.exists()  # its owner is alive: not ours to remove
    finally:
        sleeper.kill()
        sleeper.wait()
    lake.recover()
    assert not stage.exists()


def test_a_second_fit_is_refused_at_once(experiment: Experiment, capsys) -> None:
    holder = hold_lock(experiment.path / FIT_LOCK_FILE, 60)
    try:
        start = time.perf_counter()
        code, _, err = run_cli(capsys, "fit", *experiment.args("solve.overwrite=true", "solve.k_lambdas=5"))
        TALLY["faults"] += 1
        assert code == 2 and "another `dm fit`" in err and len(err.strip().splitlines()) == 1, err
        assert time.perf_counter() - start < 30
    finally:
        holder.kill()
        holder.wait()
    fit = (experiment.path / "fit.json").read_text()
    assert fit == (experiment.reference / "fit.json").read_text()  # untouched by the refused fit


def test_commits_wait_for_another_writer(partial: Experiment, capsys) -> None:
    holder = hold_lock(partial.path / LOCK_FILE, 3)
    try:
        code, _, err = run_cli(capsys, "train", *partial.args())
    finally:
        holder.wait()
    TALLY["faults"] += 1
    assert code == 0, err
    assert "waiting for another dm process" in err
    assert outcome(partial) == {"lost": 0, "duplicates": 0, "wrong": 0}


def _launch(exp: Experiment, *args: str, inject: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    cmd = [sys.executable, "-m", "tests.faults.inject", inject] if inject else [sys.executable, "-m", "dm.cli"]
    return subprocess.Popen([*cmd, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _two_launchers(exp: Experiment, capsys, inject: str | None) -> None:
    procs = [_launch(exp, "train", *exp.args(), inject=inject), _launch(exp, "train", *exp.args())]
    results = [p.communicate(timeout=900) for p in procs]
    TALLY["faults"] += 1
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err[-3000:]
    assert outcome(exp) == {"lost": 0, "duplicates": 0, "wrong": 0}
    assert run_cli(capsys, "lake", "verify", *exp.args())[0] == 0


@pytest.mark.slow
def test_two_trains_at_once_on_a_new_experiment(empty: Experiment, capsys) -> None:
    _two_launchers(empty, capsys, None)


@pytest.mark.slow
def test_two_trains_at_once_on_a_half_done_experiment_with_slow_commits(partial: Experiment, capsys) -> None:
    _two_launchers(partial, capsys, "delay-commit:0.3")


@pytest.mark.slow
def test_overwrite_fit_beside_another_fit_never_mixes(experiment: Experiment, capsys) -> None:
    a = _launch(experiment, "fit", *experiment.args("solve.overwrite=true", "solve.k_lambdas=6"))
    b = _launch(experiment, "fit", *experiment.args("solve.overwrite=true", "solve.k_lambdas=3"))
    (_, err_a), (_, err_b) = a.communicate(timeout=900), b.communicate(timeout=900)
    TALLY["faults"] += 1
    assert sorted([a.returncode, b.returncode]) in ([0, 0], [0, 2]), err_a + err_b
    for code, err in ((a.returncode, err_a), (b.returncode, err_b)):
        if code == 2:
            assert "another `dm fit`" in err
    fit = Lake.open(experiment.path)
    from dm.lake.fit_meta import read_fit_meta

    meta = read_fit_meta(fit.layout)
    records, _ = read_records(experiment.path, "fit")
    owners = {r.owner for r in records.values()}
    mixed = int(owners != {meta["fit_hash"]} or len(records) != len(fit.target_blocks()))
    TALLY["wrong"] += mixed
    assert not mixed
    assert run_cli(capsys, "lake", "verify", *experiment.args())[0] == 0
