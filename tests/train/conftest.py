"""Fixtures of the training tests: a tiny image data set (npz) prepared once per session."""

from __future__ import annotations

import numpy as np
import pytest

from dm.data.prepare import ResidentData, load_resident, prepare

TINY = ["dataset=npz", "model=resnet9", "model.width=4", "trainer.epochs=2", "trainer.batch_size=8",
        "trainer.lr=0.5", "trainer.peak_epoch=1"]


@pytest.fixture(scope="session")
def tiny_images(tmp_path_factory) -> str:
    """40 train and 10 test random 16x16 RGB images, 10 classes, as an npz file."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.npz"
    rng = np.random.default_rng(1)
    np.savez(path, x_train=rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8), y_train=rng.integers(0, 10, 40),
             x_test=rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8), y_test=rng.integers(0, 10, 10),
             num_classes=np.array(10))
    return str(path)


@pytest.fixture(scope="session")
def tiny_data(tiny_images, compose, tmp_path_factory) -> ResidentData:
    root = tmp_path_factory.mktemp("tiny_prepared")
    prepare(compose(*TINY, f"dataset.path={tiny_images}"), root)
    return load_resident(root)
