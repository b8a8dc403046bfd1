"""datamodels / datamodel_fits / fit_path and their staging views against the files the fixture wrote."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tests.views.conftest import BLOCK, SPLITS, Truth


def test_datamodels_are_the_nonzero_weights(truth: Truth, con) -> None:
    for split in SPLITS:
        rows = con.execute(
            "SELECT example_id, train_id, weight FROM datamodels WHERE split = ? ORDER BY example_id, train_id", [split]
        ).fetchall()
        j, i = np.nonzero(truth.weights[split])  # row-major: sorted by (example_id, train_id)
        assert [(r[0], r[1]) for r in rows] == list(zip(j.tolist(), i.tolist(), strict=True))
        np.testing.assert_allclose([r[2] for r in rows], truth.weights[split][j, i], rtol=1e-6)


def test_datamodel_fits_and_block_column(truth: Truth, con) -> None:
    for split in SPLITS:
        rows = con.execute(
            'SELECT example_id, bias, "lambda", nnz, n_models_used FROM datamodel_fits WHERE split = ? '
            "ORDER BY example_id",
            [split],
        ).fetchall()
        ids, bias, lam, nnz, used = map(np.array, zip(*rows, strict=True))
        np.testing.assert_array_equal(ids, np.arange(truth.weights[split].shape[0]))
        np.testing.assert_allclose(bias, truth.bias[split])
        np.testing.assert_array_equal(nnz, (truth.weights[split] != 0).sum(axis=1))
        assert set(lam) == {0.01} and set(used) == {60}
    bad = con.execute(f"SELECT count(*) FROM stg_datamodels WHERE block <> example_id // {BLOCK}").fetchone()[0]
    assert bad == 0
    assert con.execute("SELECT DISTINCT typeof(block) FROM stg_datamodel_fits").fetchall() == [("INTEGER",)]


def test_fit_path_matches_files(truth: Truth, con) -> None:
    files = sorted(truth.root.glob("fit_path/split=*/block=*.parquet"))
    expected = pa.concat_tables([pq.read_table(f) for f in files])
    rows = con.execute('SELECT example_id, lambda_index, "lambda", nnz FROM fit_path').fetchall()
    assert len(rows) == expected.num_rows
    got = sorted(rows)
    want = sorted(
        zip(*(expected.column(c).to_pylist() for c in ("example_id", "lambda_index", "lambda", "nnz")), strict=True)
    )
    assert got == want
