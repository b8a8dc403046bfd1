"""The report's building blocks: its settings, example images and the page's number formatting."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from dm.config.compose import load_config
from dm.config.schema import ConfigError
from dm.report.page import metric, number
from dm.report.settings import ReportSettings
from dm.report.thumbnails import ExampleImages


def test_the_report_config_group_is_the_settings() -> None:
    cfg = load_config(["report.top_k=3"])
    settings = ReportSettings.from_config(dict(cfg.report))
    assert settings.top_k == 3
    assert settings.max_scatter_points == ReportSettings().max_scatter_points


@pytest.mark.parametrize("bad", [{"top_kk": 3}, {"top_k": 0}, {"dpi": 5}, {"clusters": "six"}])
def test_bad_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ConfigError):
        ReportSettings.from_config(bad)


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_digits_features_are_shown_as_8x8_images() -> None:
    x = np.zeros((3, 64), np.float32)
    x[1, :8] = 16.0  # the first row of pixels is ink
    images = ExampleImages.from_arrays("digits", x, x[:2])
    assert images is not None
    img = np.asarray(_decode(images.data_uri("train", 1)).convert("L"))
    assert img.shape == (8, 8)
    assert img[0].max() < 50 and img[1:].min() > 200  # ink is dark on white (gray_r), on digits' fixed 0..16 scale
    assert images.data_uri("test", 5) is None


def test_colour_images_keep_their_colours() -> None:
    x = np.zeros((2, 32, 32, 3), np.uint8)
    x[0, ..., 0] = 255
    images = ExampleImages.from_arrays("cifar10", x, x)
    assert images is not None
    img = np.asarray(_decode(images.data_uri("test", 0)).convert("RGB"))
    assert img.shape == (32, 32, 3) and (img[..., 0] == 255).all() and (img[..., 1:] == 0).all()


def test_feature_vectors_have_no_images() -> None:
    x = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    assert ExampleImages.from_arrays("linear_sim", x, x) is None
    assert ExampleImages.from_arrays("npz_features", x[:, :10], x[:, :10]) is None


def test_numbers_are_printed_as_the_views_hold_them() -> None:
    assert number(0.87194) == "0.8719" and number(1234) == "1,234" and number(None) == "—"
    assert number(float("nan")) == "NaN" and number(1.5e-7) == "1.500e-07"
    assert 'data-value="0.123456789"' in metric("lds", "LDS", 0.123456789)
