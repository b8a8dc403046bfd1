"""Held-out predictions: datamodel output `mask @ weight + bias` next to the actual margin, for every held-out test
model (fit.json) and target. Computed in numpy (a dense [m, d] x sparse [d, n] product) rather than SQL: the join
masks x datamodels has O(m * d * α * nnz / d) rows and is orders of magnitude slower (see the report)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from dm.analyze.views.model_split import read_model_split
from dm.lake.atomic import write_atomic
from dm.lake.bits import unpack_masks
from dm.lake.store import Lake, LakeError
from dm.lake.weights import read_datamodels

SPLITS = ("test", "train")


@dataclass(frozen=True)
class SplitPredictions:
    """Predicted and actual margins of the held-out models on the fitted targets of one split.

    Attributes:
        split: 'test' or 'train'.
        model_ids: int64 [m] held-out model ids.
        example_ids: int64 [n] target ids.
        predicted: float64 [m, n] datamodel prediction (margin units).
        actual: float64 [m, n] margin the model really has.
        valid: bool [m, n]; False where a train target was in the model's subset (its datamodel only describes
            subsets that exclude it, eq. 9). Always True for test targets.
    """

    split: str
    model_ids: np.ndarray
    example_ids: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    valid: np.ndarray


def _rows(available: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    """Positions of `wanted` ids in the sorted `available` ids; LakeError if some are missing."""
    pos = np.searchsorted(available, wanted)
    ok = (pos < len(available)) & (available[np.minimum(pos, max(len(available) - 1, 0))] == wanted)
    if len(available) == 0 or not ok.all():
        raise LakeError(f"held-out models {wanted[~ok][:10].tolist()} of fit.json have no {what} in the lake")
    return pos


def _actual_margins(lake: Lake, split: str, model_ids: np.ndarray) -> np.ndarray:
    """float64 [m, n_split] margins of `model_ids` on every example of `split`."""
    out = np.empty((len(model_ids), lake.split_size(split)), np.float64)
    for block in lake.target_blocks((split,)):
        ids, values = lake.read_margins(split, block.block)
        out[:, block.first : block.first + block.length] = values[_rows(ids, model_ids, f"{split} margins")]
    return out


def heldout_predictions(lake: Lake, split: str) -> SplitPredictions:
    """Predictions of the datamodels of `split` for the held-out test models listed in fit.json."""
    model_ids = read_model_split(lake).test
    if len(model_ids) == 0:
        raise LakeError("fit.json lists no test_model_ids: nothing is held out for evaluation")
    mask_ids, packed = lake.read_masks()
    masks = unpack_masks(packed[_rows(mask_ids, model_ids, "masks")], lake.d)  # bool [m, d]
    dms = read_datamodels(lake, split)
    predicted = np.asarray((dms.weights @ masks.T.astype(np.float64)).T) + dms.bias[None, :]
    actual = _actual_margins(lake, split, model_ids)[:, dms.example_ids]
    if split == "train":
        valid = ~masks[:, dms.example_ids]
    else:
        valid = np.ones(predicted.shape, bool)
    return SplitPredictions(split, model_ids, dms.example_ids, predicted, actual, valid)


def write_predictions(lake: Lake, preds: SplitPredictions) -> Path:
    """eval/predictions/<split>.parquet: one row per valid (model, target) pair."""
    i, j = np.nonzero(preds.valid)
    table = pa.table(
        {
            "model_id": preds.model_ids[i],
            "split": pa.array([preds.split] * len(i), pa.string()),
            "example_id": preds.example_ids[j].astype(np.int32),
            "predicted": preds.predicted[i, j],
            "actual": preds.actual[i, j],
        }
    )
    return write_atomic(table, lake.layout.predictions(preds.split))


def compute_predictions(lake: Lake, splits: tuple[str, ...] = SPLITS) -> list[SplitPredictions]:
    """Compute and write the held-out predictions of every split that has datamodels; returns them."""
    out = []
    for split in splits:
        if not any(lake.layout.fit_dir("datamodel_fits", split).glob("*.parquet")):
            continue
        preds = heldout_predictions(lake, split)
        write_predictions(lake, preds)
        out.append(preds)
    if not out:
        raise LakeError(f"no datamodels under {lake.layout.root}: run `dm fit` first")
    return out
