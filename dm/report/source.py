"""Read the experiment's views for the report: which exist, and queries that fail with a message for the page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa


class SectionUnavailable(Exception):
    """A section cannot be drawn; `str(err)` is the sentence the page shows instead."""


class NotRunYet(SectionUnavailable):
    """A view the section needs is not in the database: the stage that writes it has not run."""

    def __init__(self, view: str, command: str):
        super().__init__(f"not run yet: run `{command}` (view `{view}` is not in the database)")
        self.view = view
        self.command = command


class ViewSource:
    """The views (and tables) of one DuckDB connection, queried with bound parameters only.

    `con` may be read-only; nothing is written through it.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        rows = con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal UNION SELECT table_name FROM duckdb_tables()"
        ).fetchall()
        self.names = frozenset(name for (name,) in rows)

    def has(self, view: str) -> bool:
        return view in self.names

    def require(self, view: str, command: str) -> None:
        """Raise NotRunYet (telling the user to run `command`) unless `view` exists."""
        if not self.has(view):
            raise NotRunYet(view, command)

    def table(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run `sql` and return all rows; a failing query becomes SectionUnavailable with DuckDB's message."""
        try:
            return self.con.sql(sql, params=list(params)).to_arrow_table()
        except duckdb.Error as err:
            raise SectionUnavailable(f"could not read the view: {str(err).splitlines()[0]}") from err

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Like `table`, as a list of tuples."""
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as err:
            raise SectionUnavailable(f"could not read the view: {str(err).splitlines()[0]}") from err

    def columns(self, view: str) -> list[str]:
        """Column names of `view` (empty if it does not exist)."""
        if not self.has(view):
            return []
        return [row[0] for row in self.rows(f"DESCRIBE {view}")]
