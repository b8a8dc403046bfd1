"""The margins view against the margins written (numpy), and the lookups it must serve without a join: a filter
on model_id or on (split, example_id) reaches the Parquet scan, whatever the lake's size (a LATERAL join over
per-block files used to be planned as a full join on small lakes: 12.6 s and 18 GB for one example)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from dm.lake import schema
from dm.lake.margins import block_rows, read_block, write_split
from dm.lake.store import LakeError
from tests.views.conftest import SPLITS, Truth


def test_the_view_holds_every_margin_once(truth: Truth, con) -> None:
    for split in SPLITS:
        rows = con.execute("SELECT model_id, example_id, margin FROM margins WHERE split = ? "
                           "ORDER BY model_id, example_id", [split]).fetchnumpy()
        m, n = truth.margins[split].shape
        assert len(rows["margin"]) == m * n
        np.testing.assert_array_equal(rows["margin"].reshape(m, n), truth.margins[split])  # bit for bit
        np.testing.assert_array_equal(rows["model_id"].reshape(m, n), np.arange(m)[:, None].repeat(n, 1))


def test_one_model_and_one_example(truth: Truth, con) -> None:
    model = con.execute("SELECT split, example_id, margin FROM margins WHERE model_id = 41 "
                        "ORDER BY split, example_id").fetchnumpy()
    want = np.concatenate([truth.margins[s][41] for s in sorted(SPLITS)])
    np.testing.assert_array_equal(model["margin"], want)
    example = con.execute("SELECT model_id, margin FROM margins WHERE split = 'train' AND example_id = 7 "
                          "ORDER BY model_id").fetchnumpy()
    np.testing.assert_array_equal(example["margin"], truth.margins["train"][:, 7])


@pytest.mark.parametrize("where, scan_filters", [
    ("model_id = 41", ["Filters: model_id = 41"]),
    ("split = 'test' AND example_id = 7", ["Filters: example_id = 7", "File Filters: split = 'test'"]),
])
def test_a_lookup_is_a_filter_on_the_scan_not_a_join(con, where: str, scan_filters: list[str]) -> None:
    plan = "\n".join(row[1] for row in con.execute(f"EXPLAIN SELECT margin FROM margins WHERE {where}").fetchall())
    assert plan.count("READ_PARQUET") == 2, plan  # the margins files and the models files (committed models only)
    assert plan.count("Join Type:") == 1 and "Join Type: SEMI" in plan, plan
    for text in scan_filters:  # the filter reaches the margins scan: statistics skip row groups, split prunes files
        assert text in plan, plan


def test_row_order_and_checks_of_a_margins_file(tmp_path) -> None:
    rng = np.random.default_rng(0)
    ids = np.array([3, 4, 8, 9, 10] + list(range(20, 60)), np.int64)  # 45 models: a partial last group of 32
    values = rng.normal(size=(len(ids), 70)).astype(np.float32)
    values[2, 5] = np.nan  # a diverged model's margin is kept, not mistaken for a hole
    blocks = [(0, 32), (32, 32), (64, 6)]
    write_split(tmp_path / "m.parquet", ids, values, blocks)
    for b, (first, length) in enumerate(blocks):
        got_ids, got = read_block(tmp_path / "m.parquet", b, first, length)
        np.testing.assert_array_equal(got_ids, ids)
        np.testing.assert_array_equal(got, values[:, first : first + length])
    rows = block_rows(ids, values[:, :32], 0)
    model, example = rows["model_id"].to_numpy(), rows["example_id"].to_numpy()
    group_of = np.searchsorted(ids, model) // schema.MARGINS_GROUP
    assert (np.diff(group_of) >= 0).all()  # groups of 32 models in order ...
    first_group = group_of == 0
    assert (np.diff(example[first_group]) >= 0).all()  # ... example-major inside a group
    assert (model[first_group][:32] == ids[:32]).all() and (example[first_group][:32] == 0).all()
    shuffled = rows.take(np.random.default_rng(1).permutation(rows.num_rows))  # another order: placed by ids
    pq.write_table(shuffled, tmp_path / "shuffled.parquet")
    np.testing.assert_array_equal(read_block(tmp_path / "shuffled.parquet", 0, 0, 32)[1], values[:, :32])
    pq.write_table(rows.slice(1), tmp_path / "short.parquet")  # one row short
    with pytest.raises(LakeError, match="is not 45 models"):
        read_block(tmp_path / "short.parquet", 0, 0, 32)
    doubled = rows.take(np.r_[0, np.arange(1, rows.num_rows - 1), 0])  # a (model, example) twice, one missing
    pq.write_table(doubled, tmp_path / "doubled.parquet")
    with pytest.raises(LakeError, match="repeats"):
        read_block(tmp_path / "doubled.parquet", 0, 0, 32)
