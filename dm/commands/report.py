"""`dm report`: write `lake/<experiment>/report.html` from the experiment's views."""

from __future__ import annotations

import argparse

from omegaconf import DictConfig

from dm.lake.layout import experiment_root
from dm.report.write import write_report


def report_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    """Draw the report; print where it is, its size, and which sections still wait for a pipeline stage."""
    result = write_report(cfg, experiment_root(cfg))
    waiting = [name for name, status in result.sections.items() if status != "ok"]
    drawn = len(result.sections) - len(waiting)
    print(f"report: {drawn} of {len(result.sections)} sections drawn, {result.bytes / 1e6:.2f} MB -> {result.path}")
    if waiting:
        print(f"  not drawn yet (see the page for the command to run): {', '.join(waiting)}")
    return 0
