"""The split of model ids into train / validation / held-out test models, as recorded by the solver in fit.json."""

from __future__ import annotations

import json

import numpy as np

from dm.lake.store import Lake, LakeError
from dm.solve.model_roles import ModelRoles


def read_model_split(lake: Lake) -> ModelRoles:
    """Read `fit.json` ({"train_model_ids": [...], "val_model_ids": [...], "test_model_ids": [...], ...})."""
    path = lake.layout.fit_json
    if not path.exists():
        raise LakeError(f"{path} is missing: run `dm fit` first (it records which models are held out)")
    info = json.loads(path.read_text())
    try:
        ids = {key: np.unique(np.asarray(info[f"{key}_model_ids"], dtype=np.int64)) for key in ("train", "val", "test")}
    except KeyError as err:
        raise LakeError(f"{path} has no {err.args[0]!r}") from err
    return ModelRoles(**ids)
