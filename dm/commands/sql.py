"""`dm sql` and `dm query`: SQL over the experiment's views, read-only, parameters always bound."""

from __future__ import annotations

import argparse
import sys

import duckdb
from omegaconf import DictConfig

from dm.lake.store import Lake
from dm.lake.views import connect
from dm.train.runner import experiment_root


def _emit(rel: duckdb.DuckDBPyRelation | None, con: duckdb.DuckDBPyConnection, fmt: str, output: str | None,
          limit: int | None = None) -> None:
    table = con.fetch_arrow_table() if rel is None else rel.to_arrow_table()
    if fmt == "parquet":
        if not output:
            raise ValueError("--format parquet needs --output FILE")
        import pyarrow.parquet as pq

        pq.write_table(table, output)
        print(f"wrote {table.num_rows} rows to {output}")
        return
    import pyarrow.csv as pacsv

    if fmt == "csv":
        sink = output or sys.stdout.buffer
        pacsv.write_csv(table, sink)
        return
    if fmt == "json":
        import json

        text = json.dumps(table.to_pylist(), default=str)
    else:
        text = _table_text(table, limit)
    if output:
        with open(output, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)


def _table_text(table, limit: int | None) -> str:
    shown = table.slice(0, limit) if limit else table
    con = duckdb.connect()
    con.register("t", shown)
    text = str(con.sql("SELECT * FROM t"))
    more = f"({table.num_rows - shown.num_rows} more rows; use --format csv or --limit)" if shown.num_rows < table.num_rows else ""
    return text + more


def sql_cmd(cfg: DictConfig, args: argparse.Namespace) -> int:
    con = connect(Lake.open(experiment_root(cfg)), read_only=True)
    try:
        con.execute(args.sql)
        _emit(None, con, args.format, args.output, 50)
    except duckdb.Error as err:
        raise ValueError(f"SQL failed: {str(err).splitlines()[0]}") from err
    finally:
        con.close()
    return 0
