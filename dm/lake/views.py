"""Build `lake/<experiment>/dm.duckdb`: one view (or macro) per file of `queries/`, named after the file.

A file holding a SELECT becomes `CREATE OR REPLACE VIEW <file stem> AS <select>`; a file starting with
CREATE (macros) is run as it is. `{{lake}}` is replaced by the experiment's absolute path, `{{target_block}}`
by its block size. Views are created in dependency order (a view whose inputs are missing is retried after
the others); views over files that do not exist yet (e.g. weights before `dm fit`) are left out and listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dm.lake.store import Lake

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
    path = str(lake.layout.root.resolve()).replace("'", "''")
    return sql.replace("{{lake}}", path).replace("{{target_block}}", str(int(lake.meta["shape"]["target_block"])))


def statement(name: str, sql: str) -> str:
    body = sql.strip().rstrip(";")
    if re.match(r"^\s*(--[^\n]*\n\s*)*CREATE\b", body, flags=re.IGNORECASE):
        return body
    return f"CREATE OR REPLACE VIEW {name} AS\n{body}"


def build_views(lake: Lake, queries_dir: Path = QUERIES_DIR) -> ViewBuild:
    """(Re)create every view of `queries_dir` in the experiment's `dm.duckdb`."""
    pending = {name: statement(name, render(path.read_text(), lake)) for name, path in query_files(queries_dir).items()}
    result = ViewBuild()
    con = duckdb.connect(str(lake.layout.database))
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
    """A connection to the experiment's database (views built by `build_views`)."""
    if not lake.layout.database.exists():
        build_views(lake)
    return duckdb.connect(str(lake.layout.database), read_only=read_only)
