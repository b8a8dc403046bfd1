"""`dm train` end to end on a small digits lake: the views, resume after a crash, refusals."""

import numpy as np
import pytest

from dm.lake.store import Lake, LakeError
from dm.lake.views import build_views, connect
from dm.train.runner import run_train


def test_views_hold_every_model_mask_and_margin_once(small_lake):
    cfg, root = small_lake
    build_views(Lake.open(root))
    con = connect(Lake.open(root))
    assert con.execute("SELECT count(*), count(DISTINCT model_id) FROM models").fetchone() == (48, 48)
    sizes = con.execute("SELECT DISTINCT count(*) FROM masks GROUP BY model_id").fetchall()
    assert sizes == [(round(0.5 * 1347),)]
    n_examples = con.execute("SELECT count(*) FROM examples").fetchone()[0]
    assert n_examples == 1797
    total, distinct, finite = con.execute(
        "SELECT count(*), count(DISTINCT (model_id, split, example_id)), bool_and(isfinite(margin)) FROM margins"
    ).fetchone()
    assert total == distinct == 48 * n_examples and finite
    # the margins view agrees with the store's block reader
    lake = Lake.open(root)
    ids, block = lake.read_margins("train", 1)
    row = con.execute(
        "SELECT margin FROM margins WHERE model_id = 7 AND split = 'train' AND example_id = 203"
    ).fetchone()
    assert row[0] == pytest.approx(float(block[ids == 7][0][3]))
    acc = con.execute("SELECT avg(test_accuracy) FROM models").fetchone()[0]
    assert acc > 0.9


def test_rerun_after_a_crash_trains_only_missing_models(small_lake, compose, tmp_path):
    cfg, root = small_lake
    import shutil

    copy = tmp_path / "small"
    shutil.copytree(root, copy)
    lost = sorted((copy / "_records" / "part").glob("*.json"))[1]
    for path in copy.glob(f"**/part-{lost.stem}.parquet"):
        path.unlink()  # as if the process died before the part's renames
    lost.unlink()
    again = compose(*[f"{k}" for k in ("subsets.num_models=48", "lake.chunk_size=16", "trainer.models_per_process=16",
                                       "lake.experiment=small", "lake.target_block=200")], f"lake.root={tmp_path}")
    summary = run_train(again)
    assert summary.trained == 16 and summary.total_models == 48
    ids = Lake.open(copy).read_masks()[0]
    assert ids.tolist() == list(range(48))
    new_margins = Lake.open(copy).read_margins("test", 0)[1]
    np.testing.assert_allclose(new_margins, Lake.open(root).read_margins("test", 0)[1], rtol=1e-5, atol=1e-5)
    assert run_train(again).trained == 0  # nothing left to do


def test_a_different_config_into_an_existing_experiment_is_refused(small_lake, compose):
    cfg, root = small_lake
    before = sorted(str(p) for p in root.rglob("*") if p.name != "dm.duckdb")
    other = compose("subsets.num_models=48", "lake.chunk_size=16", "trainer.lr=0.1", "lake.experiment=small",
                    "lake.target_block=200", f"lake.root={root.parent}")
    with pytest.raises(LakeError, match="trainer"):
        run_train(other)
    assert sorted(str(p) for p in root.rglob("*") if p.name != "dm.duckdb") == before
