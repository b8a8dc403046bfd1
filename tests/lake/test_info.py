"""`LakeInfo.open` (what `dm sql` opens, without numpy or pyarrow) holds the same meta checks as `Lake.open`:
the same values for a good experiment, the same one-line error for every bad one."""

from __future__ import annotations

import json

import pytest

from dm.lake import schema
from dm.lake.errors import LakeError
from dm.lake.info import LAKE_FORMAT, LakeInfo
from dm.lake.store import Lake

META = {"lake_format": schema.LAKE_FORMAT, "identity": {"alpha": 0.5, "dataset": "x"},
        "shape": {"d": 40, "n_test": 12, "target_block": 8, "num_classes": 3, "task": "classification"}}


def test_the_format_is_the_schema_s() -> None:
    assert LAKE_FORMAT == schema.LAKE_FORMAT


def test_a_good_experiment_reads_the_same(tmp_path) -> None:
    (tmp_path / "meta.json").write_text(json.dumps(META))
    lake, info = Lake.open(tmp_path), LakeInfo.open(tmp_path)
    assert info.layout == lake.layout and info.meta == lake.meta
    assert (info.d, info.split_size("train"), info.split_size("test")) == (lake.d, lake.split_size("train"),
                                                                          lake.split_size("test")) == (40, 40, 12)
    assert info.experiment_id == lake.experiment_id


@pytest.mark.parametrize(
    "meta",
    [None, "not json {", [1, 2], {"identity": {}}, {**META, "lake_format": 1}, {**META, "lake_format": 2},
     {**META, "lake_format": 99}, {k: v for k, v in META.items() if k != "lake_format"}],
    ids=["missing", "torn", "a list", "no shape", "format 1", "format 2", "format 99", "no format"],
)
def test_a_bad_experiment_fails_the_same(tmp_path, meta) -> None:
    if meta is not None:
        (tmp_path / "meta.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    errors = []
    for opener in (Lake.open, LakeInfo.open):
        with pytest.raises(LakeError) as caught:
            opener(tmp_path)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
