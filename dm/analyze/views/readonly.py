"""What `dm sql` accepts: exactly one read-only query statement.

A DuckDB connection opened with read_only=True already refuses CREATE/DROP/INSERT/UPDATE/DELETE on the database,
but still runs statements that write elsewhere or change the session: COPY ... TO and EXPORT DATABASE write files,
ATTACH opens other databases, CREATE TEMP makes objects, SET/PRAGMA/LOAD/INSTALL/CALL change settings or run
procedures. So the statement's parsed type must be SELECT (which includes FROM-first, VALUES, WITH, DESCRIBE,
SHOW, SUMMARIZE), or EXPLAIN of such a statement.
"""

from __future__ import annotations

import re

import duckdb

from dm.errors import DMError

ALLOWED = "SELECT / WITH / FROM / VALUES / DESCRIBE / SHOW / SUMMARIZE / EXPLAIN SELECT"


class ReadOnlyError(DMError, ValueError):
    """A statement that `dm sql` refuses to run."""


def check_read_only(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Raise ReadOnlyError unless `sql` is a single read-only statement (parsed with `con`, or a new in-memory
    connection; never executed here). Parsing binds nothing, so any connection parses alike: `dm sql` passes
    its own and saves a second DuckDB instance (~10 ms of its start-up)."""
    own = con is None
    con = duckdb.connect() if own else con
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as err:
            raise ReadOnlyError(f"SQL does not parse: {str(err).splitlines()[0]}") from err
        if len(statements) != 1:
            raise ReadOnlyError(f"dm sql runs exactly one statement, got {len(statements)}")
        kind = statements[0].type
        if kind == duckdb.StatementType.EXPLAIN:
            inner = re.sub(r"^\s*EXPLAIN\s+(ANALYZE\s+)?", "", statements[0].query, flags=re.IGNORECASE)
            if inner != statements[0].query:
                check_read_only(inner, con)
                return
        if kind != duckdb.StatementType.SELECT:
            name = str(kind).rsplit(".", 1)[-1]
            raise ReadOnlyError(f"dm sql is read-only: {name} statements are refused (allowed: {ALLOWED})")
    finally:
        if own:
            con.close()
