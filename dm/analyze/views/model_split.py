"""The split of model ids into train / validation / held-out test models, as recorded by the solver in fit.json."""

from __future__ import annotations

import numpy as np

from dm.lake.fit_meta import read_fit_meta
from dm.lake.store import Lake, LakeError
from dm.solve.model_roles import ModelRoles


def read_model_split(lake: Lake) -> ModelRoles:
    """Read `fit.json` ({"train_model_ids": [...], "val_model_ids": [...], "test_model_ids": [...], ...})."""
    path = lake.layout.fit_json
    info = read_fit_meta(lake.layout)
    if info is None:
        raise LakeError(f"{path} is missing: run `dm fit` first (it records which models are held out)")
    try:
        ids = {key: np.unique(np.asarray(info[f"{key}_model_ids"], dtype=np.int64)) for key in ("train", "val", "test")}
    except KeyError as err:
        raise LakeError(f"{path} has no {err.args[0]!r}") from err
    return ModelRoles(**ids)
