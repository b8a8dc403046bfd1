"""Corrupted, foreign, truncated and copied files: refused with one line naming the file, listed by
`dm lake verify`, quarantined by `dm lake repair`, refilled by the next run to the reference's values."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from dm.lake.store import Lake, PartResult
from tests.conftest import fitted_weights
from tests.faults.conftest import TALLY, Experiment, outcome, run_cli


def _one_line_error(code: int, err: str, *needles: str) -> None:
    lines = [line for line in err.strip().splitlines() if line.startswith("dm ")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _repair_and_refill(exp: Experiment, capsys) -> None:
    code, out, _ = run_cli(capsys, "lake", "verify", *exp.args())
    assert code == 1 and "bad file" in out
    assert run_cli(capsys, "lake", "repair", *exp.args())[0] == 0
    assert list((exp.path / "quarantine").rglob("*.parquet")) or list((exp.path / "quarantine").rglob("*.json"))
    code, _, err = run_cli(capsys, "train", *exp.args())
    TALLY["resumes"] += 1
    assert code == 0, err
    assert outcome(exp) == {"lost": 0, "duplicates": 0, "wrong": 0}
    assert run_cli(capsys, "lake", "verify", *exp.args())[0] == 0


def _foreign_part(tmp_path, lake: Lake) -> Lake:
    """Models 40..49 of another experiment (alpha 0.3) with the same shape, committed there."""
    other = Lake.create_or_open(tmp_path / "other", {**lake.meta["identity"], "alpha": 0.3}, lake.meta["shape"])
    rng = np.random.default_rng(0)
    ids = np.arange(40, 50)
    other.write_part(PartResult(ids, ids, rng.random((10, lake.d)) < 0.3,
                                {s: rng.normal(size=(10, lake.split_size(s))).astype(np.float32)
                                 for s in ("test", "train")}, np.full(10, np.nan), np.ones(10), "foreign"))
    return other


@pytest.mark.parametrize("with_record", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_a_part_copied_from_another_experiment_is_refused(partial: Experiment, tmp_path, capsys, with_record) -> None:
    other = _foreign_part(tmp_path, Lake.open(partial.path))
    for path in other.layout.root.rglob("*"):
        rel = path.relative_to(other.layout.root)
        if path.is_file() and (rel.parts[0] in ("models", "masks", "margins") or with_record and
                               rel.parts[0] == "_records"):
            (partial.path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, partial.path / rel)
    TALLY["faults"] += 1
    for command in ("train", "fit", "sql"):
        extra = ("SELECT count(*) FROM models",) if command == "sql" else ()
        code, _, err = run_cli(capsys, command, *extra, *partial.args())
        _one_line_error(code, err, "000000040-000000049", "another experiment" if with_record else "record")
    _repair_and_refill(partial, capsys)


def test_a_truncated_margins_file_is_refused_then_refilled(experiment: Experiment, capsys) -> None:
    path = sorted(experiment.path.glob("margins/split=train/*.parquet"))[2]
    path.write_bytes(path.read_bytes()[:200])
    TALLY["faults"] += 1
    code, _, err = run_cli(capsys, "train", *experiment.args())
    _one_line_error(code, err, str(path), "truncated")
    _repair_and_refill(experiment, capsys)


def test_a_flipped_bit_in_a_masks_file_is_refused_by_fit(experiment: Experiment, capsys) -> None:
    path = sorted(experiment.path.glob("masks/*.parquet"))[1]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    TALLY["faults"] += 1
    before = fitted_weights(experiment.path)
    code, _, err = run_cli(capsys, "fit", *experiment.args("solve.overwrite=true", "solve.k_lambdas=5"))
    _one_line_error(code, err, str(path), "checksum")
    after = fitted_weights(experiment.path)
    assert all(np.array_equal(before[s], after[s]) for s in before)  # the old fit was not cleared
    _repair_and_refill(experiment, capsys)
    code, out, err = run_cli(capsys, "fit", *experiment.args())
    assert code == 0 and "6 blocks already done" in out, err  # the refilled models are the ones it was fit on


def test_a_truncated_fit_block_is_fitted_again(experiment: Experiment, capsys) -> None:
    path = experiment.path / "datamodels" / "split=test" / "block=0001.parquet"
    path.write_bytes(path.read_bytes()[:100])
    TALLY["faults"] += 1
    code, out, err = run_cli(capsys, "fit", *experiment.args())
    TALLY["resumes"] += 1
    assert code == 0 and "5 blocks already done" in out, out + err
    got, want = fitted_weights(experiment.path), fitted_weights(experiment.reference)
    wrong = sum(not np.allclose(got[s], want[s], atol=1e-6) for s in got)
    TALLY["wrong"] += wrong
    assert wrong == 0 and run_cli(capsys, "lake", "verify", *experiment.args())[0] == 0


@pytest.mark.parametrize("content", [b"", b"garbage" * 500])
def test_an_empty_or_garbage_database_is_quarantined_and_rebuilt(experiment: Experiment, capsys, content) -> None:
    experiment.path.joinpath("dm.duckdb").write_bytes(content)
    TALLY["faults"] += 1
    code, out, err = run_cli(capsys, "sql", "SELECT count(DISTINCT model_id) AS n FROM margins", "--format", "json",
                             *experiment.args())
    assert code == 0, err
    TALLY["wrong"] += int(json.loads(out) != [{"n": 60}])
    assert json.loads(out) == [{"n": 60}] and "quarantine" in err
    assert run_cli(capsys, "lake", "verify", *experiment.args())[0] == 0


def test_a_half_length_beton_is_prepared_again(experiment: Experiment, capsys) -> None:
    beton = experiment.path / "data" / "train.beton"
    beton.write_bytes(beton.read_bytes()[: beton.stat().st_size // 2])
    TALLY["faults"] += 1
    code, out, err = run_cli(capsys, "lake", "verify", *experiment.args())
    assert code == 1 and "train.beton" in out
    code, _, err = run_cli(capsys, "train", *experiment.args())
    TALLY["resumes"] += 1
    assert code == 0, err
    assert beton.read_bytes() == (experiment.reference / "data" / "train.beton").read_bytes()


@pytest.mark.parametrize("name,command", [("meta.json", "sql"), ("meta.json", "train"), ("fit.json", "fit"),
                                          ("data/info.json", "fit")])
def test_truncated_metadata_is_named(experiment: Experiment, capsys, name, command) -> None:
    path = experiment.path / name
    path.write_text(path.read_text()[:40])
    TALLY["faults"] += 1
    extra = ("SELECT 1",) if command == "sql" else ()
    code, _, err = run_cli(capsys, command, *extra, *experiment.args())
    if name == "data/info.json":  # prepared data is rewritten by train; fit does not read it
        assert code == 0, err
        return
    _one_line_error(code, err, str(path))


def test_a_copied_lake_is_self_contained(experiment: Experiment, tmp_path, capsys) -> None:
    copy = Experiment(tmp_path / "elsewhere", "copy", experiment.reference)
    shutil.copytree(experiment.path, copy.path, symlinks=True)
    experiment.path.rename(tmp_path / "gone")  # the original is moved away: the copy must not need it
    TALLY["faults"] += 1
    sql = "SELECT split, sum(margin)::DOUBLE AS s, count(*) AS n FROM margins GROUP BY split ORDER BY split"
    code, out, err = run_cli(capsys, "sql", sql, "--format", "json", *copy.args())
    assert code == 0, err
    ref = Lake.open(copy.reference)
    want = {s: sum(float(ref.read_margins(s, b.block)[1].astype(np.float64).sum())
                   for b in ref.target_blocks((s,))) for s in ("test", "train")}
    got = {r["split"]: r["s"] for r in json.loads(out)}
    wrong = int(got.keys() != want.keys() or any(abs(got[s] - want[s]) > 1e-3 * (1 + abs(want[s])) for s in want))
    TALLY["wrong"] += wrong
    assert wrong == 0
    assert run_cli(capsys, "lake", "verify", *copy.args())[0] == 0
