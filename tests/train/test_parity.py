"""The multi-model Fabric loop's model k equals model k trained alone by a plain Lightning Trainer."""

import numpy as np
import pytest
import torch

from dm.data.prepare import load_resident
from dm.lake.bits import unpack_masks
from dm.lake.store import Lake
from dm.models.networks import build_network
from dm.train.group import train_group
from dm.train.single import train_one
from dm.train.subsets import model_seeds, subset_masks, subset_size


@pytest.fixture(scope="module")
def data(small_lake):
    return load_resident(small_lake[1])


def test_lake_model_equals_the_same_model_id_trained_alone(small_lake, data):
    cfg, root = small_lake
    lake = Lake.open(root)
    ids, packed = lake.read_masks()
    k = 21  # trained in the second group of 16, next to 15 other models
    models = lake.read_models()
    seed = int(models.column("seed").to_numpy()[models.column("model_id").to_numpy() == k][0])
    assert seed == model_seeds(cfg.subsets.seed, cfg.subsets.alpha, np.array([k]))[0]
    mask = unpack_masks(packed[ids == k], lake.d)[0]
    torch.use_deterministic_algorithms(True)
    try:
        _, alone = train_one(cfg, data, seed, mask)
    finally:
        torch.use_deterministic_algorithms(False)
    for split in ("test", "train"):
        first = next(b for b in lake.target_blocks((split,)))
        block_ids, margins = lake.read_margins(split, first.block)
        np.testing.assert_allclose(margins[block_ids == k][0], alone[split][first.first : first.first + first.length],
                                   rtol=1e-4, atol=1e-4)


def test_group_parameters_equal_lightning_parameters(compose, data):
    cfg = compose("trainer.epochs=2")
    info = data.info
    seeds = model_seeds(0, 0.5, np.arange(5))
    masks = subset_masks(seeds, info.d, subset_size(0.5, info.d))
    factory = lambda: build_network("mlp", info, cfg.model.hidden)  # noqa: E731
    group = train_group(factory, data.x_train, data.y_train, masks, seeds, cfg.trainer,
                        {"test": (data.x_test, data.y_test)})
    module, margins = train_one(cfg, data, int(seeds[3]), masks[3])
    for name, value in module.network.named_parameters():
        np.testing.assert_allclose(group.params[name][3].numpy(), value.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(group.margins["test"][3], margins["test"], rtol=1e-4, atol=1e-4)
    assert not np.allclose(group.margins["test"][2], margins["test"])  # the comparison can fail
