"""A tiny run of every experiment on the small lake: tables are consistent with the models behind them."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from dm.analyze.baselines import fit_lasso_weights
from dm.analyze.experiments import read_table, run_experiments
from dm.analyze.experiments.config import EvalConfig, retrain_budget
from dm.analyze.experiments.control import margins_from_logits
from dm.analyze.experiments.guided_search import round_up
from dm.analyze.experiments.retrain import Request, Retrainer, TrainingSet, group_logits
from dm.config.compose import load_config
from dm.config.schema import ConfigError
from dm.train.runner import train_models


@pytest.fixture(scope="module")
def run(small_lake):
    return run_experiments(small_lake.cfg, small_lake.root, progress=False)


def test_group_logits_reproduce_train_models_margins(small_lake) -> None:
    d = small_lake.lake.d
    masks = np.ones((2, d), bool)
    masks[0, :5] = False
    masks[1, -5:] = False
    result = train_models(small_lake.cfg, small_lake.data, np.array([3, 4]), masks)
    logits = group_logits(small_lake.cfg, small_lake.data, result, small_lake.data.x_test)
    margins = margins_from_logits(logits, small_lake.data.y_test.numpy())
    np.testing.assert_allclose(margins, result.margins["test"], atol=1e-4)


def test_relabelled_sets_train_on_relabelled_copies(small_lake, tmp_path) -> None:
    # relabelling the whole class of target 0 to another class must drive its margin far below the control
    data = small_lake.data
    y = data.y_train.numpy()
    target, label = 0, int(data.y_test[0])
    same = np.nonzero(y == label)[0]
    r = Retrainer(small_lake.cfg, data, tmp_path / "cache", seed=0, progress=False)
    ctrl, flipped = r.run([Request(TrainingSet(), np.array([target]), 2),
                           Request(TrainingSet.relabel(same, (label + 1) % 10), np.array([target]), 2)])
    m_ctrl = margins_from_logits(ctrl, data.y_test.numpy()[[target]]).mean()
    m_flip = margins_from_logits(flipped, data.y_test.numpy()[[target]]).mean()
    assert m_ctrl > 0 > m_flip
    assert r.trained == 4
    r.run([Request(TrainingSet(), np.array([target]), 2)])
    assert r.trained == 4  # cached


def _cols(experiment: str, table: str, root) -> dict[str, np.ndarray]:
    """A stored table as column name -> numpy array (nulls as None in object arrays)."""
    t = read_table(root, experiment, table)
    return {c: np.asarray(t.column(c).to_pylist()) for c in t.column_names}


def test_counterfactual_table_is_consistent(run, small_lake) -> None:
    control = _cols("control", "control", small_lake.root)
    cf = _cols("counterfactual", "results", small_lake.root)
    assert len(cf["k"]) == 3 * 3 * 2  # targets x removed kinds x ks
    assert set(cf["removed"]) == {"top", "bottom", "random"} and set(cf["k"]) == {10, 80}
    np.testing.assert_allclose(cf["control_margin"], control["mean_margin"][cf["example_id"]])
    np.testing.assert_allclose(cf["actual_delta"], cf["mean_margin"] - cf["control_margin"], atol=1e-12)
    weights = fit_lasso_weights(small_lake.lake, "test", np.unique(cf["example_id"]))  # deterministic refit
    theta = weights.weights["test"].astype(np.float64)
    for j, kind, k, predicted in zip(cf["example_id"], cf["removed"], cf["k"], cf["predicted_delta"], strict=True):
        if kind == "top":
            top = np.argsort(-theta[:, j], kind="stable")[:k]
            assert predicted == pytest.approx(-theta[top, j].sum(), abs=1e-4)
        if kind == "bottom":
            assert predicted >= -1e-6  # removing the most negative weights is predicted to raise the margin
    assert (cf["n_models"] == 2).all()
    assert -1 <= run["metrics"]["counterfactual_pearson"] <= 1


def test_control_is_the_mean_of_its_models(run, small_lake) -> None:
    control = _cols("control", "control", small_lake.root)
    r = Retrainer(small_lake.cfg, small_lake.data, small_lake.root / "eval" / "retrains", seed=0, progress=False)
    ids = np.arange(len(control["example_id"]))
    logits = r.run([Request(TrainingSet(), ids, 3)])[0]
    assert r.trained == 0  # all from the cache the experiments wrote
    margins = margins_from_logits(logits, small_lake.data.y_test.numpy())
    np.testing.assert_allclose(control["mean_margin"], margins.astype(np.float64).mean(0), atol=1e-6)
    assert (control["confused_class"] != control["label"]).all()


def test_support_and_brittleness_tables(run, small_lake) -> None:
    est = _cols("support", "estimates", small_lake.root)
    curves = _cols("support", "curves", small_lake.root)
    assert set(est["ranker"]) == {"datamodels", "random"} and len(est["ranker"]) == 6
    assert set(curves["k"]) == {0, 40, 160}
    assert set(est["status"]) <= {"found", "not_found", "misclassified"}
    for status, size, k_hat in zip(est["status"], est["support_size"], est["k_hat"], strict=True):
        if status == "found":
            assert size == round_up(max(1, math.ceil(1.2 * k_hat - 1e-9)), small_lake.cfg.eval.support.verify_round)
        else:
            assert size is None or (status == "misclassified" and size == 0)
    for margin, ok in zip(est["verify_margin"], est["verified"], strict=True):
        assert (margin is None and ok is None) or ok == (margin < 0)
    for key in set(zip(curves["ranker"], curves["example_id"], strict=True)):
        sel = (curves["ranker"] == key[0]) & (curves["example_id"] == key[1])
        order = np.argsort(curves["k"][sel])
        assert (np.diff(curves["fitted_margin"][sel][order].astype(float)) <= 1e-9).all()
    assert set(_cols("mislabel", "estimates", small_lake.root)["variant"]) == {"mislabel"}
    cdf = _cols("brittleness", "cdf", small_lake.root)
    for key in set(zip(cdf["ranker"], cdf["variant"], strict=True)):
        sel = (cdf["ranker"] == key[0]) & (cdf["variant"] == key[1])
        assert (np.diff(cdf["fraction"][sel][np.argsort(cdf["k"][sel])]) >= 0).all()
    metrics = {p.stem: pq.read_table(p) for p in (small_lake.root / "eval" / "metrics").glob("*.parquet")}
    assert {"counterfactual", "support", "mislabel"} <= set(metrics)
    assert "support_verified_fraction" in metrics["support"].column("metric").to_pylist()
    assert metrics["support"].column_names == ["metric", "value", "n"]


def test_rerun_with_the_same_config_reuses_everything(run, small_lake) -> None:
    again = run_experiments(small_lake.cfg, small_lake.root, progress=False)
    assert again["retrains"]["trained"] == 0
    for key, value in run["metrics"].items():
        assert (math.isnan(value) and math.isnan(again["metrics"][key])) or again["metrics"][key] == value


def test_eval_config_is_checked_and_defaults_fit_the_budget() -> None:
    ecfg = EvalConfig.from_cfg(load_config().eval)
    assert ecfg.replicates >= 5
    assert retrain_budget(ecfg, 1347) <= 6000
    with pytest.raises(ConfigError):
        EvalConfig.from_cfg({"targetz": 3})
    with pytest.raises(ConfigError):
        EvalConfig.from_cfg({"support": {"rankers": ["oracle"]}})
