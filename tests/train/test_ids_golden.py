"""Golden values of every id-derived number, computed from the code before the ids refactor (commit d383a09).

Subsets, seeds, batch orders and model roles define a lake: a change here would make every existing lake refuse
to resume (or silently mix two definitions). Do not update these numbers; if a test fails, the refactor is wrong.
"""

import subprocess
import sys

import numpy as np
import pytest

from dm.analyze.baselines.checkpoints import reference_seeds
from dm.analyze.baselines.random_order import RandomRanker
from dm.analyze.experiments.retrain import Retrainer
from dm.analyze.views.seed_noise import replicate_seeds
from dm.ids import batch_order, members_of, model_seeds, splitmix64, subset_masks, subset_size
from dm.solve.model_roles import assign_roles

D = 37  # training-set size of the golden subsets

GOLDEN_RUNS = [
    # (experiment seed, alpha, model ids, seeds, subsets (sorted train ids), batch order of epoch 0, of epoch 3)
    (0, 0.5, [0, 1, 2, 9999],
     [4202436346536966246, 9032380911822011009, 3554016549728323044, 4779037187019422445],
     [[6, 7, 10, 11, 16, 18, 19, 20, 21, 24, 27, 28, 29, 30, 31, 32, 33, 36],
      [0, 2, 5, 6, 8, 9, 10, 11, 12, 18, 23, 25, 26, 28, 29, 30, 33, 35],
      [0, 1, 3, 4, 5, 8, 9, 11, 12, 13, 18, 20, 24, 25, 27, 30, 31, 35],
      [4, 6, 9, 10, 14, 18, 19, 21, 22, 24, 28, 29, 30, 32, 33, 34, 35, 36]],
     [[7, 30, 29, 27, 32, 10, 31, 6, 16, 36, 21, 18, 33, 20, 28, 11, 24, 19],
      [30, 23, 29, 6, 0, 12, 11, 2, 18, 8, 10, 5, 26, 33, 35, 25, 28, 9],
      [4, 12, 9, 31, 0, 25, 30, 13, 5, 24, 18, 3, 11, 1, 20, 8, 27, 35],
      [14, 6, 21, 9, 30, 32, 18, 19, 29, 34, 22, 36, 24, 4, 10, 35, 33, 28]],
     [[30, 19, 32, 6, 11, 21, 27, 20, 33, 29, 10, 16, 31, 24, 28, 36, 18, 7],
      [8, 5, 29, 35, 2, 30, 12, 6, 33, 28, 0, 23, 9, 10, 25, 11, 18, 26],
      [18, 4, 8, 11, 20, 1, 25, 30, 9, 31, 27, 13, 5, 0, 35, 3, 12, 24],
      [32, 4, 22, 33, 14, 21, 36, 29, 19, 28, 18, 9, 24, 34, 10, 35, 30, 6]]),
    (7, 0.3, [5, 123456],
     [7553974480426811176, 5290368804598751772],
     [[7, 13, 16, 17, 18, 19, 20, 23, 27, 28, 34], [0, 8, 9, 16, 17, 18, 21, 27, 29, 30, 31]],
     [[23, 34, 20, 28, 17, 27, 16, 18, 19, 13, 7], [0, 21, 18, 16, 17, 27, 9, 29, 8, 30, 31]],
     [[16, 18, 23, 19, 27, 17, 7, 28, 20, 34, 13], [27, 16, 29, 30, 17, 21, 18, 0, 31, 9, 8]]),
    (3, 0.1, [42], [8413174867604928851], [[2, 10, 14, 22]], [[22, 2, 10, 14]], [[14, 2, 22, 10]]),
]

GOLDEN_ROLES = [
    # (split seed, test_fraction, val_fraction, train, val, test) of model ids 0..39
    (0, 0.1, 0.1,
     [0, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 26, 28, 29, 30, 32, 33, 34, 35,
      36, 37, 39], [4, 31, 38], [1, 18, 25, 27]),
    (5, 0.2, 0.25,
     [0, 1, 3, 4, 5, 6, 7, 8, 9, 13, 18, 19, 20, 21, 23, 25, 27, 30, 31, 32, 33, 34, 35, 37, 39],
     [10, 15, 17, 24, 28, 36], [2, 11, 12, 14, 16, 22, 26, 29, 38]),
]

GOLDEN_RANDOM_TEST = [[9, 6, 0, 3, 5, 1, 11, 2, 10, 7, 8, 4], [10, 7, 4, 1, 8, 2, 3, 0, 9, 6, 11, 5]]
GOLDEN_RANDOM_TRAIN = [[1, 10, 7, 4, 9, 5, 6, 0, 11, 2, 3, 8]]


def test_splitmix64_golden():
    out = splitmix64(np.array([0, 1, 2**63, 12345], np.uint64))
    assert out.tolist() == [16294208416658607535, 10451216379200822465, 5196802822362493915, 2454886589211414944]


@pytest.mark.parametrize("seed, alpha, ids, seeds, subsets, order0, order3", GOLDEN_RUNS)
def test_seeds_subsets_and_batch_orders_golden(seed, alpha, ids, seeds, subsets, order0, order3):
    got = model_seeds(seed, alpha, np.array(ids))
    assert got.dtype == np.int64 and got.tolist() == seeds
    masks = subset_masks(got, D, subset_size(alpha, D))
    assert [np.nonzero(m)[0].tolist() for m in masks] == subsets
    members = members_of(masks)
    assert batch_order(got, 0, members).tolist() == order0
    assert batch_order(got, 3, members).tolist() == order3


@pytest.mark.parametrize("seed, test_fraction, val_fraction, train, val, test", GOLDEN_ROLES)
def test_model_roles_golden(seed, test_fraction, val_fraction, train, val, test):
    roles = assign_roles(np.arange(40), test_fraction, val_fraction, seed)
    assert (roles.train.tolist(), roles.val.tolist(), roles.test.tolist()) == (train, val, test)


def test_analysis_seed_streams_golden():
    assert replicate_seeds(np.array([0, 1, 123456789])).tolist() == [
        884088640396478769, 3192437938745924772, 3663727733959722513]
    assert reference_seeds(0, 3).tolist() == [3932713918235137561, 5922341374631718387, 8617305684370688703]
    assert reference_seeds(4, 2).tolist() == [4352704635253125120, 6797826880248688002]
    assert Retrainer(None, None, None, 3).replicate_seeds(3).tolist() == [
        3295129927983170147, 6522740489189373391, 4936051719354220486]
    assert Retrainer(None, None, None, 0).replicate_seeds(2).tolist() == [7567856178022945294, 7527436045698980774]


def test_random_ranker_order_golden():
    ranker = RandomRanker(np.arange(12) % 3, np.arange(5) % 3, seed=2)
    test_scores = ranker.scores("test", np.array([0, 4]))
    np.testing.assert_allclose(test_scores[0, :4], [1.6263197660446167, 0.7254922389984131, 0.4843718111515045,
                                                    1.3128132820129395], rtol=0, atol=0)
    assert np.argsort(-test_scores, axis=1, kind="stable").tolist() == GOLDEN_RANDOM_TEST
    train_scores = ranker.scores("train", np.array([1]))
    assert np.argsort(-train_scores, axis=1, kind="stable").tolist() == GOLDEN_RANDOM_TRAIN


def test_ids_is_a_leaf_and_the_trainer_uses_it():
    code = ("import sys, dm.ids; mods = sorted(m for m in sys.modules if m.startswith(('dm.', 'torch', 'omegaconf')));"
            "print(mods)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "['dm.ids']"
    import dm.ids
    import dm.train.subsets
    assert dm.train.subsets.subset_masks is dm.ids.subset_masks and dm.train.subsets.batch_order is dm.ids.batch_order
