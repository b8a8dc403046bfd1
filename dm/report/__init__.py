"""`dm report`: one self-contained HTML page with the paper's figures for an experiment, fed by its SQL views."""

from dm.report.render import render_report
from dm.report.settings import ReportSettings
from dm.report.write import write_report

__all__ = ["ReportSettings", "render_report", "write_report"]
