"""Data readers: the formats they accept and the clear errors for bad input."""

import pickle

import numpy as np
import pytest

from dm.data.arrays import DataError
from dm.data.sources import load_cifar10_dataset, load_digits_dataset, load_linear_sim_dataset, load_npz_dataset


def write_cifar_folder(folder, n_per_batch=6, seed=0):
    """A tiny folder in the `cifar-10-batches-py` pickle format."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n_per_batch).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
        batches[name] = (data, labels)
    return batches


def test_digits_split_is_fixed_and_stratified():
    a, b = load_digits_dataset(), load_digits_dataset()
    assert a.fingerprint() == b.fingerprint()
    assert len(a.x_train) == 1347 and len(a.x_test) == 450 and a.x_train.shape[1] == 64
    train_share = np.bincount(a.y_train) / len(a.y_train)
    test_share = np.bincount(a.y_test) / len(a.y_test)
    assert np.abs(train_share - test_share).max() < 0.01


def test_cifar_reader_on_files_in_the_cifar_format(tmp_path):
    batches = write_cifar_folder(tmp_path / "cifar-10-batches-py")
    ds = load_cifar10_dataset(tmp_path / "cifar-10-batches-py")
    assert ds.x_train.shape == (30, 32, 32, 3) and ds.x_test.shape == (6, 32, 32, 3) and ds.is_image
    data, labels = batches["data_batch_2"]
    np.testing.assert_array_equal(ds.x_train[6, :, :, 1], data[0, 1024:2048].reshape(32, 32))  # green plane
    assert ds.y_train[6:12].tolist() == labels


def test_missing_cifar_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist.*cifar-10-batches-py"):
        load_cifar10_dataset(tmp_path / "nope")
    write_cifar_folder(tmp_path / "c")
    (tmp_path / "c" / "test_batch").unlink()
    with pytest.raises(DataError, match="test_batch is missing"):
        load_cifar10_dataset(tmp_path / "c")


def npz(tmp_path, **arrays):
    rng = np.random.default_rng(0)
    base = {"x_train": rng.random((20, 5)).astype(np.float32), "y_train": rng.integers(0, 3, 20),
            "x_test": rng.random((8, 5)).astype(np.float32), "y_test": rng.integers(0, 3, 8)}
    base.update(arrays)
    base = {k: v for k, v in base.items() if v is not None}
    np.savez(tmp_path / "d.npz", **base)
    return tmp_path / "d.npz"


def test_npz_reader(tmp_path):
    ds = load_npz_dataset(npz(tmp_path, num_classes=np.array(4)))
    assert ds.num_classes == 4 and ds.x_train.shape == (20, 5) and ds.task == "classification"
    images = load_npz_dataset(
        npz(tmp_path, x_train=np.zeros((20, 8, 8), np.uint8), x_test=np.zeros((8, 8, 8), np.uint8))
    )
    assert images.x_train.shape == (20, 8, 8, 1) and images.is_image


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"y_test": None}, r"lacks keys \['y_test'\]"),
        ({"x_train": np.zeros((19, 5), np.float32)}, "x_train has 19 rows but y_train"),
        ({"x_test": np.zeros((8, 6), np.float32)}, "train examples have shape"),
        ({"y_train": np.r_[np.zeros(19, int), 7], "num_classes": np.array(3)}, "outside"),
        ({"y_train": np.r_[np.zeros(19, int), -1]}, "outside"),
        ({"y_train": np.linspace(0, 1, 20)}, "integer class ids"),
        ({"x_train": np.r_[np.zeros((19, 5)), np.full((1, 5), np.nan)]}, "NaN or infinite values in 1 examples"),
        ({"x_train": np.zeros((20, 2, 2, 2, 2))}, "must be"),
    ],
)
def test_bad_npz_is_refused_with_a_clear_message(tmp_path, arrays, message):
    with pytest.raises(DataError, match=message):
        load_npz_dataset(npz(tmp_path, **arrays))


def test_linear_sim_follows_appendix_b():
    ds = load_linear_sim_dataset(150, 125, 125, 0.1, 0)
    assert ds.x_train.shape == (125, 150) and ds.task == "regression"
    assert set(np.unique(ds.x_train)) == {0.0, 1.0}
    freq = ds.x_train.mean(0)
    assert abs(freq[0::5].mean() - 0.1) < 0.03 and abs(freq[4::5].mean() - 0.5) < 0.05
