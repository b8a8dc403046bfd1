"""`dm sql` and `dm query`: SQL over the experiment's views, read-only, parameters always bound.

    dm query --list
    dm query counterfactual --ids 3,17,42 --format csv
    dm query datamodel --param example_id=5 --param top=10
    dm sql "SELECT metric, value FROM evaluation"

Both open `lake/<experiment>/dm.duckdb` with read_only=True in DuckDB's sandbox (`dm.lake.views.open_database`:
no external access, no extension install/load, files limited to the experiment's own directories). Before that,
the database is checked: views missing, or changed since dm built them (a misused read-write connection), or a
corrupt file, make dm rebuild it (a corrupt file is moved to `quarantine/` first); and the files the views read
are checked against their commit records (`dm.lake.verify.check_files`). `dm sql` also refuses every
statement that is not a single query (see `dm.analyze.views.readonly`); `dm query` runs only the fixed SQL of
`dm.analyze.views.named`, with the user's values bound as prepared-statement parameters and ids range-checked.
Output files must be outside the lake, in an existing directory.

Start-up (budget 0.2 s, issue 11): given lake.root and lake.experiment the config is not composed
(`dm.config.lake_only`); the experiment is a `dm.lake.info.LakeInfo` (no store, so no numpy or pyarrow); table
and JSON output come from DuckDB (pyarrow only for csv and parquet); the database's signature is recomputed only
when its file stamp changed (`_ensure_views`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from dm.analyze.views.named import NAMED_QUERIES, NamedQuery, plain_view_query
from dm.analyze.views.readonly import check_read_only
from dm.errors import UsageError
from dm.lake.atomic import read_json
from dm.lake.errors import LakeError
from dm.lake.info import LakeInfo
from dm.lake.layout import experiment_root
from dm.lake.views import (
    DatabaseBusy,
    DatabaseCorrupt,
    catalog,
    connect,
    database_stamp,
    inputs_fingerprint,
    queries_fingerprint,
    query_files,
    rebuild_views,
    record_signature,
    signature,
    signature_path,
)

if TYPE_CHECKING:  # pyarrow only for --format csv/parquet, omegaconf not at all (see dm.config.lake_only)
    import pyarrow as pa
    from omegaconf import DictConfig

    from dm.config.lake_only import LakeOnlyConfig


def _state(lake: LakeInfo) -> tuple[set[str], str] | None:
    """(names defined, signature) of dm.duckdb; None if it is missing. A corrupt file is quarantined (None)."""
    path = lake.layout.database
    if not path.exists():
        return None
    try:
        with connect(lake) as con:
            views, macros = catalog(con)
            return views | macros, signature(con)
    except DatabaseCorrupt:
        dest = lake.layout.quarantine / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, dest)
        print(f"dm: {path} was not a readable database; moved to {dest}, rebuilding it", file=sys.stderr)
        return None


def _ensure_views(lake: LakeInfo, trust_stamp: bool = True) -> bool:
    """Rebuild the views when dm.duckdb is missing or corrupt, was changed since dm built it (a read-write
    connection misused, e.g. `CREATE OR REPLACE VIEW models AS ...`: its signature differs from the one in
    `_records/views.json`), was built from other view SQL (the hash of queries/ recorded with it differs: a
    database an older dm built), or lacks one of queries/ while the files the views read have changed since the
    last build (new inputs, e.g. eval/ outputs).

    The common case opens nothing: when the database's `database_stamp` (inode, size, mtime, ctime of the file
    and its WAL) is the one recorded with the signature, the file is the one whose signature and names were
    recorded, so both are taken from `views.json` (trust_stamp=False: open it and recompute them anyway).
    Returns whether the signature is due to be recorded (`_record`, once the command has succeeded): on first
    use, or when the stamp changed but not the signature (a copied lake, a read-write open that wrote nothing)."""
    try:
        recorded = read_json(signature_path(lake))
    except LakeError:
        recorded = {}  # built by an older dm or by hand: trusted as it is on first use, then recorded
    if recorded and recorded.get("queries") != queries_fingerprint():  # built from other SQL (another dm version)
        try:
            rebuild_views(lake)
            return False
        except DatabaseBusy:
            pass  # held by another connection: query the views that are there
    stamp = database_stamp(lake)
    if trust_stamp and stamp is not None and recorded.get("database") == stamp and "names" in recorded:
        names = set(recorded["names"])
    else:
        state = _state(lake)
        if state is None:
            rebuild_views(lake)
            return False
        names, current = state
        if recorded and current != recorded.get("signature"):
            print(f"dm: {lake.layout.database} was changed outside dm; rebuilding its views", file=sys.stderr)
            rebuild_views(lake)
            return False
    if not set(query_files()) <= names and recorded.get("inputs") != inputs_fingerprint(lake):
        try:
            rebuild_views(lake)
        except DatabaseBusy:
            pass  # held by another connection: query the views that are there
        return False
    return stamp is None or recorded.get("database") != stamp or "names" not in recorded


def _record(lake: LakeInfo) -> None:
    """`record_signature` under the experiment lock, unless the signature differs from the recorded one (changed
    since it was checked: the next call finds that). Skipped when another dm process holds the lock (no waiting
    in a query) or the lake is read-only; the next call then checks the slow way again. Called after a command
    succeeded, so that a bad input changes nothing in the lake."""
    from dm.lake.lock import experiment_lock

    try:
        expected = read_json(signature_path(lake)).get("signature")
    except LakeError:
        expected = None
    try:
        with experiment_lock(lake.layout.root, timeout=0):
            record_signature(lake, expected)
    except (LakeError, OSError):
        pass


def _checked_lake(root: Path) -> LakeInfo:
    """The experiment at `root` after `dm.lake.verify.check_files`: no answer from a foreign, unrecorded or
    truncated file (record owners, sizes and the files present: one stat per file, no checksums)."""
    from dm.lake.verify import check_files

    lake = LakeInfo.open(root)
    check_files(lake)
    return lake


def _connect(cfg: DictConfig | LakeOnlyConfig) -> tuple[LakeInfo, duckdb.DuckDBPyConnection, bool]:
    """(the checked experiment, a sandboxed read-only connection, whether `_record` is due after success)."""
    lake = _checked_lake(experiment_root(cfg))
    due = _ensure_views(lake)
    try:
        return lake, connect(lake), due
    except DatabaseCorrupt:  # damaged since its stamp was recorded (not written to: bad media): the slow way
        due = _ensure_views(lake, trust_stamp=False)  # quarantines it and rebuilds
        return lake, connect(lake), due


def _check_output(output: str | None, lake: LakeInfo) -> None:
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


def _check_ranges(lake: LakeInfo, params: dict[str, object]) -> None:
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


def _result(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None, fmt: str,
            limit: int | None) -> str | pa.Table:
    """Run the query once: the text to print for --format table (DuckDB's box drawing of the first `limit` rows and
    a note of how many were left out) or json (one record per row), the Arrow table for csv and parquet. Table and
    json never import pyarrow (~0.1 s of start-up): DuckDB holds the rows and draws or converts them itself."""
    try:
        relation = con.sql(sql, params=params or None)
        if fmt in ("csv", "parquet"):
            return relation.to_arrow_table()
        if fmt == "json":
            return json.dumps(relation.to_dicts(), default=str)
        rows = relation.materialize()
        shown = rows.limit(limit) if limit else rows
        text = str(shown) if rows.columns else "(no columns)"
        hidden = len(rows) - len(shown)
    except duckdb.Error as err:
        raise UsageError(f"SQL failed: {str(err).splitlines()[0]}") from err
    return text + (f"({hidden} more rows; use --format csv or --limit)" if hidden else "")


def _write(result: str | pa.Table, fmt: str, output: str | None) -> None:
    """Write a `_result` (text, or an Arrow table as CSV or Parquet) to `output` or stdout."""
    try:
        if isinstance(result, str):
            if output:
                with open(output, "w") as fh:
                    fh.write(result + "\n")
            else:
                print(result)
        else:
            _write_arrow(result, fmt, output)
    except OSError as err:
        raise UsageError(f"cannot write {output or 'stdout'}: {err.strerror or err}") from err


def _write_arrow(table: pa.Table, fmt: str, output: str | None) -> None:
    """CSV (nested columns as JSON text) or Parquet (which needs `output`)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt == "parquet" and not output:
        raise UsageError("--format parquet needs --output FILE")
    try:
        if fmt == "parquet":
            pq.write_table(table, output)
            print(f"wrote {table.num_rows} rows to {output}")
        elif output:
            pacsv.write_csv(_flat(table), output)
        else:
            sys.stdout.flush()
            pacsv.write_csv(_flat(table), sys.stdout.buffer)
            sys.stdout.buffer.flush()
    except OSError:
        raise
    except pa.ArrowException as err:
        raise UsageError(f"cannot write {fmt}: {str(err).splitlines()[0]}") from err


def _flat(table: pa.Table) -> pa.Table:
    """Nested columns (lists, structs) as JSON text, which CSV can hold."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_nested(f.type):
            text = [None if v is None else json.dumps(v, default=str) for v in table.column(i).to_pylist()]
            table = table.set_column(i, f.name, pa.array(text, pa.string()))
    return table


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


def _lookup(name: str, con: duckdb.DuckDBPyConnection) -> NamedQuery:
    if name in NAMED_QUERIES:
        return NAMED_QUERIES[name]
    if name in catalog(con)[0]:
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


def query_cmd(cfg: DictConfig | LakeOnlyConfig, args: argparse.Namespace) -> int:
    """`dm query NAME`: run a named query (or a whole view) with its parameters bound."""
    lake, con, due = _connect(cfg)
    try:
        if args.list:
            result = _list(catalog(con)[0])
        elif not args.name:
            raise UsageError("name a query (see `dm query --list`)")
        else:
            _check_output(args.output, lake)
            query = _lookup(args.name, con)
            params = query.bind(_raw_params(args))
            _check_ranges(lake, params)
            result = _result(con, query.sql, params, args.format, args.limit)
    finally:
        con.close()
    _write(result, args.format, None if args.list else args.output)
    if due:
        _record(lake)
    return 0


def sql_cmd(cfg: DictConfig | LakeOnlyConfig, args: argparse.Namespace) -> int:
    """`dm sql "..."`: one read-only statement against the experiment's views (checked with the experiment's
    connection, after the lake's own checks: one DuckDB instance, not two)."""
    lake, con, due = _connect(cfg)
    try:
        check_read_only(args.sql, con)
        _check_output(args.output, lake)
        result = _result(con, args.sql, None, args.format, 50)
    finally:
        con.close()
    _write(result, args.format, args.output)
    if due:
        _record(lake)
    return 0
