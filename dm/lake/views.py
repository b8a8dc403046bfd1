"""Build `lake/<experiment>/dm.duckdb`: one view (or macro) per file of `queries/`, named after the file.

`queries/schema.yml` is the SQL contract: for every view its columns and types, a description, the views it reads
(`depends_on`) and, for staging views (`queries/staging/`, the only ones that read Parquet), the lake files it
reads (`inputs`, globs relative to the experiment). Views are created in dependency order (graphlib); a view whose
input files do not exist yet (e.g. weights before `dm fit`), or that depends on such a view, is left out and
listed in `ViewBuild.missing`; a view whose SQL fails is a `ViewError` naming it.

A file holding a SELECT becomes `CREATE OR REPLACE VIEW <file stem> AS <select>`; a file starting with
CREATE (macros) is run as it is. `{{lake}}/` is removed, so views read paths relative to the experiment (a copied
or moved lake stays self-contained): every dm connection sets DuckDB's `file_search_path` to the experiment
(a plain `duckdb dm.duckdb` works from inside the experiment directory). `{{target_block}}` is its block size.
`queries/named/` holds the SQL of `dm query`'s named queries (not views).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from dm.lake.errors import LakeError

if TYPE_CHECKING:  # a Lake or a LakeInfo: only .layout and .meta are read (dm sql imports no store, no pyarrow)
    from dm.lake.info import LakeInfo
    from dm.lake.store import Lake

QUERIES_DIR = Path(__file__).resolve().parents[2] / "queries"
NAMED_DIR = "named"


class ViewError(LakeError):
    """A view's SQL failed to build, or `queries/` and its contract `schema.yml` disagree."""


@dataclass(frozen=True)
class ViewSpec:
    """One entry of `queries/schema.yml`: columns (name -> DuckDB type, in order), and what it reads."""

    name: str
    description: str
    columns: dict[str, str]
    depends_on: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    kind: str = "view"  # or "macro" (a table macro; columns of a call)
    extra_columns: bool = False  # columns beyond the declared ones are allowed (union_by_name stacks)




@dataclass
class ViewBuild:
    created: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # view -> why it is not there


def query_files(queries_dir: Path = QUERIES_DIR) -> dict[str, Path]:
    """view name -> file, over `queries/` and `queries/staging/` (not the named queries of `queries/named/`)."""
    files = [p for p in queries_dir.rglob("*.sql") if p.parent.name != NAMED_DIR]
    files.sort(key=lambda p: (p.parent != queries_dir / "staging", p.name))
    return {p.stem: p for p in files}


def load_contract(queries_dir: Path = QUERIES_DIR) -> dict[str, ViewSpec]:
    """The views of `queries_dir/schema.yml`, checked against the .sql files and for dependency cycles."""
    import yaml

    raw = yaml.safe_load((queries_dir / "schema.yml").read_text())["views"]
    specs = {
        name: ViewSpec(
            name=name,
            description=" ".join(str(v["description"]).split()),
            columns={str(k): str(t) for k, t in v["columns"].items()},
            depends_on=tuple(v.get("depends_on") or ()),
            inputs=tuple(v.get("inputs") or ()),
            kind=v.get("kind", "view"),
            extra_columns=bool(v.get("extra_columns", False)),
        )
        for name, v in raw.items()
    }
    files = set(query_files(queries_dir))
    if files != set(specs):
        raise ViewError(
            f"queries/schema.yml and queries/*.sql disagree: no contract for {sorted(files - set(specs))}, "
            f"no file for {sorted(set(specs) - files)}"
        )
    unknown = {d for s in specs.values() for d in s.depends_on} - set(specs)
    if unknown:
        raise ViewError(f"queries/schema.yml: depends_on names unknown views {sorted(unknown)}")
    try:
        build_order(specs)
    except CycleError as err:
        raise ViewError(f"queries/schema.yml: dependency cycle {err.args[1]}") from err
    return specs


def build_order(specs: dict[str, ViewSpec]) -> list[str]:
    """Views ordered so that each comes after everything it depends on (ties by name, for stable builds)."""
    sorter = TopologicalSorter({name: specs[name].depends_on for name in sorted(specs)})
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order += ready
        sorter.done(*ready)
    return order


def render(sql: str, lake: Lake | LakeInfo) -> str:
    """A query file's SQL for `lake`: lake paths relative to the experiment, the block size filled in."""
    return sql.replace("{{lake}}/", "").replace("{{target_block}}", str(int(lake.meta["shape"]["target_block"])))


def lake_directories(queries_dir: Path = QUERIES_DIR) -> list[str]:
    """The experiment's top-level directories that the views read (e.g. 'models/', 'eval/'), from queries/."""
    pattern = r"\{\{lake\}\}/([^/'*{]+)/"
    return sorted({f"{m}/" for p in query_files(queries_dir).values() for m in re.findall(pattern, p.read_text())})


class DatabaseBusy(LakeError):
    """dm.duckdb is held by another process (or, in one process, open with other settings)."""


class DatabaseCorrupt(LakeError):
    """dm.duckdb is not a readable DuckDB database (empty, truncated, garbage)."""


def _open_error(path: Path, err: duckdb.Error) -> LakeError:
    first = str(err).splitlines()[0]
    if "lock" in first.lower() or "different configuration" in first:
        return DatabaseBusy(f"{path} is held by another process or connection; close it and retry ({first})")
    try:
        with open(path, "rb") as fh:
            header = fh.read(12)
    except OSError:
        return LakeError(f"{path} cannot be opened ({first})")
    if header[8:12] != b"DUCK" or "not a valid DuckDB database" in first:
        return DatabaseCorrupt(f"{path} is not a readable DuckDB database ({first})")
    return LakeError(f"{path} cannot be opened ({first})")


def _quote(path: str) -> str:
    return "'" + path.replace("'", "''") + "'"


def open_database(lake: Lake | LakeInfo, read_only: bool = True, sandbox: bool = True) -> duckdb.DuckDBPyConnection:
    """Open `dm.duckdb` with `file_search_path` at the experiment (its views use relative paths).

    sandbox: no extension auto-install/auto-load, external access off, file access limited to the experiment
    directories the views read (`lake_directories`), then the configuration locked, so no statement can widen
    it (`read_csv('/etc/passwd')`, `glob('/*')`, https URLs, other experiments' files are refused).
    Raises DatabaseBusy (held by another process), DatabaseCorrupt, or LakeError: one line each."""
    root = str(lake.layout.root.resolve())
    config = {"file_search_path": root}
    if sandbox:
        config |= {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    try:
        con = duckdb.connect(str(lake.layout.database), read_only=read_only, config=config)
    except duckdb.Error as err:
        raise _open_error(lake.layout.database, err) from err
    # fetchall, not fetchone: a result left unfinished on the connection makes its next relation query fail
    if sandbox and con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0]:
        return con  # this process already opened the database sandboxed (settings are per database instance)
    if sandbox:
        dirs = lake_directories()
        allowed = ", ".join(_quote(d) for d in [*dirs, *(f"{root}/{d}" for d in dirs)])
        con.execute(f"SET allowed_directories = [{allowed}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return con


def statement(name: str, sql: str) -> str:
    body = sql.strip().rstrip(";")
    if re.match(r"^\s*(--[^\n]*\n\s*)*CREATE\b", body, flags=re.IGNORECASE):
        return body
    return f"CREATE OR REPLACE VIEW {name} AS\n{body}"


def build_views(lake: Lake | LakeInfo, queries_dir: Path = QUERIES_DIR) -> ViewBuild:
    """(Re)create every view of `queries_dir` in the experiment's `dm.duckdb`, in dependency order.

    Raises ViewError (naming the view and its file) when a view's SQL fails on inputs that exist.
    """
    specs = load_contract(queries_dir)
    files = query_files(queries_dir)
    root = lake.layout.root
    result = ViewBuild()
    con = open_database(lake, read_only=False, sandbox=False)
    try:
        order = build_order(specs)
        for name in reversed(order):
            con.execute(f"DROP {'MACRO TABLE' if specs[name].kind == 'macro' else 'VIEW'} IF EXISTS {name}")
        for name in order:
            spec = specs[name]
            absent = [g for g in spec.inputs if next(root.glob(g), None) is None]
            blocked = [d for d in spec.depends_on if d in result.missing]
            if absent or blocked:
                why = f"inputs not written yet: {', '.join(absent)}" if absent else f"needs {', '.join(blocked)}"
                result.missing[name] = why
                continue
            try:
                con.execute(statement(name, render(files[name].read_text(), lake)))
            except duckdb.Error as err:
                where = files[name].relative_to(queries_dir.parent)
                raise ViewError(f"view {name} ({where}) failed to build: {str(err).splitlines()[0]}") from err
            result.created.append(name)
    finally:
        con.close()
    return result


def connect(lake: Lake | LakeInfo, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A sandboxed connection to the experiment's database (views built by `build_views` if it is missing)."""
    if not lake.layout.database.exists():
        build_views(lake)
    return open_database(lake, read_only=read_only)


def signature(con: duckdb.DuckDBPyConnection) -> str:
    """Hash of every user object's definition (views, macros, tables): changes when anything is redefined."""
    import hashlib
    import json

    rows = con.execute(
        "SELECT 'view', view_name, sql FROM duckdb_views() WHERE NOT internal "
        "UNION ALL SELECT 'macro', function_name, coalesce(macro_definition, '') FROM duckdb_functions() "
        "WHERE function_type IN ('macro', 'table_macro') AND NOT internal "
        "UNION ALL SELECT 'table', table_name, sql FROM duckdb_tables() WHERE NOT internal ORDER BY ALL"
    ).fetchall()
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


def catalog(con: duckdb.DuckDBPyConnection) -> tuple[set[str], set[str]]:
    """(view names, table macro names) defined in the database."""
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    macros = {
        r[0]
        for r in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE function_type = 'table_macro' AND NOT internal"
        ).fetchall()
    }
    return views, macros


def database_stamp(lake: Lake | LakeInfo) -> list[list[int] | None] | None:
    """[inode, size, mtime_ns, ctime_ns] of dm.duckdb and of its write-ahead log (None where absent); None when
    there is no database. Any write to either file (a read-write connection, a copy or a truncation) changes it:
    a write sets the ctime to the clock, and nothing can set a ctime back. So an equal stamp means the very bytes
    whose signature was recorded with it, and `dm sql` need not open the database to recompute the signature."""
    stamps = []
    for path in (lake.layout.database, lake.layout.database.with_name(lake.layout.database.name + ".wal")):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            stamps.append(None)
            continue
        stamps.append([st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return stamps if stamps[0] is not None else None


def signature_path(lake: Lake | LakeInfo) -> Path:
    """Where dm records the signature of the views it built (`_records/views.json`)."""
    return lake.layout.root / "_records" / "views.json"


def inputs_fingerprint(lake: Lake | LakeInfo) -> str:
    """Hash of the names of the files under the directories the views read: changes when a view may have
    become buildable (e.g. eval/ outputs written), not when a file is merely rewritten."""
    import hashlib

    return hashlib.sha256("\n".join(_parquet_names(lake.layout.root, lake_directories())).encode()).hexdigest()


def queries_fingerprint(queries_dir: Path = QUERIES_DIR) -> str:
    """Hash of the view definitions (every file of `queries/`, contract included): recorded with the views, so a
    database built by another version of dm's SQL is rebuilt on its next use."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(p for p in queries_dir.rglob("*") if p.is_file() and p.suffix in (".sql", ".yml")):
        digest.update(f"{path.relative_to(queries_dir)}\0".encode() + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _parquet_names(root: Path, dirs: list[str]) -> list[str]:
    """Sorted paths (relative to `root`) of the *.parquet files anywhere under `dirs` (os.scandir: a third of
    pathlib's rglob time; `dm sql` lists the lake this way on every call while some view is missing)."""
    names: list[str] = []
    stack = list(dirs)
    while stack:
        rel = stack.pop()
        try:
            entries = os.scandir(os.path.join(root, rel))
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                if entry.is_dir():
                    stack.append(f"{rel}{entry.name}/")
                elif entry.name.endswith(".parquet"):
                    names.append(rel + entry.name)
    return sorted(names)


def record_signature(lake: Lake | LakeInfo, expected: str | None = None) -> str:
    """Record the current signature of dm.duckdb as the one dm built, with the inputs it was built from, the names
    it defines and its `database_stamp` (left out if the file changed while it was read). expected: record only
    if the signature is this one (what the caller checked); returns the signature either way."""
    from dm.lake.atomic import write_json_atomic

    before = database_stamp(lake)
    with open_database(lake, read_only=True) as con:
        sig = signature(con)
        views, macros = catalog(con)
    if expected is not None and sig != expected:
        return sig
    stamp = before if database_stamp(lake) == before else None
    write_json_atomic({"signature": sig, "inputs": inputs_fingerprint(lake), "names": sorted(views | macros),
                       "database": stamp, "queries": queries_fingerprint()}, signature_path(lake))
    return sig


def rebuild_views(lake: Lake | LakeInfo) -> ViewBuild:
    """`build_views`, then record the database's signature (so `dm sql` can tell a misused database); under the
    experiment lock, so two dm processes never build at once."""
    from dm.lake.lock import experiment_lock

    with experiment_lock(lake.layout.root):
        build = build_views(lake)
        record_signature(lake)
    return build
