"""Settings of the report: defined in :mod:`dm.config.report`, the `report` group's schema."""

from dm.config.report import ReportSettings

__all__ = ["ReportSettings"]
