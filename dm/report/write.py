"""`dm report` as a library call: read the lake, draw the page, write `lake/<experiment>/report.html` atomically."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from dm.lake.atomic import write_text_atomic
from dm.lake.fit_meta import read_fit_meta
from dm.lake.store import Lake
from dm.lake.version import code_version
from dm.lake.views import connect
from dm.report.context import RunInfo
from dm.report.render import render
from dm.report.settings import ReportSettings
from dm.report.thumbnails import ExampleImages


@dataclass
class ReportResult:
    path: Path
    bytes: int
    sections: dict[str, str]  # section id -> status (ok / missing)


def load_images(cfg: DictConfig, lake: Lake) -> tuple[ExampleImages | None, str]:
    """The data set's images if they are the data the lake was made from; else (None, why not)."""
    from dm.data.arrays import DataError
    from dm.data.sources import load_dataset

    try:
        ds = load_dataset(cfg.dataset)
    except (DataError, OSError) as err:
        return None, f"example images are not shown: the data set could not be loaded ({err})"
    expected = lake.meta.get("identity", {}).get("dataset_fingerprint")
    if expected and ds.fingerprint() != expected:
        return None, (
            f"example images are not shown: the configured data set (fingerprint "
            f"{ds.fingerprint()[:12]}) is not the one this lake was made from ({str(expected)[:12]})"
        )
    images = ExampleImages.from_arrays(ds.name, ds.x_train, ds.x_test)
    return images, "" if images is not None else "the data set has feature vectors, not images: tiles show ids"


def run_info(cfg: DictConfig, lake: Lake, image_note: str) -> RunInfo:
    fit = read_fit_meta(lake.layout)
    return RunInfo(
        experiment=str(cfg.lake.experiment),
        lake_root=str(lake.layout.root),
        config_yaml=OmegaConf.to_yaml(cfg, resolve=True),
        meta=lake.meta,
        fit=fit,
        report_code_version=code_version(),
        image_note=image_note,
    )


def write_report(cfg: DictConfig, root: Path) -> ReportResult:
    """Draw the report of the experiment at `root` and write `root/report.html` (replaced atomically)."""
    settings = ReportSettings.from_config(OmegaConf.to_container(cfg.get("report") or {}, resolve=True))
    lake = Lake.open(root)
    images, note = load_images(cfg, lake)
    con = connect(lake, read_only=True)
    try:
        report = render(
            con, images=images, run=run_info(cfg, lake, note), settings=settings, dataset=str(cfg.dataset.name)
        )
    finally:
        con.close()
    path = write_text_atomic(report.html, lake.layout.root / "report.html")
    return ReportResult(path, path.stat().st_size, report.status)
