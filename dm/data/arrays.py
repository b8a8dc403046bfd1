"""In-memory form of a data set, validated, before it is written to FFCV."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from dm.errors import DMError


class DataError(DMError, ValueError):
    """Input data that cannot be used (missing files, wrong keys or shapes, bad values)."""


@dataclass(frozen=True)
class ArrayDataset:
    """A train/test data set. x: float32 features [N, F] or uint8/float32 images [N, H, W, C];
    y: int64 class ids [N] (classification) or float64 targets [N] (regression)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int  # 0 for regression
    task: str  # "classification" | "regression"

    @property
    def is_image(self) -> bool:
        return self.x_train.ndim == 4

    def fingerprint(self) -> str:
        """sha256 over the arrays' bytes, dtypes and shapes: identifies the data an experiment used."""
        digest = hashlib.sha256()
        for arr in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(f"{arr.dtype}{arr.shape}".encode())
            digest.update(np.ascontiguousarray(arr).tobytes())
        return digest.hexdigest()


def validated(ds: ArrayDataset) -> ArrayDataset:
    """Check shapes, dtypes and values; raise DataError naming the problem. Returns `ds`."""
    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        if x.ndim not in (2, 4):
            raise DataError(f"{ds.name}: x_{split} must be features [N, F] or images [N, H, W, C], got {x.shape}")
        if len(x) != len(y) or y.ndim != 1:
            raise DataError(f"{ds.name}: x_{split} has {len(x)} rows but y_{split} has shape {y.shape}")
        if len(x) == 0:
            raise DataError(f"{ds.name}: the {split} split is empty")
        if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
            bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum())
            raise DataError(f"{ds.name}: x_{split} has NaN or infinite values in {bad} examples")
        if ds.task == "classification":
            if not np.issubdtype(y.dtype, np.integer):
                raise DataError(f"{ds.name}: y_{split} must hold integer class ids, got dtype {y.dtype}")
            if y.min() < 0 or y.max() >= ds.num_classes:
                raise DataError(
                    f"{ds.name}: y_{split} has labels in [{y.min()}, {y.max()}], outside [0, {ds.num_classes})"
                )
        elif not np.isfinite(y).all():
            raise DataError(f"{ds.name}: y_{split} has NaN or infinite targets")
    if ds.x_train.shape[1:] != ds.x_test.shape[1:]:
        raise DataError(f"{ds.name}: train examples have shape {ds.x_train.shape[1:]}, test {ds.x_test.shape[1:]}")
    if ds.task == "classification" and ds.num_classes < 2:
        raise DataError(f"{ds.name}: need at least 2 classes, got {ds.num_classes}")
    return ds
