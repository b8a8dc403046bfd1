"""Crashes at chosen points of a part's commit (`dm train`) and of a block's commit (`dm fit`), then a resume:
nothing lost, nothing twice, values equal to the uninterrupted reference, `dm lake verify` clean.

In-process crashes raise a BaseException at the k-th rename of a commit (the journal, masks, 6 margins files,
models, the record: 10 renames per part; 3 files + record per fit block). The real-SIGKILL variants are `slow`."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from dm.lake.store import Lake
from tests.conftest import fitted_weights
from tests.faults.conftest import TALLY, Experiment, outcome, run_cli

RENAMES_PER_PART = 10


class Crash(BaseException):
    """A process dying mid-commit (not an Exception: nothing may catch it)."""


def crash_at(monkeypatch: pytest.MonkeyPatch, target: str, k: int, after_calls: int = 0) -> None:
    """Make the k-th os.replace inside the `after_calls`+1-th call of `target` (module:Class.method) crash."""
    module, qual = target.split(":")
    owner_name, method = qual.split(".")
    owner = getattr(__import__(module, fromlist=[owner_name]), owner_name)
    real_method, real_replace = getattr(owner, method), os.replace
    state = {"calls": 0, "renames": 0, "active": False}

    def replace(src, dst):
        if state["active"]:
            state["renames"] += 1
            if state["renames"] == k:
                raise Crash(f"crash at rename {k} of {dst}")
        return real_replace(src, dst)

    def wrapped(*args, **kwargs):
        state["calls"] += 1
        state["active"] = state["calls"] == after_calls + 1
        try:
            return real_method(*args, **kwargs)
        finally:
            state["active"] = False

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(owner, method, wrapped)


def _train_crash_resume(exp: Experiment, monkeypatch, capsys, k: int) -> None:
    with monkeypatch.context() as m:
        crash_at(m, "dm.lake.store:Lake._commit", k, after_calls=0)  # the first part of the resumed run
        with pytest.raises(Crash):
            run_cli(capsys, "train", *exp.args())
    TALLY["faults"] += 1
    assert len(Lake.open(exp.path).committed_ids()) == 40  # the crashed part is not in
    code, _, err = run_cli(capsys, "train", *exp.args())
    TALLY["resumes"] += 1
    assert code == 0, err
    assert outcome(exp) == {"lost": 0, "duplicates": 0, "wrong": 0}
    assert run_cli(capsys, "lake", "verify", *exp.args())[0] == 0
    assert not list(exp.path.rglob(".*.tmp")) and not list((exp.path / ".staging").glob("*"))


@pytest.mark.parametrize("k", [1, 6])  # after the journal / at the record (journal, masks, 2 margins, models)
def test_train_crash_mid_commit_then_resume(partial: Experiment, monkeypatch, capsys, k: int) -> None:
    _train_crash_resume(partial, monkeypatch, capsys, k)


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_train_crash_mid_commit_then_resume_all_points(partial: Experiment, monkeypatch, capsys, k: int) -> None:
    _train_crash_resume(partial, monkeypatch, capsys, k)



def _fit_crash_resume(exp: Experiment, monkeypatch, capsys, k: int) -> None:
    import shutil

    for output in ("datamodels", "datamodel_fits", "fit_path", "_records/fit"):
        shutil.rmtree(exp.path / output)
    (exp.path / "fit.json").unlink()
    with monkeypatch.context() as m:
        crash_at_fit(m, k)
        with pytest.raises(Crash):
            run_cli(capsys, "fit", *exp.args())
    TALLY["faults"] += 1
    code, out, err = run_cli(capsys, "fit", *exp.args())
    TALLY["resumes"] += 1
    assert code == 0, err
    got, want = fitted_weights(exp.path), fitted_weights(exp.reference)
    wrong = sum(not np.allclose(got[s], want[s], atol=1e-6) for s in got)
    TALLY["wrong"] += wrong
    assert wrong == 0
    assert run_cli(capsys, "lake", "verify", *exp.args())[0] == 0


def crash_at_fit(m: pytest.MonkeyPatch, k: int) -> None:
    """Crash at the k-th os.replace of `dm fit` (fit.json is the 1st; then 4 per block: 3 files + record)."""
    real_replace, state = os.replace, {"n": 0}

    def replace(src, dst):
        state["n"] += 1
        if state["n"] == k:
            raise Crash(f"crash at rename {k} of {dst}")
        return real_replace(src, dst)

    m.setattr(os, "replace", replace)


@pytest.mark.parametrize("k", [9])  # block 1 at its record
def test_fit_crash_mid_block_then_resume(experiment: Experiment, monkeypatch, capsys, k: int) -> None:
    _fit_crash_resume(experiment, monkeypatch, capsys, k)


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 12, 20, 25])
def test_fit_crash_then_resume_all_points(experiment: Experiment, monkeypatch, capsys, k: int) -> None:
    _fit_crash_resume(experiment, monkeypatch, capsys, k)


INJECT = "tests.faults.inject"


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 2, 4, 5, 6])  # journal, masks, margins test/train, models, record
def test_sigkill_mid_commit_then_resume(empty: Experiment, capsys, k: int) -> None:
    """A real SIGKILL of `dm train` at the k-th rename of its third part's commit, then a resume."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    run = subprocess.run([sys.executable, "-m", INJECT, f"kill-commit:{k}:2", "train", *empty.args()],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == -9, run.stderr[-2000:]
    TALLY["faults"] += 1
    code, _, err = run_cli(capsys, "train", *empty.args())
    TALLY["resumes"] += 1
    assert code == 0, err
    assert outcome(empty) == {"lost": 0, "duplicates": 0, "wrong": 0}
    assert run_cli(capsys, "lake", "verify", *empty.args())[0] == 0

