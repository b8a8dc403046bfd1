"""The SQL contract: queries/schema.yml against DESCRIBE of every view, the SQL files and the README table."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from dm.lake.store import Lake
from dm.lake.views import QUERIES_DIR, ViewError, ViewSpec, build_views, load_contract, open_database, query_files
from tests.views.conftest import Truth, make_lake

README = QUERIES_DIR.parent / "README.md"


def described(con: duckdb.DuckDBPyConnection, spec: ViewSpec) -> dict[str, str]:
    sql = f"SELECT * FROM {spec.name}([0])" if spec.kind == "macro" else f"SELECT * FROM {spec.name}"
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {sql}").fetchall()}


def mismatches(con: duckdb.DuckDBPyConnection, specs: dict[str, ViewSpec]) -> list[str]:
    """Every difference between the declared columns (name, type, order) and what the views return."""
    out = []
    for spec in specs.values():
        got = described(con, spec)
        shown = list(got.items())[: len(spec.columns)] if spec.extra_columns else list(got.items())
        if shown != list(spec.columns.items()):
            out.append(f"{spec.name}: declared {spec.columns}, got {got}")
    return out


def test_every_view_matches_its_declared_columns(truth: Truth, con) -> None:
    specs = load_contract()
    assert set(specs) == set(query_files())
    assert mismatches(con, specs) == []


def _sql_body(path: Path) -> str:
    return re.sub(r"--[^\n]*", "", path.read_text())


def test_depends_on_lists_exactly_the_views_each_sql_reads() -> None:
    specs = load_contract()
    for name, path in query_files().items():
        body = _sql_body(path)
        read = {v for v in specs if v != name and re.search(rf"\b{v}\b\s*(\(|\bAS\b|\b|$)", body)}
        read = {v for v in read if re.search(rf"(FROM|JOIN|,)\s+{v}\b", body, flags=re.IGNORECASE)}
        assert read == set(specs[name].depends_on), name


def test_only_staging_views_read_parquet() -> None:
    for name, path in query_files().items():
        reads = "read_parquet" in _sql_body(path).lower()
        assert reads == (path.parent.name == "staging"), name
        assert bool(load_contract()[name].inputs) == reads, name


def test_a_view_that_loses_a_column_breaks_the_contract(truth: Truth, tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    shutil.copytree(QUERIES_DIR, queries)
    fits = queries / "datamodel_fits.sql"
    fits.write_text(fits.read_text().replace("converged, duality_gap,", "duality_gap,"))
    lake = Lake.open(shutil.copytree(truth.root, tmp_path / "exp"))
    build_views(lake, queries)
    c = open_database(lake, read_only=True)
    try:
        problems = mismatches(c, load_contract(queries))
    finally:
        c.close()
    assert len(problems) == 1 and problems[0].startswith("datamodel_fits:")


def test_sql_error_is_a_view_error_naming_the_view(truth: Truth, tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    shutil.copytree(QUERIES_DIR, queries)
    (queries / "support.sql").write_text("SELECT no_such_column FROM datamodel_fits")
    lake = Lake.open(shutil.copytree(truth.root, tmp_path / "exp"))
    with pytest.raises(ViewError, match=r"view support \(queries/support.sql\)"):
        build_views(lake, queries)


def test_views_over_unwritten_inputs_are_missing_not_errors(tmp_path: Path) -> None:
    t = make_lake(tmp_path / "exp")
    for folder in ("datamodels", "datamodel_fits", "fit_path", "support", "counterfactual_topk", "eval"):
        shutil.rmtree(t.root / folder)
    build = build_views(t.lake)
    assert build.missing["stg_datamodels"] == "inputs not written yet: datamodels/*/*.parquet"
    assert build.missing["support"].startswith("needs ")
    assert {"examples", "models", "masks", "margins"} <= set(build.created)
    assert not {"datamodels", "predictions", "evaluation", "counterfactual"} & set(build.created)


def test_schema_without_a_file_or_with_a_cycle_is_refused(tmp_path: Path) -> None:
    queries = tmp_path / "queries"
    shutil.copytree(QUERIES_DIR, queries)
    (queries / "leakage.sql").unlink()
    with pytest.raises(ViewError, match="no file for \\['leakage'\\]"):
        load_contract(queries)
    shutil.copy(QUERIES_DIR / "leakage.sql", queries / "leakage.sql")
    schema = queries / "schema.yml"
    schema.write_text(schema.read_text().replace("depends_on: [stg_examples]", "depends_on: [stg_examples, masks]"))
    with pytest.raises(ViewError, match="cycle"):
        load_contract(queries)


def test_readme_view_table_matches_the_contract() -> None:
    """README.md's lake table lists every non-staging view with exactly its declared columns, in order."""
    text = README.read_text()
    section = text[text.index("| view | columns |") :].split("\n\n")[0]
    rows = {}
    for line in section.splitlines()[2:]:
        view, columns = (cell.strip() for cell in line.strip("|").split("|")[:2])
        rows[view.strip("`").split("(")[0]] = [c.strip() for c in re.sub(r"\(.*?\)", "", columns).split(",")]
    specs = {n: s for n, s in load_contract().items() if not n.startswith("stg_")}
    assert set(rows) == set(specs)
    for name, spec in specs.items():
        assert rows[name] == list(spec.columns), name


def test_named_queries_are_the_sql_files_and_bind_exactly_their_parameters() -> None:
    from dm.analyze.views.named import NAMED_QUERIES

    files = {p.stem: p for p in (QUERIES_DIR / "named").glob("*.sql")}
    assert set(files) == set(NAMED_QUERIES)
    for name, query in NAMED_QUERIES.items():
        assert query.sql == files[name].read_text()
        used = set(re.findall(r"\$([a-z_]+)", _sql_body(files[name])))
        assert used == {p.name for p in query.params}, name
