import numpy as np

from dm.train.plan import chunks_to_train, my_chunks
from dm.train.subsets import batch_order, members_of, model_seeds, subset_masks, subset_size


def test_subsets_are_a_pure_function_of_seed_alpha_and_model_id():
    ids = np.arange(20)
    seeds = model_seeds(7, 0.3, ids)
    again = model_seeds(7, 0.3, ids[::-1])[::-1]
    np.testing.assert_array_equal(seeds, again)
    assert len(np.unique(seeds)) == 20
    assert not np.array_equal(seeds, model_seeds(8, 0.3, ids))
    assert not np.array_equal(seeds, model_seeds(7, 0.4, ids))
    masks = subset_masks(seeds, 101, subset_size(0.3, 101))
    assert (masks.sum(1) == 30).all()
    np.testing.assert_array_equal(masks[5], subset_masks(seeds[5:6], 101, 30)[0])


def test_batch_order_is_a_per_model_permutation_independent_of_the_group():
    seeds = model_seeds(0, 0.5, np.arange(8))
    members = members_of(subset_masks(seeds, 50, 25))
    for epoch in range(3):
        order = batch_order(seeds, epoch, members)
        np.testing.assert_array_equal(np.sort(order, axis=1), members)
        np.testing.assert_array_equal(order[3], batch_order(seeds[3:4], epoch, members[3:4])[0])
    assert not np.array_equal(batch_order(seeds, 0, members), batch_order(seeds, 1, members))


def test_chunks_cover_missing_ids_and_ranks_never_share_one():
    committed = np.array([0, 1, 2, 3, 9])
    chunks = chunks_to_train(12, 4, committed)
    assert [c.tolist() for c in chunks] == [[4, 5, 6, 7], [8, 10, 11]]
    a, b = my_chunks(chunks, 0, 2), my_chunks(chunks, 1, 2)
    assert not set(np.concatenate(a)) & set(np.concatenate(b))
