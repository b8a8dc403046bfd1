"""Subsets, seeds and batch orders of the trainer: re-exported from :mod:`dm.ids`, where every id derivation lives."""

from dm.ids import augment_keys, batch_order, members_of, model_seeds, splitmix64, subset_masks, subset_size

__all__ = ["augment_keys", "batch_order", "members_of", "model_seeds", "splitmix64", "subset_masks", "subset_size"]
