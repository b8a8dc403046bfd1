"""`dm sql` / `dm query` print tables and JSON without pyarrow (DuckDB draws and converts the rows itself): the
output must be what the Arrow route printed (the reference here), and the start-up must not import the heavy
libraries (torch, lightning, ffcv, pyarrow, numpy, hydra, ...)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import pytest

from dm.lake.views import catalog
from tests.views.conftest import Truth, run_cli

HEAVY = ("torch", "lightning", "ffcv", "sklearn", "pandas", "pyarrow", "numpy", "hydra", "omegaconf", "yaml")


def _arrow_table_text(table, limit: int) -> str:
    """What `dm sql` printed before: DuckDB's box drawing of an Arrow slice, and the note of rows left out."""
    shown = table.slice(0, limit)
    con = duckdb.connect()
    try:
        text = str(con.from_arrow(shown))
    finally:
        con.close()
    hidden = table.num_rows - shown.num_rows
    return text + (f"({hidden} more rows; use --format csv or --limit)" if hidden else "")


def test_every_view_prints_as_through_arrow(truth: Truth, con, capsys) -> None:
    views, _ = catalog(con)
    assert len(views) > 10
    for view in sorted(views):
        code, out, err = run_cli(truth, capsys, "query", view, "--format", "json")  # rows in any order
        assert code == 0, err
        table = con.sql(f"SELECT * FROM {view}").to_arrow_table()
        assert _sorted(json.loads(out)) == _sorted(json.loads(json.dumps(table.to_pylist(), default=str))), view
        sql = f"SELECT * FROM {view} ORDER BY ALL"
        code, out, err = run_cli(truth, capsys, "sql", sql)  # table, 50 rows
        assert code == 0, err
        assert out == _arrow_table_text(con.sql(sql).to_arrow_table(), 50) + "\n", view


def _sorted(records: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def test_limits_and_odd_results_print_as_through_arrow(truth: Truth, con, capsys) -> None:
    for sql in ("SELECT 1 AS a, 2 AS a", "SELECT * FROM models WHERE false", "DESCRIBE models",
                "SELECT [1, 2] AS l, {'k': 1.5} AS s, 'x' AS t, NULL AS n"):
        code, out, err = run_cli(truth, capsys, "sql", sql)
        assert code == 0, err
        assert out == _arrow_table_text(con.sql(sql).to_arrow_table(), 50) + "\n", sql
    code, out, err = run_cli(truth, capsys, "query", "models", "--limit", "3")
    assert code == 0, err
    assert out == _arrow_table_text(con.sql("SELECT * FROM models").to_arrow_table(), 3) + "\n"
    assert "more rows" in out


@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize("argv", [["sql", "SELECT count(*) FROM models"],
                                  ["query", "datamodel", "--param", "example_id=3", "--param", "split=test"]])
def test_sql_and_query_import_nothing_heavy(truth: Truth, argv: list[str], fmt: str) -> None:
    code = textwrap.dedent(f"""
        import json, sys
        from dm.cli import main
        for _ in range(2):  # the first call may record the database's stamp; the second is the common case
            rc = main(sys.argv[1:])
        print(json.dumps({{"rc": rc, "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}), file=sys.stderr)
    """)
    args = [*argv, "--format", fmt, f"lake.root={truth.root.parent}", f"lake.experiment={truth.root.name}"]
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    report = json.loads(run.stderr.strip().splitlines()[-1])
    assert report == {"rc": 0, "heavy": []}, run.stderr
    assert run.stdout.strip()
