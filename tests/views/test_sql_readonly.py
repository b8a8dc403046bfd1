"""`dm sql` runs queries and nothing else: the database, the views and the file system stay as they were."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.views.conftest import Truth, run_cli

VIEWS = ("models", "datamodels", "counterfactual_topk", "support", "leakage", "embedding", "evaluation")


def _fingerprint(truth: Truth) -> str:
    return hashlib.sha256(truth.lake.layout.database.read_bytes()).hexdigest()


def test_select_works(truth: Truth, capsys) -> None:
    code, out, err = run_cli(truth, capsys, "sql", "SELECT count(*) AS n FROM models", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [{"n": len(truth.masks)}]
    code, out, err = run_cli(truth, capsys, "sql", "EXPLAIN SELECT * FROM support")
    assert code == 0, err


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE t AS SELECT 1",
        "CREATE TEMP TABLE t AS SELECT 1",
        "CREATE OR REPLACE VIEW models AS SELECT 1",
        "DROP VIEW models",
        "DROP MACRO TABLE counterfactual",
        "INSERT INTO models SELECT * FROM models",
        "COPY (SELECT * FROM models) TO '{tmp}/out.csv'",
        "EXPORT DATABASE '{tmp}/export'",
        "ATTACH '{tmp}/other.duckdb' AS other",
        "SET threads = 1",
        "PRAGMA enable_profiling",
        "INSTALL json",
        "LOAD json",
        "CALL pragma_version()",
        "CHECKPOINT",
        "PIVOT models ON alpha",
        "SELECT 1; DROP VIEW models",
        "EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp}/explained.csv'",
    ],
)
def test_writes_are_refused(truth: Truth, capsys, tmp_path, con, sql: str) -> None:
    before = _fingerprint(truth)
    code, out, err = run_cli(truth, capsys, "sql", sql.format(tmp=tmp_path))
    assert code == 2
    assert "read-only" in err or "exactly one statement" in err, err
    assert list(tmp_path.iterdir()) == []
    assert _fingerprint(truth) == before
    for view in VIEWS:
        assert con.execute(f"SELECT count(*) FROM {view}").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM counterfactual([1])").fetchone()[0] > 0
