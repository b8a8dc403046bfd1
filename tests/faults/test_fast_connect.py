"""`dm sql` / `dm query` check the lake on every call without opening dm.duckdb for its signature when the file is
the one whose signature was recorded (`database_stamp`); every change to it must still be caught."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import duckdb
import pytest

from dm.lake.errors import LakeError
from dm.lake.info import LakeInfo
from dm.lake.store import Lake
from dm.lake.verify import check_files
from dm.lake.views import database_stamp, signature_path
from tests.faults.conftest import TALLY, Experiment, run_cli

COUNT = "SELECT count(*) AS n FROM models"


def _sql(experiment: Experiment, capsys, sql: str = COUNT) -> tuple[int, str, str]:
    """`dm sql` on the fast config path (exactly lake.root and lake.experiment)."""
    return run_cli(capsys, "sql", sql, "--format", "json", f"lake.root={experiment.lake_root}",
                   f"lake.experiment={experiment.name}")


def _armed(experiment: Experiment, capsys) -> dict:
    """Query once (a copied lake: its stamp is recorded after the query), so the next call takes the fast path."""
    code, out, err = _sql(experiment, capsys)
    assert code == 0 and json.loads(out) == [{"n": 60}], err
    recorded = json.loads(signature_path(LakeInfo.open(experiment.path)).read_text())
    assert recorded["database"] == database_stamp(LakeInfo.open(experiment.path))
    return recorded


def test_the_second_query_does_not_open_the_database_to_check_it(experiment: Experiment, capsys, monkeypatch) -> None:
    import dm.commands.sql as sql

    _armed(experiment, capsys)
    monkeypatch.setattr(sql, "_state", lambda lake: pytest.fail("opened dm.duckdb to recompute its signature"))
    code, out, err = _sql(experiment, capsys)
    assert code == 0 and json.loads(out) == [{"n": 60}] and err == ""


def test_a_misuse_after_the_stamp_was_recorded_is_caught(experiment: Experiment, capsys) -> None:
    _armed(experiment, capsys)
    con = duckdb.connect(str(experiment.path / "dm.duckdb"))  # a plain read-write connection, misused
    con.execute("CREATE OR REPLACE VIEW models AS SELECT 1 AS model_id")
    con.close()
    TALLY["faults"] += 1
    code, out, err = _sql(experiment, capsys)
    assert code == 0 and "changed outside dm" in err, err
    TALLY["wrong"] += int(json.loads(out) != [{"n": 60}])
    assert json.loads(out) == [{"n": 60}]


def test_a_misuse_left_in_the_write_ahead_log_is_caught(experiment: Experiment, capsys) -> None:
    """A read-write process killed before its checkpoint: dm.duckdb itself may be untouched, the change is in
    dm.duckdb.wal (which DuckDB replays on the next open), so the stamp covers the WAL too."""
    _armed(experiment, capsys)
    misuse = ("import duckdb, os, sys; con = duckdb.connect(sys.argv[1]); "
              "con.execute('PRAGMA disable_checkpoint_on_shutdown'); con.execute(\"SET checkpoint_threshold='1TB'\"); "
              "con.execute('CREATE OR REPLACE VIEW models AS SELECT 1 AS model_id'); os._exit(0)")
    subprocess.run([sys.executable, "-c", misuse, str(experiment.path / "dm.duckdb")], check=True)
    assert (experiment.path / "dm.duckdb.wal").exists()
    TALLY["faults"] += 1
    code, out, err = _sql(experiment, capsys)
    assert code == 0 and "changed outside dm" in err, err
    TALLY["wrong"] += int(json.loads(out) != [{"n": 60}])
    assert json.loads(out) == [{"n": 60}]


def test_a_database_damaged_under_an_unchanged_stamp_is_quarantined(experiment: Experiment, capsys,
                                                                   monkeypatch) -> None:
    """Bad media (bytes changed without a write, so the stamp is the recorded one): the open fails, and dm takes
    the slow way (quarantine, rebuild) instead of failing."""
    import dm.commands.sql as sql

    recorded = _armed(experiment, capsys)
    (experiment.path / "dm.duckdb").write_bytes(b"garbage" * 500)
    monkeypatch.setattr(sql, "database_stamp", lambda lake: recorded["database"])
    TALLY["faults"] += 1
    code, out, err = _sql(experiment, capsys)
    assert code == 0 and "quarantine" in err, err
    assert json.loads(out) == [{"n": 60}]


def test_a_bad_query_records_nothing(experiment: Experiment, capsys) -> None:
    before = signature_path(LakeInfo.open(experiment.path)).read_bytes()
    code, _, err = _sql(experiment, capsys, "SELECT * FROM no_such_view")
    assert code == 2 and "SQL failed" in err
    assert signature_path(LakeInfo.open(experiment.path)).read_bytes() == before


@pytest.mark.parametrize("fault", ["unrecorded", "crashed", "truncated", "foreign record"])
def test_the_light_check_fails_as_the_store_does(experiment: Experiment, fault: str) -> None:
    """`check_files` on a LakeInfo (what dm sql uses, no store imported) gives Lake's very error."""
    root = experiment.path
    part = sorted((root / "models").glob("part-*.parquet"))[0]
    if fault == "unrecorded":
        (root / "models" / "part-900-901.parquet").write_bytes(part.read_bytes())
    elif fault == "crashed":  # a dead writer's journal names a file of a part that never got its record
        copied = root / "models" / "part-900-901.parquet"
        copied.write_bytes(part.read_bytes())
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        stage = root / ".staging" / f"{socket.gethostname()}-{dead.pid}-0123abcd"
        stage.mkdir(parents=True)
        (stage / "commit.json").write_text(json.dumps({"part": "900-901", "files": ["models/part-900-901.parquet"]}))
    elif fault == "truncated":
        os.truncate(part, part.stat().st_size // 2)
    else:
        record = sorted((root / "_records" / "part").glob("*.json"))[0]
        raw = json.loads(record.read_text())
        record.write_text(json.dumps({**raw, "owner": "someone else"}))
    errors = []
    for lake in (Lake.open(root), LakeInfo.open(root)):
        with pytest.raises(LakeError) as caught:
            check_files(lake)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert ("crashed commit" in errors[0]) == (fault == "crashed")


def test_a_query_does_not_wait_for_the_lock_to_record(experiment: Experiment, capsys) -> None:
    """Another dm process holds the experiment lock: the query answers at once, records nothing, says nothing;
    the next free call records the stamp."""
    hold = ("import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); lock.acquire(); "
            "print('held', flush=True); sys.stdin.read()")
    path = signature_path(LakeInfo.open(experiment.path))
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", hold, str(experiment.path / ".lock")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        code, out, err = _sql(experiment, capsys)
        assert code == 0 and json.loads(out) == [{"n": 60}] and err == "", err
        assert path.read_bytes() == before
    finally:
        proc.communicate("")
    _armed(experiment, capsys)


def test_the_inputs_listing_is_pathlib_s(experiment: Experiment) -> None:
    """`inputs_fingerprint` lists with os.scandir what pathlib's rglob lists (hidden and nested names too)."""
    from dm.lake.views import _parquet_names, lake_directories

    root = experiment.path
    (root / "eval" / "deep" / ".hidden").mkdir(parents=True)
    (root / "eval" / "deep" / ".hidden" / "x.parquet").write_bytes(b"")
    (root / "eval" / "deep" / "y.parquet").write_bytes(b"")
    (root / "eval" / "deep" / "not-parquet.txt").write_bytes(b"")
    dirs = lake_directories()
    want = sorted(str(p.relative_to(root)) for d in dirs for p in (root / d).rglob("*.parquet"))
    assert "eval/deep/.hidden/x.parquet" in want and len(want) > 20
    assert _parquet_names(root, dirs) == want


@pytest.mark.parametrize("upgraded", [True, False])
def test_views_built_from_other_sql_are_rebuilt(experiment: Experiment, capsys, upgraded: bool) -> None:
    """A database whose views an older dm built (and recorded) from other SQL: when the recorded hash of queries/
    differs from this dm's, the views are rebuilt; when it is the same, the recorded build is trusted as it is
    (the control: the check is what catches it)."""
    from dm.lake.views import record_signature

    _armed(experiment, capsys)
    con = duckdb.connect(str(experiment.path / "dm.duckdb"), config={"file_search_path": str(experiment.path)})
    con.execute("CREATE OR REPLACE VIEW models AS SELECT * FROM stg_models WHERE model_id < 10")  # "old" SQL
    con.close()
    lake = LakeInfo.open(experiment.path)
    record_signature(lake)  # as the older dm recorded its own build
    if upgraded:
        path = signature_path(lake)
        path.write_text(json.dumps({**json.loads(path.read_text()), "queries": "sha of an older queries/"}))
    code, out, err = _sql(experiment, capsys)
    assert code == 0, err
    assert json.loads(out) == ([{"n": 60}] if upgraded else [{"n": 10}])
