"""`dm report` end to end on an experiment of the digits default's shape: the file, its size, its images."""

from __future__ import annotations

import re

from omegaconf import DictConfig

from dm.commands.report import report_cmd
from dm.report.render import SECTION_IDS
from tests.report.conftest import FixtureLake, parse_page

MAX_BYTES = 3_000_000  # "a few MB" for 1,797 targets, 100-point λ paths and 135,000 held-out predictions


def test_report_cmd_writes_a_small_page_with_the_digits(digits_sized: tuple[DictConfig, FixtureLake], capsys) -> None:
    cfg, fixture = digits_sized
    assert report_cmd(cfg, None) == 0
    path = fixture.lake.layout.root / "report.html"
    out = capsys.readouterr().out
    assert str(path) in out and f"{len(SECTION_IDS)} of {len(SECTION_IDS)} sections drawn" in out
    html = path.read_text(encoding="utf-8")
    size = path.stat().st_size
    print(f"digits-sized report: {size:,} bytes")
    assert size < MAX_BYTES
    page = parse_page(html)
    assert list(page.sections) == list(SECTION_IDS)
    assert all(s["status"] == "ok" for s in page.sections.values())
    gallery = [t for t in page.tiles if t["section"] == "gallery"]
    assert gallery and all(t["img"].startswith("data:image/png;base64,") for t in gallery)  # real digits shown
    run = page.sections["run"]["text"]
    assert fixture.lake.meta["identity"]["dataset_fingerprint"] in run
    assert "experiment: digits_sized" in run  # the composed config
    assert not re.search(r"https?://", html)
    assert not list(fixture.lake.layout.root.glob(".report.html.*")), "the temporary file is renamed into place"


def test_images_are_left_out_when_the_data_is_not_the_lakes(
    digits_sized: tuple[DictConfig, FixtureLake], tmp_path
) -> None:
    from dm.lake.store import Lake
    from dm.report.write import load_images

    cfg, fixture = digits_sized
    other = Lake(tmp_path, {**fixture.lake.meta, "identity": {"dataset_fingerprint": "0" * 64}})
    images, note = load_images(cfg, other)
    assert images is None and "not the one this lake was made from" in note
    images, note = load_images(cfg, fixture.lake)
    assert images is not None and note == ""
