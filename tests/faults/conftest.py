"""Fault injection: a reference experiment trained and fitted without interruption, copies of it to break, and
the suite's tally (faults injected, resumes, bad inputs, and the outcomes that must stay 0), printed at the end."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dm.lake.store import Lake

SIM = ["dataset=linear_sim", "model=linreg", "subsets.num_models=60", "lake.chunk_size=20",
       "trainer.models_per_process=10", "lake.target_block=50", "solve.k_lambdas=4", "solve.max_epochs=10"]
N_MODELS = 60
TALLY: Counter = Counter()  # faults, resumes, bad_inputs; lost, duplicates, wrong (must stay 0)


@dataclass
class Experiment:
    """A copy of the reference experiment under `root/name`, and the reference it must equal."""

    lake_root: Path
    name: str
    reference: Path

    @property
    def path(self) -> Path:
        return self.lake_root / self.name

    def args(self, *extra: str) -> list[str]:
        return [*SIM, f"lake.root={self.lake_root}", f"lake.experiment={self.name}", *extra]


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory, compose) -> Path:
    """60 linear_sim min-norm models in 6 parts, fitted: the uninterrupted run every fault is compared with."""
    from dm.lake.views import rebuild_views
    from dm.solve.lake_fit import run_fit
    from dm.train.runner import make_fabric, run_train

    root = tmp_path_factory.mktemp("reference")
    cfg = compose(*SIM, f"lake.root={root}", "lake.experiment=ref")
    fabric = make_fabric(cfg)
    run_train(cfg, fabric)
    run_fit(cfg, fabric)
    rebuild_views(Lake.open(root / "ref"))
    return root / "ref"


@pytest.fixture()
def experiment(reference: Path, tmp_path: Path) -> Experiment:
    """A fresh full copy of the reference (`cp -a`), to be broken by the test."""
    shutil.copytree(reference, tmp_path / "exp", symlinks=True)
    return Experiment(tmp_path, "exp", reference)


@pytest.fixture()
def partial(experiment: Experiment) -> Experiment:
    """The reference copy without its fit and its last two parts (models 40..59), as if training had stopped."""
    root = experiment.path
    for output in ("datamodels", "datamodel_fits", "fit_path", "_records/fit"):
        shutil.rmtree(root / output)
    (root / "fit.json").unlink()
    for record in sorted((root / "_records" / "part").glob("*.json"))[-2:]:
        for path in root.glob(f"**/part-{record.stem}.parquet"):
            path.unlink()
        record.unlink()
    return experiment


@pytest.fixture()
def empty(reference: Path, tmp_path: Path) -> Experiment:
    """A new experiment of the reference's configuration (nothing trained yet)."""
    return Experiment(tmp_path, "exp", reference)


def snapshot(root: Path) -> dict[str, str]:
    """relative path -> blake2b of every file under `root` (the lake's state, to compare before/after)."""
    return {str(p.relative_to(root)): hashlib.blake2b(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def outcome(exp: Experiment) -> dict[str, int]:
    """Compare the experiment with the reference: models lost, duplicated, and silently wrong values.

    Counts go to the tally; the caller asserts them (so the figures reported are the ones measured)."""
    lake, ref = Lake.open(exp.path), Lake.open(exp.reference)
    ids = np.concatenate([lake.read_models().column("model_id").to_numpy()])
    lost = len(set(range(N_MODELS)) - set(ids.tolist()))
    dup = len(ids) - len(set(ids.tolist()))
    wrong = 0
    mask_ids, packed = lake.read_masks()
    ref_ids, ref_packed = ref.read_masks()
    wrong += int(not (np.array_equal(mask_ids, ref_ids) and np.array_equal(packed, ref_packed)))
    for block in ref.target_blocks():
        got_ids, got = lake.read_margins(block.split, block.block)
        want_ids, want = ref.read_margins(block.split, block.block)
        wrong += int(not (np.array_equal(got_ids, want_ids) and np.array_equal(got, want)))  # bitwise
    result = {"lost": lost, "duplicates": dup, "wrong": wrong}
    TALLY.update(result)
    return result


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """`dm <argv>` in-process: (exit code, stdout, stderr)."""
    from dm.cli import main

    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def pytest_terminal_summary(terminalreporter) -> None:
    if TALLY:
        t = TALLY
        terminalreporter.write_line(
            f"fault injection: {t['faults']} faults injected, {t['resumes']} resumes, {t['bad_inputs']} bad inputs; "
            f"models lost {t['lost']}, duplicates {t['duplicates']}, silent wrong answers {t['wrong']}"
        )
