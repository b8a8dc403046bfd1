"""Readers of the supported data sets into an `ArrayDataset` (no FFCV here)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from dm.data.arrays import ArrayDataset, DataError, validated


def load_digits_dataset(test_fraction: float = 0.25, split_seed: int = 0) -> ArrayDataset:
    """scikit-learn's embedded digits: float32 features [N, 64] in [0, 16], fixed stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x.astype(np.float32), y.astype(np.int64), test_size=test_fraction, stratify=y, random_state=split_seed
    )
    return validated(ArrayDataset("digits", x_tr, y_tr, x_te, y_te, 10, "classification"))


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.exists():
        raise DataError(f"cifar10: {path} is missing (expected the python version of CIFAR-10)")
    with path.open("rb") as fh:
        batch = pickle.load(fh, encoding="bytes")
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except KeyError as err:
        raise DataError(f"cifar10: {path} has no {err.args[0]!r} entry") from err
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"cifar10: {path} data has shape {data.shape}, expected [N, 3072]")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels  # -> [N, 32, 32, 3] uint8


def load_cifar10_dataset(folder: str | Path) -> ArrayDataset:
    """CIFAR-10 from a local `cifar-10-batches-py` folder: uint8 images [N, 32, 32, 3]."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"cifar10: folder {folder} does not exist. Point dataset.path (or $DM_CIFAR10_DIR) at your "
            "local `cifar-10-batches-py` folder; dm does not download data."
        )
    train = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_te, y_te = _read_cifar_batch(folder / "test_batch")
    x_tr = np.concatenate([x for x, _ in train])
    y_tr = np.concatenate([y for _, y in train])
    return validated(ArrayDataset("cifar10", x_tr, y_tr, x_te, y_te, 10, "classification"))


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz_dataset(path: str | Path) -> ArrayDataset:
    """A user's `.npz` with x_train, y_train, x_test, y_test (and optionally num_classes).

    x: features [N, F] or images [N, H, W] / [N, H, W, C] (uint8 or float); y: integer class ids.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"npz: file {path} does not exist")
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in NPZ_KEYS if k not in npz.files]
        if missing:
            raise DataError(f"npz: {path} lacks keys {missing}; it has {sorted(npz.files)}, needs {list(NPZ_KEYS)}")
        arrays = {k: npz[k] for k in NPZ_KEYS}
        given_classes = int(npz["num_classes"]) if "num_classes" in npz.files else None
    for key in ("x_train", "x_test"):
        x = arrays[key]
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim not in (2, 4):
            raise DataError(f"npz: {key} must be [N, F], [N, H, W] or [N, H, W, C], got shape {x.shape}")
        arrays[key] = x if x.dtype == np.uint8 else x.astype(np.float32)
    for key in ("y_train", "y_test"):
        y = arrays[key]
        if not np.issubdtype(y.dtype, np.integer):
            if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
                y = y.astype(np.int64)
            else:
                raise DataError(f"npz: {key} must hold integer class ids, got dtype {y.dtype}")
        arrays[key] = y.astype(np.int64)
    num_classes = given_classes if given_classes is not None else int(
        max(arrays["y_train"].max(initial=0), arrays["y_test"].max(initial=0)) + 1
    )
    return validated(ArrayDataset(path.stem, arrays["x_train"], arrays["y_train"], arrays["x_test"],
                                  arrays["y_test"], num_classes, "classification"))


def load_linear_sim_dataset(n_features: int, n_train: int, n_test: int, noise: float, seed: int) -> ArrayDataset:
    """Paper appendix B: x_ik ~ Bernoulli(p_k), p_k in {0.1..0.5}; y = x·w + N(0, noise²). Regression."""
    rng = np.random.default_rng(seed)
    p = np.resize(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), n_features)
    w = rng.normal(size=n_features)
    x = (rng.random((n_train + n_test, n_features)) < p).astype(np.float32)
    y = x.astype(np.float64) @ w + noise * rng.normal(size=n_train + n_test)
    return validated(ArrayDataset("linear_sim", x[:n_train], y[:n_train], x[n_train:], y[n_train:], 0, "regression"))


def load_dataset(cfg: DictConfig) -> ArrayDataset:
    """The data set named by the `dataset` config group."""
    if cfg.name == "digits":
        return load_digits_dataset(cfg.test_fraction, cfg.split_seed)
    if cfg.name == "cifar10":
        return load_cifar10_dataset(cfg.path)
    if cfg.name == "npz":
        return load_npz_dataset(cfg.path)
    if cfg.name == "linear_sim":
        return load_linear_sim_dataset(cfg.n_features, cfg.n_train, cfg.n_test, cfg.noise, cfg.split_seed)
    raise DataError(f"unknown dataset {cfg.name!r}")
