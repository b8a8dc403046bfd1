"""The page in headless Chromium: it renders, every section is there, every image decodes, no script errors."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig

from dm.commands.report import report_cmd
from dm.report.render import SECTION_IDS
from tests.report.conftest import FixtureLake

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's `chromium` is not installed (apt-get install chromium; the Makefile does)"
)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

# Injected into a copy of the page (the report itself has no scripts): records script errors, console errors
# and, once everything has loaded, each section and each image's state into a <pre id="dm-check">.
CHECKER = """<script>
window.__dm = {errors: [], console: []};
window.addEventListener('error', function (e) {
  window.__dm.errors.push(e.target && e.target.tagName ? 'failed to load ' + e.target.tagName : String(e.message));
}, true);
var consoleError = console.error;
console.error = function () {
  window.__dm.console.push(Array.from(arguments).join(' '));
  consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var images = Array.from(document.images).map(function (img) {
    return {ok: img.complete && img.naturalWidth > 0, alt: img.alt, width: img.naturalWidth};
  });
  var sections = Array.from(document.querySelectorAll('section')).map(function (s) {
    var h = s.querySelector('h2');
    return {id: s.id, heading: h ? h.textContent : '', visible: s.getBoundingClientRect().height > 0};
  });
  var out = document.createElement('pre');
  out.id = 'dm-check';
  out.textContent = JSON.stringify({images: images, sections: sections, errors: window.__dm.errors,
                                    console: window.__dm.console});
  document.body.appendChild(out);
});
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=180
    )


@pytest.fixture(scope="module")
def report_file(digits_sized: tuple[DictConfig, FixtureLake]) -> Path:
    cfg, fixture = digits_sized
    path = fixture.lake.layout.root / "report.html"
    if not path.exists():
        assert report_cmd(cfg, None) == 0
    return path


def browser_state(html: str, tmp_path: Path) -> dict:
    """Load `html` (with the checker injected) in Chromium and return what the checker recorded."""
    checked = tmp_path / "checked.html"
    checked.write_text(html.replace("<head>", "<head>" + CHECKER, 1), encoding="utf-8")
    run = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", checked.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'<pre id="dm-check">(.*?)</pre>', run.stdout, flags=re.S)
    assert found, f"the checker did not run; chromium said: {run.stderr[-2000:]}"
    return json.loads(html_lib.unescape(found.group(1)))


def test_every_section_and_image_loads_in_chromium(report_file: Path, tmp_path: Path) -> None:
    state = browser_state(report_file.read_text(encoding="utf-8"), tmp_path)
    assert [s["id"] for s in state["sections"]] == list(SECTION_IDS)
    assert all(s["heading"] and s["visible"] for s in state["sections"])
    broken = [img["alt"] for img in state["images"] if not img["ok"]]
    assert len(state["images"]) > 50 and not broken, f"broken images: {broken}"
    assert state["errors"] == [] and state["console"] == []


def test_the_check_sees_a_broken_image(tmp_path: Path) -> None:
    html = (
        '<!DOCTYPE html><html><head></head><body><section id="a"><h2>A</h2>'
        '<img alt="bad" src="data:image/png;base64,AAAA"></section></body></html>'
    )
    state = browser_state(html, tmp_path)
    assert [img["ok"] for img in state["images"]] == [False]
    assert state["errors"] == ["failed to load IMG"]


def test_screenshot_shows_a_drawn_page(report_file: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    run = chromium(tmp_path, "--window-size=1280,4000", f"--screenshot={shot}", report_file.as_uri())
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (4000, 1280)
    assert pixels.std() > 10, "the screenshot is blank"
    assert (pixels < 128).mean() > 0.01, "hardly anything dark (text, plots) was drawn"
