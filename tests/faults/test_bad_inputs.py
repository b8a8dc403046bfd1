"""Bad input to every command: one line and a non-zero exit, and the lake byte for byte as it was."""

from __future__ import annotations

import json

import duckdb
import pytest

from tests.faults.conftest import TALLY, Experiment, run_cli, snapshot

# (argv with {lake} = lake.root, {ref} = the reference experiment, {tmp} = a directory outside the lake,
#  extra overrides, a phrase the error line must contain)
CASES = [
    (["train"], ["lake.experiment=.."], "plain"),
    (["train"], ["lake.experiment=../evil"], "plain"),
    (["sql", "SELECT 1"], ["lake.experiment=a/b"], "plain"),
    (["sql", "SELECT 1"], ["lake.experiment=.hidden"], "plain"),
    (["sql", "SELECT 1"], ["lake.experiment=missing"], "no experiment"),
    (["train"], ["lake.root={tmp}/a_file"], "is a file"),
    (["fit"], ["solve.dtype=float16"], "solve.dtype"),
    (["sql", "SELECT 1", "--output", "/no/such/dir/x.csv"], [], "does not exist"),
    (["sql", "SELECT 1", "--output", "{lake}/exp/meta.json"], [], "inside the lake"),
    (["query", "support", "--format", "csv", "--output", "{lake}/x.csv"], [], "inside the lake"),
    (["query", "counterfactual", "--ids", "5000"], [], "out of range"),
    (["query", "counterfactual", "--ids", "-1"], [], "ids"),
    (["query", "counterfactual", "--ids", "1,x"], [], "ids"),
    (["query", "datamodel", "--param", "example_id=99999"], [], "out of range"),
    (["query", "datamodel", "--param", "split=test", "--param", "example_id=125"], [], "out of range"),
    (["query", "datamodel", "--param", "oops"], [], "KEY=VALUE"),
    (["query", "no_such_view"], [], "no query or view"),
    (["query", "support", "--format", "parquet"], [], "--output"),
    (["sql", "COPY (SELECT 1) TO '{tmp}/x.csv'"], [], "read-only"),
    (["sql", "SELECT 1; DROP VIEW models"], [], "exactly one statement"),
    (["sql", "INSTALL httpfs"], [], "read-only"),
    (["sql", "SELECT * FROM nonexistent_table"], [], "SQL failed"),
    (["sql", "SELECT * FROM read_csv('/etc/passwd')"], [], "Permission"),
    (["sql", "SELECT * FROM read_text('/etc/hostname')"], [], "Permission"),
    (["sql", "SELECT * FROM glob('/*')"], [], "Permission"),
    (["sql", "SELECT * FROM read_parquet('{ref}/models/*.parquet')"], [], "Permission"),
    (["sql", "SELECT * FROM read_parquet('margins/../../../*/models/*.parquet')"], [], "Permission"),
    (["sql", "SELECT * FROM read_parquet('{lake}/exp/quarantine/*.parquet')"], [], "Permission"),
    (["sql", "SELECT * FROM read_parquet('https://example.com/x.parquet')"], [], "Permission"),
    (["train"], ["subsets.alpha=0.3"], "different configuration"),
    (["train"], ["dataset=digits", "model=mlp"], "other data"),
    (["fit"], ["solve.k_lambdas=7"], "other solver settings"),
]


@pytest.mark.parametrize("argv,overrides,phrase", CASES, ids=[" ".join(c[0] + c[1])[:60] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(experiment: Experiment, tmp_path_factory, capsys, monkeypatch,
                                                   argv, overrides, phrase) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))  # an extension auto-install would land in ~/.duckdb
    outside = tmp_path_factory.mktemp("outside")
    (outside / "a_file").write_text("not a directory")
    fill = {"lake": experiment.lake_root, "ref": experiment.reference, "tmp": outside}
    argv = [a.format(**fill) for a in argv]
    overrides = [o.format(**fill) for o in overrides]
    base = experiment.args()
    keys = {o.split("=")[0] for o in overrides}
    args = [a for a in base if a.split("=")[0] not in keys] + overrides
    before = snapshot(experiment.lake_root)
    code, _, err = run_cli(capsys, *argv, *args)
    TALLY["bad_inputs"] += 1
    lines = [line for line in err.strip().splitlines() if line.startswith("dm ")]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    assert phrase in lines[0], lines[0]
    assert snapshot(experiment.lake_root) == before
    assert not list(outside.glob("x.csv")) and not (home / ".duckdb").exists()


def test_csv_of_a_list_column_works(experiment: Experiment, capsys) -> None:
    code, out, err = run_cli(capsys, "query", "support", "--format", "csv", *experiment.args())
    assert code == 0, err
    header, first = out.splitlines()[:2]
    assert "support_ids" in header and "[" in first


def test_a_misused_read_write_connection_does_not_change_answers(experiment: Experiment, capsys) -> None:
    con = duckdb.connect(str(experiment.path / "dm.duckdb"))  # a plain read-write connection, misused
    con.execute("CREATE OR REPLACE VIEW models AS SELECT 1 AS model_id")
    con.close()
    TALLY["faults"] += 1
    code, out, err = run_cli(capsys, "sql", "SELECT count(*) AS n FROM models", "--format", "json", *experiment.args())
    assert code == 0 and "changed outside dm" in err, err
    TALLY["wrong"] += int(json.loads(out) != [{"n": 60}])
    assert json.loads(out) == [{"n": 60}]


def test_a_database_held_open_elsewhere_is_one_line(experiment: Experiment, capsys) -> None:
    import subprocess
    import sys

    hold = ("import sys, duckdb; con = duckdb.connect(sys.argv[1]); print('held', flush=True); sys.stdin.read()")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(experiment.path / "dm.duckdb")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        TALLY["faults"] += 1
        code, _, err = run_cli(capsys, "sql", "SELECT count(*) FROM models", *experiment.args())
        lines = [line for line in err.strip().splitlines() if line.startswith("dm ")]
        assert code == 2 and len(lines) == 1 and "held by another process" in lines[0], err
        code, _, err = run_cli(capsys, "train", *experiment.args())  # nothing to train; views wait, no failure
        assert code == 0 and "views not refreshed" in err, err
    finally:
        proc.communicate("")
