"""The acceptance run of the trainer issue: 2,000 digits MLPs at alpha = 0.5 (opt-in: `make test-slow`)."""

import pytest

from dm.cli import main
from dm.lake.store import Lake
from dm.lake.views import connect


@pytest.mark.slow
def test_two_thousand_digits_models_fill_the_lake(tmp_path):
    assert main(["train", "dataset=digits", "subsets.alpha=0.5", "subsets.num_models=2000", f"lake.root={tmp_path}",
                 "lake.experiment=d"]) == 0
    con = connect(Lake.open(tmp_path / "d"))
    assert con.execute("SELECT count(*) FROM models").fetchone()[0] == 2000
    assert con.execute("SELECT DISTINCT count(*) FROM masks GROUP BY model_id").fetchall() == [(674,)]
    n, distinct, finite = con.execute(
        "SELECT count(*), count(DISTINCT (model_id, split, example_id)), bool_and(isfinite(margin)) FROM margins"
    ).fetchone()
    assert n == distinct == 2000 * 1797 and finite
    assert con.execute("SELECT avg(test_accuracy) FROM models").fetchone()[0] >= 0.93
