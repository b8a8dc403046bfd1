"""What every section of the report is drawn from: the views, the example tiles, the settings, the run."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dm.report.settings import ReportSettings
from dm.report.source import ViewSource
from dm.report.tiles import ExampleTiles


@dataclass
class RunInfo:
    """Provenance shown at the end of the page (all optional: a bare connection renders without it)."""

    experiment: str = ""
    lake_root: str = ""
    config_yaml: str | None = None  # the composed Hydra config
    meta: dict[str, Any] | None = None  # lake meta.json (identity with the dataset fingerprint, shape)
    fit: dict[str, Any] | None = None  # fit.json (solver settings, model split, timings)
    report_code_version: str = ""  # code version of the dm that drew the page
    image_note: str = ""  # why example images are not shown, if they are not


@dataclass
class ReportContext:
    views: ViewSource
    tiles: ExampleTiles
    settings: ReportSettings = field(default_factory=ReportSettings)
    run: RunInfo = field(default_factory=RunInfo)

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator per purpose, so that one section's sampling never shifts another's."""
        return np.random.default_rng([self.settings.seed, zlib.crc32(purpose.encode())])

    def preferred_split(self, view: str) -> str | None:
        """'test' when the view has test targets (the paper's figures are over the test set), else any split."""
        splits = [s for (s,) in self.views.rows(f"SELECT DISTINCT split FROM {view}")]
        if "test" in splits:
            return "test"
        return sorted(splits)[0] if splits else None
