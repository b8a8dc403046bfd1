"""`dm sql` and `dm query`: SQL over the experiment's views, read-only, parameters always bound.

    dm query --list
    dm query counterfactual --ids 3,17,42 --format csv
    dm query datamodel --param example_id=5 --param top=10
    dm sql "SELECT metric, value FROM evaluation"

Both open `lake/<experiment>/dm.duckdb` with read_only=True in DuckDB's sandbox (`dm.lake.views.open_database`:
no external access, no extension install/load, files limited to the experiment's own directories). Before that,
the database is checked: views missing, or changed since dm built them (a misused read-write connection), or a
corrupt file, make dm rebuild it (a corrupt file is moved to `quarantine/` first). `dm sql` also refuses every
statement that is not a single query (see `dm.analyze.views.readonly`); `dm query` runs only the fixed SQL of
`dm.analyze.views.named`, with the user's values bound as prepared-statement parameters and ids range-checked.
Output files must be outside the lake, in an existing directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
from omegaconf import DictConfig

from dm.analyze.views.named import NAMED_QUERIES, NamedQuery, plain_view_query
from dm.analyze.views.readonly import check_read_only
from dm.errors import UsageError
from dm.lake.atomic import read_json
from dm.lake.layout import experiment_root
from dm.lake.store import Lake, LakeError
from dm.lake.views import (
    DatabaseBusy,
    DatabaseCorrupt,
    connect,
    inputs_fingerprint,
    query_files,
    rebuild_views,
    record_signature,
    signature,
    signature_path,
)


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


def _state(lake: Lake) -> tuple[set[str], str] | None:
    """(names defined, signature) of dm.duckdb; None if it is missing. A corrupt file is quarantined (None)."""
    path = lake.layout.database
    if not path.exists():
        return None
    try:
        with connect(lake) as con:
            views, macros = _catalog(con)
            return views | macros, signature(con)
    except DatabaseCorrupt:
        dest = lake.layout.quarantine / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, dest)
        print(f"dm: {path} was not a readable database; moved to {dest}, rebuilding it", file=sys.stderr)
        return None


def _ensure_views(lake: Lake) -> None:
    """Rebuild the views when dm.duckdb is missing or corrupt, was changed since dm built it (a read-write
    connection misused, e.g. `CREATE OR REPLACE VIEW models AS ...`: its signature differs from the one in
    `_records/views.json`), or lacks one of queries/ while the files the views read have changed since the last
    build (new inputs, e.g. eval/ outputs)."""
    state = _state(lake)
    try:
        recorded = read_json(signature_path(lake))
    except LakeError:
        recorded = {}  # built by an older dm or by hand: trusted as it is on first use, then recorded
    if state is None:
        rebuild_views(lake)
        return
    names, current = state
    if recorded and current != recorded.get("signature"):
        print(f"dm: {lake.layout.database} was changed outside dm; rebuilding its views", file=sys.stderr)
        rebuild_views(lake)
    elif not set(query_files()) <= names and recorded.get("inputs") != inputs_fingerprint(lake):
        try:
            rebuild_views(lake)
        except DatabaseBusy:
            pass  # held by another connection: query the views that are there
    elif not recorded:
        record_signature(lake)


def _connect(cfg: DictConfig) -> tuple[Lake, duckdb.DuckDBPyConnection]:
    from dm.lake.verify import check_files

    lake = Lake.open(experiment_root(cfg))
    check_files(lake)  # no answer from a foreign, unrecorded or truncated file (sizes only: cheap)
    _ensure_views(lake)
    return lake, connect(lake)


def _check_output(output: str | None, lake: Lake) -> None:
    """--output must be a new or existing file in an existing directory outside the lake."""
    if not output:
        return
    path = Path(output).resolve()
    if not path.parent.is_dir():
        raise UsageError(f"--output {output}: directory {path.parent} does not exist")
    if path.is_dir():
        raise UsageError(f"--output {output} is a directory; give a file name")
    if path.is_relative_to(lake.layout.root.resolve().parent):
        raise UsageError(f"--output {output} is inside the lake ({lake.layout.root.parent}); write results elsewhere")


def _check_ranges(lake: Lake, params: dict[str, object]) -> None:
    """Train ids and example ids must exist in the experiment (UsageError naming the range otherwise)."""
    ids = params.get("ids") or []
    bad = [i for i in ids if not 0 <= i < lake.d]
    if bad:
        raise UsageError(f"train ids {bad[:5]} are out of range: the experiment has {lake.d} training examples "
                         f"(ids 0..{lake.d - 1})")
    example, split = params.get("example_id"), params.get("split")
    if example is not None:
        n = lake.split_size(split) if split in ("train", "test") else max(lake.d, lake.split_size("test"))
        if not 0 <= example < n:
            raise UsageError(f"example_id {example} is out of range ({split or 'train/test'} ids are 0..{n - 1})")


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

        table = _flat(table)
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


def _write(table: pa.Table, fmt: str, output: str | None, limit: int | None) -> None:
    try:
        _emit(table, fmt, output, limit)
    except OSError as err:
        raise UsageError(f"cannot write {output or 'stdout'}: {err.strerror or err}") from err
    except pa.ArrowException as err:
        raise UsageError(f"cannot write {fmt}: {str(err).splitlines()[0]}") from err


def _flat(table: pa.Table) -> pa.Table:
    """Nested columns (lists, structs) as JSON text, which CSV can hold."""
    for i, f in enumerate(table.schema):
        if pa.types.is_nested(f.type):
            text = [None if v is None else json.dumps(v, default=str) for v in table.column(i).to_pylist()]
            table = table.set_column(i, f.name, pa.array(text, pa.string()))
    return table


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
    lake, con = _connect(cfg)
    try:
        views, _ = _catalog(con)
        if args.list:
            print(_list(views))
            return 0
        if not args.name:
            raise UsageError("name a query (see `dm query --list`)")
        _check_output(args.output, lake)
        query = _lookup(args.name, views)
        params = query.bind(_raw_params(args))
        _check_ranges(lake, params)
        table = _run(con, query.sql, params)
    finally:
        con.close()
    _write(table, args.format, args.output, args.limit)
    return 0


def sql_cmd(cfg: DictConfig, args: argparse.Namespace) -> int:
    """`dm sql "..."`: one read-only statement against the experiment's views."""
    check_read_only(args.sql)
    lake, con = _connect(cfg)
    try:
        _check_output(args.output, lake)
        table = _run(con, args.sql)
    finally:
        con.close()
    _write(table, args.format, args.output, 50)
    return 0
