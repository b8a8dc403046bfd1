"""Build `lake/<experiment>/dm.duckdb`: one view (or macro) per file of `queries/`, named after the file.

A file holding a SELECT becomes `CREATE OR REPLACE VIEW <file stem> AS <select>`; a file starting with
CREATE (macros) is run as it is. `{{lake}}/` is removed, so views read paths relative to the experiment (a copied
or moved lake stays self-contained): every dm connection sets DuckDB's `file_search_path` to the experiment
(a plain `duckdb dm.duckdb` works from inside the experiment directory). `{{target_block}}` is its block size.
Views are created in dependency order (a view whose inputs are missing is retried after
the others); views over files that do not exist yet (e.g. weights before `dm fit`) are left out and listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dm.lake.store import Lake, LakeError

QUERIES_DIR = Path(__file__).resolve().parents[2] / "queries"


@dataclass
class ViewBuild:
    created: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # view -> why it is not there


def query_files(queries_dir: Path = QUERIES_DIR) -> dict[str, Path]:
    """view name -> file, over `queries/` and its subfolders (staging first)."""
    files = sorted(queries_dir.rglob("*.sql"), key=lambda p: (p.parent != queries_dir / "staging", p.name))
    return {p.stem: p for p in files}


def render(sql: str, lake: Lake) -> str:
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


def open_database(lake: Lake, read_only: bool = True, sandbox: bool = True) -> duckdb.DuckDBPyConnection:
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
    if sandbox and con.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
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


def build_views(lake: Lake, queries_dir: Path = QUERIES_DIR) -> ViewBuild:
    """(Re)create every view of `queries_dir` in the experiment's `dm.duckdb`."""
    pending = {name: statement(name, render(path.read_text(), lake)) for name, path in query_files(queries_dir).items()}
    result = ViewBuild()
    con = open_database(lake, read_only=False, sandbox=False)
    try:
        for name in pending:
            con.execute(f"DROP VIEW IF EXISTS {name}")
        progress = True
        while pending and progress:
            progress = False
            for name, sql in list(pending.items()):
                try:
                    con.execute(sql)
                except duckdb.Error as err:
                    result.missing[name] = str(err).splitlines()[0]
                    continue
                result.created.append(name)
                result.missing.pop(name, None)
                del pending[name]
                progress = True
    finally:
        con.close()
    return result


def connect(lake: Lake, read_only: bool = True) -> duckdb.DuckDBPyConnection:
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


def signature_path(lake: Lake) -> Path:
    """Where dm records the signature of the views it built (`_records/views.json`)."""
    return lake.layout.root / "_records" / "views.json"


def inputs_fingerprint(lake: Lake) -> str:
    """Hash of the names of the files under the directories the views read: changes when a view may have
    become buildable (e.g. eval/ outputs written), not when a file is merely rewritten."""
    import hashlib

    root = lake.layout.root
    names = sorted(str(p.relative_to(root)) for d in lake_directories() for p in (root / d).rglob("*.parquet"))
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def record_signature(lake: Lake) -> str:
    """Record the current signature of dm.duckdb as the one dm built, with the inputs it was built from."""
    from dm.lake.atomic import write_json_atomic

    with open_database(lake, read_only=True) as con:
        sig = signature(con)
    write_json_atomic({"signature": sig, "inputs": inputs_fingerprint(lake)}, signature_path(lake))
    return sig


def rebuild_views(lake: Lake) -> ViewBuild:
    """`build_views`, then record the database's signature (so `dm sql` can tell a misused database); under the
    experiment lock, so two dm processes never build at once."""
    from dm.lake.lock import experiment_lock

    with experiment_lock(lake.layout.root):
        build = build_views(lake)
        record_signature(lake)
    return build
