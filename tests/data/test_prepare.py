"""`dm prepare` round trip through FFCV and refusal of bad input before anything is written."""

import numpy as np
import pytest

from dm.cli import main
from dm.data.ffcv_io import read_beton
from dm.data.sources import load_digits_dataset


def test_beton_roundtrip_and_examples(small_lake):
    _, root = small_lake
    ds = load_digits_dataset()
    x, y = read_beton(root / "data" / "train.beton", regression=False)
    np.testing.assert_array_equal(x.numpy(), ds.x_train)
    np.testing.assert_array_equal(y.numpy(), ds.y_train)


@pytest.mark.parametrize("overrides, message", [
    (["dataset=cifar10", "dataset.path=/no/such/folder"], "does not exist"),
    (["dataset=npz", "dataset.path=/no/such.npz"], "does not exist"),
    (["subsets.alpha=1.0"], "subsets.alpha"),
])
def test_cli_refuses_bad_input_and_writes_nothing(tmp_path, capsys, overrides, message):
    code = main(["train", *overrides, f"lake.root={tmp_path}"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
