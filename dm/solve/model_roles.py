"""Which models fit the datamodels, which select λ, and which are held out: a pure function of model_id."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dm.errors import ConfigError
from dm.ids import role_uniforms


@dataclass(frozen=True)
class ModelRoles:
    """Sorted int64 model ids per role; `test` models are never used by the solver."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def assign_roles(model_ids: np.ndarray, test_fraction: float, val_fraction: float, seed: int) -> ModelRoles:
    """Split by a hash of (seed, model_id): adding models later never moves an existing model to another role.

    test_fraction of all models are held out; val_fraction of the remaining ones validate λ.
    """
    ids = np.sort(np.asarray(model_ids, dtype=np.int64))
    u = role_uniforms(seed, ids)
    test = u < test_fraction
    val = ~test & (u < test_fraction + (1 - test_fraction) * val_fraction)
    roles = ModelRoles(ids[~test & ~val], ids[val], ids[test])
    for name in ("train", "val", "test"):
        if len(getattr(roles, name)) == 0 and (name != "test" or test_fraction > 0):
            raise ConfigError(
                f"the {name} split of {len(ids)} models is empty: train more models or change "
                f"solve.{'test' if name == 'test' else 'val'}_fraction"
            )
    return roles
