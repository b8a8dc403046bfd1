"""`dm sql` and `dm query`: SQL over the experiment's views, read-only, parameters always bound.

    dm query --list
    dm query counterfactual --ids 3,17,42 --format csv
    dm query datamodel --param example_id=5 --param top=10
    dm sql "SELECT metric, value FROM evaluation"

Both open `lake/<experiment>/dm.duckdb` with read_only=True. `dm sql` also refuses every statement that is not a
single query (see `dm.analyze.views.readonly`); `dm query` runs only the fixed SQL of `dm.analyze.views.named`,
with the user's values bound as prepared-statement parameters.
"""

from __future__ import annotations

import argparse
import json
import sys

import duckdb
import pyarrow as pa
from omegaconf import DictConfig

from dm.analyze.views.named import NAMED_QUERIES, NamedQuery, plain_view_query
from dm.analyze.views.readonly import check_read_only
from dm.errors import UsageError
from dm.lake.layout import experiment_root
from dm.lake.store import Lake
from dm.lake.views import build_views, query_files


def _catalog(con: duckdb.DuckDBPyConnection) -> tuple[set[str], set[str]]:
    """(view names, table macro names) defined in the database."""
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    macros = {
        r[0]
        for r in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'table_macro' AND NOT internal"
        ).fetchall()
    }
    return views, macros


def _ensure_views(lake: Lake) -> None:
    """Build the views when the database is missing one of queries/ (new files, or inputs written since the
    last build, e.g. eval/ outputs). Skipped silently if another process holds the database."""
    expected = set(query_files())
    if lake.layout.database.exists():
        con = duckdb.connect(str(lake.layout.database), read_only=True)
        try:
            views, macros = _catalog(con)
        finally:
            con.close()
        if expected <= views | macros:
            return
    try:
        build_views(lake)
    except (duckdb.IOException, duckdb.ConnectionException):
        pass  # held by another connection: query what is there


def _connect(cfg: DictConfig) -> duckdb.DuckDBPyConnection:
    lake = Lake.open(experiment_root(cfg))
    _ensure_views(lake)
    return duckdb.connect(str(lake.layout.database), read_only=True)


def _emit(table: pa.Table, fmt: str, output: str | None, limit: int | None = None) -> None:
    """Write `table` as a text table (first `limit` rows), CSV, JSON records or Parquet to `output` or stdout."""
    if fmt == "parquet":
        if not output:
            raise UsageError("--format parquet needs --output FILE")
        import pyarrow.parquet as pq

        pq.write_table(table, output)
        print(f"wrote {table.num_rows} rows to {output}")
        return
    if fmt == "csv":
        import pyarrow.csv as pacsv

        if output:
            pacsv.write_csv(table, output)
        else:
            sys.stdout.flush()
            pacsv.write_csv(table, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return
    text = json.dumps(table.to_pylist(), default=str) if fmt == "json" else _table_text(table, limit)
    if output:
        with open(output, "w") as fh:
            fh.write(text + "\n")
    else:
        print(text)


def _table_text(table: pa.Table, limit: int | None) -> str:
    """DuckDB's box rendering of the first `limit` rows, plus a note of how many were left out."""
    shown = table.slice(0, limit) if limit else table
    con = duckdb.connect()
    try:
        text = str(con.from_arrow(shown)) if shown.num_columns else "(no columns)"
    finally:
        con.close()
    hidden = table.num_rows - shown.num_rows
    return text + (f"({hidden} more rows; use --format csv or --limit)" if hidden else "")


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None) -> pa.Table:
    try:
        return con.sql(sql, params=params or None).to_arrow_table()
    except duckdb.Error as err:
        raise UsageError(f"SQL failed: {str(err).splitlines()[0]}") from err


def _raw_params(args: argparse.Namespace) -> dict[str, str]:
    raw: dict[str, str] = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param expects KEY=VALUE, got {item!r}")
        raw[key.strip()] = value
    if args.ids is not None:
        if "ids" in raw:
            raise UsageError("give the ids either as --ids or as --param ids=..., not both")
        raw["ids"] = args.ids
    return raw


def _lookup(name: str, views: set[str]) -> NamedQuery:
    if name in NAMED_QUERIES:
        return NAMED_QUERIES[name]
    if name in views:
        return plain_view_query(name)
    raise UsageError(f"no query or view named {name!r}; see `dm query --list`")


def _list(views: set[str]) -> str:
    lines = ["named queries (dm query NAME [--param KEY=VALUE ...]):"]
    for q in NAMED_QUERIES.values():
        lines.append(f"  {q.name:<20} {q.help}")
        for p in q.params:
            flag = "required" if p.required else f"default {p.default!r}" if p.default is not None else "optional"
            lines.append(f"      {p.name:<14} {p.kind:<5} {flag:<14} {p.help}")
    plain = sorted(v for v in views if v not in NAMED_QUERIES and not v.startswith("stg_"))
    lines.append("views (dm query NAME prints all rows; filter with dm sql):")
    lines.append("  " + ", ".join(plain) if plain else "  (none yet)")
    return "\n".join(lines)


def query_cmd(cfg: DictConfig, args: argparse.Namespace) -> int:
    """`dm query NAME`: run a named query (or a whole view) with its parameters bound."""
    con = _connect(cfg)
    try:
        views, _ = _catalog(con)
        if args.list:
            print(_list(views))
            return 0
        if not args.name:
            raise UsageError("name a query (see `dm query --list`)")
        query = _lookup(args.name, views)
        table = _run(con, query.sql, query.bind(_raw_params(args)))
    finally:
        con.close()
    _emit(table, args.format, args.output, args.limit)
    return 0


def sql_cmd(cfg: DictConfig, args: argparse.Namespace) -> int:
    """`dm sql "..."`: one read-only statement against the experiment's views."""
    check_read_only(args.sql)
    con = _connect(cfg)
    try:
        table = _run(con, args.sql)
    finally:
        con.close()
    _emit(table, args.format, args.output, 50)
    return 0
