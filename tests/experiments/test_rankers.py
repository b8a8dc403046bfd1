"""Every baseline behind the Ranker interface, on the small lake; TracIn against a plain-autograd computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dm.analyze.baselines import RANKER_NAMES, DatamodelWeights, Ranker, RankerFactory, fit_lasso_weights, top_k
from dm.analyze.baselines.checkpoints import reference_seeds, train_reference_models
from dm.analyze.baselines.tracin import TracInRanker

TARGETS = np.array([1, 7, 300])


@pytest.fixture(scope="module")
def factory(small_lake) -> RankerFactory:
    weights = fit_lasso_weights(small_lake.lake, "test", TARGETS)
    return RankerFactory(small_lake.cfg, small_lake.lake, small_lake.data, weights,
                         {"tracin": {"models": 1}, "nearest": {"models": 1}, "if": {"max_iter": 5}}, seed=0)


@pytest.mark.parametrize("name", RANKER_NAMES)
def test_every_ranker_scores_every_training_example(factory, small_lake, name) -> None:
    ranker = factory.get(name)
    assert isinstance(ranker, Ranker) and ranker.name == name
    scores = ranker.scores("test", TARGETS)
    assert scores.shape == (len(TARGETS), small_lake.lake.d) and scores.dtype == np.float32
    assert np.isfinite(scores).all()
    top = top_k(ranker, "test", TARGETS, 10)
    assert top.shape == (3, 10)
    np.testing.assert_array_equal(scores[np.arange(3)[:, None], top].min(1) >= np.sort(scores, 1)[:, -10], True)


def test_datamodel_scores_are_the_weights(factory) -> None:
    w: DatamodelWeights = factory.weights
    np.testing.assert_array_equal(factory.get("datamodels").scores("test", TARGETS), w.weights["test"][:, TARGETS].T)
    assert w.fitted("test").sum() == len(TARGETS)


def test_same_label_rankers_put_the_targets_class_first(factory, small_lake) -> None:
    y_train = small_lake.data.y_train.numpy()
    y_test = small_lake.data.y_test.numpy()
    for name in ("nearest", "random"):
        top = top_k(factory.get(name), "test", TARGETS, 50)
        assert (y_train[top] == y_test[TARGETS][:, None]).all(), name


def test_random_order_is_fixed_per_target() -> None:
    from dm.analyze.baselines.random_order import RandomRanker

    r = RandomRanker(np.arange(100) % 3, np.arange(10) % 3, seed=1)
    a, b = r.scores("test", np.array([4, 5])), r.scores("test", np.array([4]))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], a[1])


def test_tracin_matches_a_direct_gradient_dot_product(small_lake) -> None:
    model = train_reference_models(small_lake.cfg, small_lake.data, reference_seeds(3, 1))[0]
    assert len(model.checkpoints) == small_lake.cfg.trainer.epochs and all(lr >= 0 for lr in model.lrs)
    data = small_lake.data
    got = TracInRanker([model], data).scores("test", np.array([2]))[0]
    net = model.network
    expected = np.zeros(4)
    for state, lr in zip(model.checkpoints, model.lrs, strict=True):
        net.load_state_dict(state)

        def flat_grad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            net.zero_grad()
            nn.functional.cross_entropy(net(x[None]), y[None]).backward()
            return torch.cat([p.grad.flatten() for p in net.parameters()])

        g_t = flat_grad(data.x_test[2], data.y_test[2])
        for i in range(4):
            expected[i] += lr * float(flat_grad(data.x_train[i], data.y_train[i]) @ g_t)
    np.testing.assert_allclose(got[:4], expected, rtol=1e-3, atol=1e-6)
