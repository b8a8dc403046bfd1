"""A model id's margins are a pure function of its seed: the same whatever group size or engine trains it,
with augmentation on, and equal to the model trained alone by the Lightning reference path."""

from __future__ import annotations

import numpy as np
import pytest

from dm.config.schema import ConfigError
from dm.train.runner import train_models
from dm.train.single import train_one
from dm.train.subsets import model_seeds, subset_masks
from tests.train.conftest import TINY

AUG = ["trainer.augment=true", "trainer.flip_tta=true"]


def _train(cfg, data, seeds, masks, group_size: int) -> dict[str, np.ndarray]:
    """Margins of all models, trained in consecutive groups of `group_size`."""
    parts = [train_models(cfg, data, seeds[i : i + group_size], masks[i : i + group_size]).margins
             for i in range(0, len(seeds), group_size)]
    return {split: np.concatenate([p[split] for p in parts]) for split in parts[0]}


@pytest.fixture(scope="module")
def models():
    seeds = model_seeds(0, 0.5, np.arange(4))
    return seeds, subset_masks(seeds, 40, 20)


def test_augmented_margins_do_not_depend_on_the_group(compose, tiny_images, tiny_data, models):
    cfg = compose(*TINY, *AUG, f"dataset.path={tiny_images}")
    seeds, masks = models
    by_size = {size: _train(cfg, tiny_data, seeds, masks, size) for size in (4, 2, 1)}
    for size in (2, 1):
        for split in ("test", "train"):
            np.testing.assert_allclose(by_size[size][split], by_size[4][split], rtol=1e-4, atol=1e-4)
    plain = compose(*TINY, f"dataset.path={tiny_images}", "trainer.flip_tta=true")
    unaugmented = train_models(plain, tiny_data, seeds[:1], masks[:1]).margins["test"]
    assert np.abs(unaugmented - by_size[4]["test"][:1]).max() > 0.1  # augmentation changed the model


@pytest.mark.parametrize("model", ["resnet9", "mlp"])
def test_plain_engine_equals_vmap_engine(compose, tiny_images, tiny_data, models, model):
    aug = AUG if model == "resnet9" else []
    sizes = ["model=resnet9", "model.width=4"] if model == "resnet9" else ["model=mlp", "model.hidden=8"]
    common = [o for o in TINY if not o.startswith("model")] + sizes + aug + [f"dataset.path={tiny_images}"]
    vmap_cfg = compose(*common)
    plain_cfg = compose(*common, "trainer.engine=plain")
    seeds, masks = models
    vmapped = train_models(vmap_cfg, tiny_data, seeds, masks)
    plain = train_models(plain_cfg, tiny_data, seeds, masks)
    for split in ("test", "train"):
        np.testing.assert_allclose(plain.margins[split], vmapped.margins[split], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(plain.test_accuracy, vmapped.test_accuracy)
    for name, value in vmapped.params.items():
        np.testing.assert_allclose(plain.params[name].numpy(), value.numpy(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(plain.margins["test"][0], plain.margins["test"][1])  # the models differ


def test_augmented_engine_equals_the_lightning_reference(compose, tiny_images, tiny_data, models):
    cfg = compose(*TINY, *AUG, f"dataset.path={tiny_images}", "trainer.engine=plain")
    seeds, masks = models
    group = train_models(cfg, tiny_data, seeds[:2], masks[:2])
    _, alone = train_one(cfg, tiny_data, int(seeds[1]), masks[1])
    for split in ("test", "train"):
        np.testing.assert_allclose(group.margins[split][1], alone[split], rtol=1e-4, atol=1e-4)


def test_engine_and_compile_are_validated(compose):
    with pytest.raises(ConfigError, match="trainer.engine"):
        compose("trainer.engine=fast")
    with pytest.raises(ConfigError, match="trainer.compile"):
        compose("trainer.compile=yes")


@pytest.mark.slow
def test_compiled_plain_engine_equals_eager(compose, tiny_images, tiny_data, models):
    """trainer.compile=default (inductor; minutes to compile on CPU, once per process and architecture)."""
    eager_cfg = compose(*TINY, *AUG, f"dataset.path={tiny_images}", "trainer.engine=plain")
    seeds, masks = models
    eager = train_models(eager_cfg, tiny_data, seeds[:2], masks[:2])
    compiled = train_models(compose(*TINY, *AUG, f"dataset.path={tiny_images}", "trainer.engine=plain",
                                    "trainer.compile=default"), tiny_data, seeds[:2], masks[:2])
    for split in ("test", "train"):
        np.testing.assert_allclose(compiled.margins[split], eager.margins[split], rtol=1e-4, atol=1e-4)


def test_reference_models_of_the_baselines_are_the_engine_models_on_the_full_set(compose, tiny_images, tiny_data):
    """The TracIn/representation baselines' checkpointed models (their own small loop) draw the same batches
    and augmentations as `train_models` on the all-ones mask: equal final parameters with augmentation on."""
    from dm.analyze.baselines.checkpoints import reference_seeds, train_reference_models

    cfg = compose(*TINY, *AUG, f"dataset.path={tiny_images}", "trainer.engine=plain")
    seeds = reference_seeds(3, 2)
    reference = train_reference_models(cfg, tiny_data, seeds)
    engine = train_models(cfg, tiny_data, seeds, np.ones((2, len(tiny_data.y_train)), bool))
    for k, model in enumerate(reference):
        for name, value in model.network.named_parameters():
            np.testing.assert_allclose(value.detach().numpy(), engine.params[name][k].numpy(), rtol=1e-4, atol=1e-5)
    unaugmented = train_reference_models(compose(*TINY, f"dataset.path={tiny_images}"), tiny_data, seeds[:1])[0]
    name, value = next(iter(unaugmented.network.named_parameters()))
    assert np.abs(value.detach().numpy() - engine.params[name][0].numpy()).max() > 1e-3  # augmentation mattered
