"""The page drawn from a complete synthetic experiment: every section, offline, numbers equal to the views'."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy.stats import spearmanr

from dm.report import render_report
from dm.report.render import SECTION_IDS, render
from tests.report.conftest import FixtureLake, make_lake, parse_page, random_digits


def test_every_section_is_drawn(small_report_html: str) -> None:
    page = parse_page(small_report_html)
    assert list(page.sections) == list(SECTION_IDS)
    for section_id, section in page.sections.items():
        assert section["heading"].strip(), section_id
        assert section["status"] == "ok", (section_id, section["text"][:300])
        assert "not run yet" not in section["text"], section_id


def test_page_is_one_offline_file(small_report_html: str) -> None:
    page = parse_page(small_report_html)
    assert not re.search(r"https?://", small_report_html, flags=re.IGNORECASE)
    assert page.scripts == 0 and page.links == 0
    assert "url(" not in small_report_html and "@import" not in small_report_html
    assert page.images, "the page should show plots and example images"
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,"), img["src"][:60]


def test_headline_metrics_equal_the_evaluation_view(small_report_lake: FixtureLake, small_report_html: str) -> None:
    page = parse_page(small_report_html)
    con = small_report_lake.connect()
    try:
        ((lds,),) = con.execute("SELECT value FROM evaluation WHERE metric = 'lds' AND split = 'test'").fetchall()
        ((r,),) = con.execute("SELECT value FROM evaluation WHERE metric = 'pearson' AND split = 'test'").fetchall()
    finally:
        con.close()
    for name, expected in (("lds", lds), ("pearson", r)):
        value, text = page.metrics[name]
        assert float(value) == expected
        assert text.strip().endswith(f"{expected:.3f}")
    assert f"{lds:.4f}" in page.sections["predictions"]["text"]  # the evaluation table row


def test_counterfactual_correlations_equal_the_view(small_report_lake: FixtureLake, small_report_html: str) -> None:
    page = parse_page(small_report_html)
    con = small_report_lake.connect()
    try:
        rows = np.array(con.execute("SELECT predicted_delta, actual_delta FROM counterfactual_results").fetchall())
    finally:
        con.close()
    assert float(page.metrics["counterfactual_pearson"][0]) == pytest.approx(np.corrcoef(rows.T)[0, 1], abs=1e-12)
    assert float(page.metrics["counterfactual_spearman"][0]) == pytest.approx(
        spearmanr(rows[:, 0], rows[:, 1]).statistic, abs=1e-12
    )


def test_brittleness_table_equals_the_view(small_report_lake: FixtureLake, small_report_html: str) -> None:
    text = parse_page(small_report_html).sections["brittleness"]["text"]
    con = small_report_lake.connect()
    try:
        rows = con.execute("SELECT ranker, fraction_flipped FROM brittleness").fetchall()
    finally:
        con.close()
    for ranker, fraction in rows:
        assert ranker in text and f"{fraction:.4f}" in text


def test_gallery_shows_each_targets_top_weights(small_report_lake: FixtureLake, small_report_html: str) -> None:
    page = parse_page(small_report_html)
    tiles = [t for t in page.tiles if t["section"] == "gallery"]
    targets = [t for t in tiles if "target" in t["class"]]
    assert len(targets) == 6
    con = small_report_lake.connect()
    try:
        for i, target in enumerate(targets):
            following = tiles[tiles.index(target) + 1 : tiles.index(targets[i + 1]) if i + 1 < len(targets) else None]
            rows = con.execute(
                "SELECT train_id, weight FROM datamodels WHERE split = ? AND example_id = ?",
                [target["split"], int(target["id"])],
            ).fetchall()
            top = sorted((w, t) for t, w in rows if w > 0)[::-1][:5]
            bottom = sorted((w, t) for t, w in rows if w < 0)[:5]
            shown = [(t["id"], t["text"]) for t in following]
            assert [int(s) for s, _ in shown] == [t for _, t in top] + [t for _, t in bottom]
            for (_, text), (w, _) in zip(shown, top + bottom, strict=True):
                assert f"w = {w:+.4f}" in text
            assert all(t["img"].startswith("data:image/png") for t in [target, *following])
    finally:
        con.close()


def test_run_section_shows_provenance(small_report_lake: FixtureLake) -> None:
    from dm.report.context import RunInfo

    lake = small_report_lake.lake
    run = RunInfo(
        experiment="small",
        meta=lake.meta,
        fit={"seconds": 12.5, "solver": {"batch_size": 256}},
        report_code_version="abc123",
        config_yaml="dataset:\n  name: digits\n",
    )
    con = small_report_lake.connect()
    try:
        text = parse_page(render_report(con, images=small_report_lake.images, run=run)).sections["run"]["text"]
    finally:
        con.close()
    for expected in ("f" * 64, "abc123", "fit: seconds", "12.5", "fixture", "name: digits", "models_per_second"):
        assert expected in text, expected
    assert "4.0000" in text  # 24 models of 0.25 s each: 4 models/s


def test_missing_views_say_which_command_to_run(tmp_path: Path) -> None:
    x_tr, y_tr, x_te, y_te = random_digits(np.random.default_rng(2), 30, 10)
    fixture = make_lake(
        tmp_path / "bare",
        x_train=x_tr,
        y_train=y_tr,
        x_test=x_te,
        y_test=y_te,
        fingerprint="0" * 64,
        with_fit=False,
        with_eval=False,
    )
    con = fixture.connect()
    try:
        report = render(con, images=fixture.images)
    finally:
        con.close()
    page = parse_page(report.html)
    assert list(page.sections) == list(SECTION_IDS)
    expected = {
        "predictions": "dm eval",
        "counterfactuals": "dm eval",
        "brittleness": "dm eval",
        "regularization": "dm fit",
        "sparsity": "dm fit",
        "gallery": "dm fit",
        "leakage": "dm fit",
        "pca": "dm fit",
        "clusters": "dm fit",
    }
    for section_id, command in expected.items():
        assert report.status[section_id] == "missing", section_id
        assert f"not run yet: run {command}" in page.sections[section_id]["text"], section_id
    assert report.status["run"] == "ok"


def test_feature_data_sets_show_ids_and_labels(small_report_lake: FixtureLake) -> None:
    con = small_report_lake.connect()
    try:
        page = parse_page(render_report(con, images=None))
    finally:
        con.close()
    tiles = [t for t in page.tiles if t["section"] == "gallery"]
    assert tiles and all("text-only" in t["class"] and "img" not in t for t in tiles)
    assert all(re.match(r"(test|train) #\d+ · label \d", t["text"]) for t in tiles)
    assert all(img.get("class") == "plot" for img in page.images), "only plots are images without example images"


def test_a_view_that_fails_becomes_a_notice(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "broken.duckdb"))
    con.execute("CREATE TABLE evaluation (metric VARCHAR, value DOUBLE, n BIGINT)")
    con.execute("INSERT INTO evaluation VALUES ('lds', 0.5, 10)")
    con.execute("CREATE VIEW predictions AS SELECT 1 AS model_id")  # lacks the columns the report reads
    report = render(con)
    con.close()
    page = parse_page(report.html)
    assert "could not read the view" in page.sections["predictions"]["text"]
    assert float(page.metrics["lds"][0]) == 0.5


def test_brittleness_with_variants_and_a_fraction_column(tmp_path: Path) -> None:
    """The retraining experiments' own CDF table: ranker, variant, k, fraction (k dense at every support size)."""
    con = duckdb.connect(str(tmp_path / "cdf.duckdb"))
    con.execute("CREATE TABLE brittleness (ranker VARCHAR, variant VARCHAR, k INTEGER, fraction DOUBLE)")
    rows = [
        (r, v, k, min(1.0, k / 200))
        for r in ("datamodel", "influence")
        for v in ("remove", "mislabel")
        for k in (10, 20, 40, 80)
    ]
    rows += [("datamodel", "remove", k, 0.05 + k / 1000) for k in range(11, 19)]  # extra support sizes
    con.executemany("INSERT INTO brittleness VALUES (?, ?, ?, ?)", rows)
    report = render(con)
    con.close()
    text = parse_page(report.html).sections["brittleness"]["text"]
    assert report.status["brittleness"] == "ok"
    assert "datamodel, mislabel" in text and "influence, remove" in text
    assert f"{40 / 200:.4f}" in text and "0.0610" not in text  # the shared grid only, not every support size
