"""Draw the report page from a DuckDB connection holding the experiment's views."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import ModuleType

import duckdb

from dm.report.context import ReportContext, RunInfo
from dm.report.page import Section, document, notice
from dm.report.sections import (
    attribution,
    brittleness,
    clusters,
    counterfactuals,
    gallery,
    leakage,
    pca,
    predictions,
    regularization,
    run_info,
    sparsity,
)
from dm.report.settings import ReportSettings
from dm.report.source import SectionUnavailable, ViewSource
from dm.report.thumbnails import ExampleImages
from dm.report.tiles import ExampleTiles

# Page order; each module has ID, TITLE, FIGURE and body(ctx) -> HTML.
SECTIONS: tuple[ModuleType, ...] = (
    predictions,
    regularization,
    sparsity,
    counterfactuals,
    brittleness,
    attribution,
    gallery,
    leakage,
    pca,
    clusters,
    run_info,
)
SECTION_IDS: tuple[str, ...] = tuple(m.ID for m in SECTIONS)


def build_section(module: ModuleType, ctx: ReportContext) -> Section:
    """One section; a missing or empty view becomes a notice in the section instead of an error."""
    try:
        return Section(module.ID, module.TITLE, module.FIGURE, module.body(ctx))
    except SectionUnavailable as err:
        return Section(module.ID, module.TITLE, module.FIGURE, notice(str(err)), "missing")


@dataclass
class RenderedReport:
    html: str
    sections: list[Section]

    @property
    def status(self) -> dict[str, str]:
        """section id -> ok / missing."""
        return {s.id: s.status for s in self.sections}


def render_report(
    con: duckdb.DuckDBPyConnection,
    *,
    images: ExampleImages | None = None,
    run: RunInfo | None = None,
    settings: ReportSettings | None = None,
    dataset: str = "",
) -> str:
    """The report as one self-contained HTML document (see `render` for the arguments)."""
    return render(con, images=images, run=run, settings=settings, dataset=dataset).html


def render(
    con: duckdb.DuckDBPyConnection,
    *,
    images: ExampleImages | None = None,
    run: RunInfo | None = None,
    settings: ReportSettings | None = None,
    dataset: str = "",
) -> RenderedReport:
    """The report page and the status of each section.

    con: a (read-only) connection with the experiment's views (`dm.lake.views.connect`), or any database
        with tables of the same names and columns. Only SELECTs are run.
    images: the data set's images, or None for feature data sets (tiles then show ids and labels).
    run: provenance for the last section (config, meta.json, fit.json, code version).
    dataset: data set name, for class names (defaults to the images' name).
    """
    settings = settings or ReportSettings()
    run = run or RunInfo()
    views = ViewSource(con)
    tiles = ExampleTiles.from_views(views, images, dataset or (images.name if images else ""), settings.thumbnail_px)
    ctx = ReportContext(views, tiles, settings, run)
    sections = [build_section(module, ctx) for module in SECTIONS]
    ready = sum(s.status == "ok" for s in sections)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    title = f"Datamodels report: {run.experiment}" if run.experiment else "Datamodels report"
    subtitle = f"{ready} of {len(sections)} sections drawn from the experiment's SQL views · {when}"
    if run.report_code_version:
        subtitle += f" · dm {run.report_code_version}"
    return RenderedReport(document(title, subtitle, sections), sections)
