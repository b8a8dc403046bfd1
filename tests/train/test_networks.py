"""ResNet-9 / ResNet-18 (BatchNorm under vmap), softmax regression and the augmentation path, on tiny random
images via npz."""

import numpy as np
import pytest

from dm.data.prepare import load_resident, prepare
from dm.train.runner import train_models
from dm.train.single import train_one
from dm.train.subsets import model_seeds, subset_masks


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("img")
    rng = np.random.default_rng(0)
    np.savez(folder / "img.npz", x_train=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
             y_train=rng.integers(0, 10, 40), x_test=rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8),
             y_test=rng.integers(0, 10, 10), num_classes=np.array(10))
    return folder / "img.npz"


@pytest.mark.parametrize("model", ["resnet9", "resnet18", "softmax"])
def test_network_group_equals_lightning_path(compose, images, tmp_path, model):
    size = ["model.width=4"] if model.startswith("resnet") else []  # softmax has no size
    cfg = compose("dataset=npz", f"dataset.path={images}", f"model={model}", *size, "trainer.epochs=2",
                  "trainer.batch_size=8", "trainer.lr=0.05")
    prepare(cfg, tmp_path)
    data = load_resident(tmp_path)
    assert data.x_train.shape == (40, 3, 32, 32)
    seeds = model_seeds(0, 0.5, np.arange(3))
    masks = subset_masks(seeds, 40, 20)
    group = train_models(cfg, data, seeds, masks)
    _, alone = train_one(cfg, data, int(seeds[1]), masks[1])
    np.testing.assert_allclose(group.margins["test"][1], alone["test"], rtol=1e-4, atol=1e-5)
    assert not np.allclose(group.margins["test"][0], alone["test"])


def test_augmented_training_runs_and_is_finite(compose, images, tmp_path):
    cfg = compose("dataset=npz", f"dataset.path={images}", "model=resnet9", "model.width=4", "trainer.epochs=2",
                  "trainer.batch_size=8", "trainer.augment=true", "trainer.flip_tta=true")
    prepare(cfg, tmp_path)
    data = load_resident(tmp_path)
    seeds = model_seeds(0, 0.5, np.arange(2))
    result = train_models(cfg, data, seeds, subset_masks(seeds, 40, 20))
    assert np.isfinite(result.margins["train"]).all() and result.margins["train"].shape == (2, 40)
