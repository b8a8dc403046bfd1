"""Chunk claims: a launcher skips the chunks another live process is training (and says so), trains them once
they are free, and is never blocked by the claim of a process that was killed."""

from __future__ import annotations

import signal

from dm.lake.lock import chunk_claim, claim_path
from dm.lake.store import Lake
from tests.faults.conftest import TALLY, Experiment, outcome, run_cli
from tests.faults.test_concurrency import hold_lock

SKIP_MESSAGE = "skipped 20 models that another launcher is training; rerun to pick up any it does not finish"


def test_a_chunk_claimed_by_another_process_is_skipped_then_trained_on_rerun(empty: Experiment, capsys) -> None:
    holder = hold_lock(claim_path(empty.path, 1), 120)  # another launcher training models 20..39
    try:
        code, out, err = run_cli(capsys, "train", *empty.args())
    finally:
        holder.kill()
        holder.wait()
    assert code == 0, err
    assert "trained 40 models" in out and SKIP_MESSAGE in out, out
    ids = Lake.open(empty.path).committed_ids().tolist()
    assert ids == [*range(20), *range(40, 60)]
    code, out, err = run_cli(capsys, "train", *empty.args())  # the holder is gone: its chunk is free
    TALLY["resumes"] += 1
    assert code == 0, err
    assert "trained 20 models" in out and "skipped" not in out, out
    assert outcome(empty) == {"lost": 0, "duplicates": 0, "wrong": 0}


def test_a_claim_is_refused_while_held_even_in_the_same_process(empty: Experiment) -> None:
    with chunk_claim(empty.path, 0) as first:
        with chunk_claim(empty.path, 0) as second, chunk_claim(empty.path, 1) as other:
            assert (first, second, other) == (True, False, True)
    with chunk_claim(empty.path, 0) as again:
        assert again


def test_the_claim_of_a_killed_launcher_does_not_block(empty: Experiment, capsys) -> None:
    holder = hold_lock(claim_path(empty.path, 2), 120)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    TALLY["faults"] += 1
    assert claim_path(empty.path, 2).exists()  # the file stays; its flock died with the process
    code, out, err = run_cli(capsys, "train", *empty.args())
    assert code == 0, err
    assert "trained 60 models" in out and "skipped" not in out, out
    assert outcome(empty) == {"lost": 0, "duplicates": 0, "wrong": 0}

