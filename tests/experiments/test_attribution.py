"""Attribution methods scored by LDS against cost: dm's LDS equals dattri's, the calibrations, the peers (TRAK via
traker, influence functions via dattri) against direct computations, and the table on a fitted small lake."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from dm.analyze.baselines import InfluenceFunctionRanker, TrakRanker, empirical_influence, fit_predictor
from dm.analyze.baselines.checkpoints import reference_seeds, train_reference_models
from dm.analyze.baselines.factory import RankerFactory
from dm.analyze.experiments.attribution import GroundTruth, score, score_attributions
from dm.analyze.views.evaluate import split_metrics
from dm.analyze.views.predictions import heldout_predictions
from dm.config.attribution import AttributionConfig
from dm.config.schema import ConfigError
from dm.lake.bits import pack_masks
from dm.lake.store import Lake
from dm.solve.lake_fit import run_fit
from dm.train.runner import make_fabric

from .conftest import small_config


def _synthetic(m: int = 40, d: int = 30, n: int = 5, seed: int = 0):
    """Fixed-size random subsets (as dattri's LDS expects), scores and margins with a linear signal plus noise."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((m, d), bool)
    for i in range(m):
        masks[i, rng.choice(d, d // 2, replace=False)] = True
    scores = rng.normal(size=(n, d))
    actual = masks @ scores.T + rng.normal(scale=2.0, size=(m, n))
    return masks, scores.astype(np.float32), actual


def _truth(masks: np.ndarray, actual: np.ndarray, heldout: np.ndarray, val: np.ndarray) -> GroundTruth:
    m, d = masks.shape
    ids = np.arange(m, dtype=np.int64)
    return GroundTruth(d, np.arange(actual.shape[1]), ids, pack_masks(masks), actual.astype(np.float32),
                       np.setdiff1d(ids, heldout), val, heldout, dict.fromkeys(range(m), 1.0))


def test_lds_equals_dattri_lds_on_the_same_inputs() -> None:
    from dattri.metric import lds as dattri_lds

    masks, scores, actual = _synthetic()
    heldout = np.arange(10, 40)
    truth = _truth(masks, actual, heldout, np.arange(10))
    ours = score(fit_predictor(scores, "affine", masks[:10], actual[:10]), truth)["lds"]
    indices = torch.from_numpy(np.stack([np.nonzero(r)[0] for r in masks[heldout]]))
    corr, _ = dattri_lds(torch.from_numpy(scores.T.astype(np.float64)),
                         (torch.from_numpy(actual[heldout]), indices))
    assert ours == pytest.approx(float(corr.mean()), abs=1e-9)
    assert 0.3 < ours < 1.0  # the signal is there and the noise too: a non-trivial value was compared


def test_lds_ignores_the_calibration_but_pearson_and_mse_use_it() -> None:
    masks, scores, actual = _synthetic(m=60, seed=1)
    truth = _truth(masks, actual, np.arange(30, 60), np.arange(30))
    flipped = fit_predictor(-3.0 * scores, "affine", masks[:30], actual[:30])
    assert (flipped.scale < 0).all()  # calibration learns the sign back ...
    got = score(flipped, truth)
    plain = score(fit_predictor(scores, "affine", masks[:30], actual[:30]), truth)
    assert got["lds"] == pytest.approx(-plain["lds"])  # ... but LDS scores the method's own ranking
    assert got["pearson"] == pytest.approx(plain["pearson"]) and got["mse"] == pytest.approx(plain["mse"])


def test_calibrations_fit_scale_and_bias_on_validation_models_only() -> None:
    masks, scores, _ = _synthetic(m=50, seed=2)
    actual = 0.5 * (masks @ scores.T) + np.arange(5)[None, :]  # exact affine relation
    affine = fit_predictor(scores, "affine", masks[:20], actual[:20])
    np.testing.assert_allclose(affine.scale, 0.5, atol=1e-9)
    np.testing.assert_allclose(affine.predict(masks[20:]), actual[20:], atol=1e-6)
    bias = fit_predictor(scores, "bias", masks[:20], actual[:20])
    np.testing.assert_array_equal(bias.scale, 1.0)
    np.testing.assert_allclose(bias.bias, (actual[:20] - masks[:20] @ scores.T).mean(0), rtol=1e-5)
    native = fit_predictor(scores, "native", native_bias=np.ones(5))
    np.testing.assert_allclose(native.predict(masks[:3]), masks[:3] @ scores.T.astype(np.float64) + 1)
    with pytest.raises(ValueError, match="validation"):
        fit_predictor(scores, "affine", masks[:1], actual[:1])


def test_attribution_config_refuses_bad_input() -> None:
    from dm.config.compose import load_config
    from dm.config.eval import EvalConfig

    with pytest.raises(ConfigError, match="method"):
        AttributionConfig(runs=[{"method": "shapley"}])
    with pytest.raises(ConfigError, match="not \\['model'\\]"):  # a typo fails when the config is composed
        load_config(["dataset=digits", "eval.attribution.runs=[{method: trak, model: 10}]"])
    with pytest.raises(ConfigError, match="unknown keys"):
        EvalConfig.from_cfg({"attribution": {"model_count": [10]}})
    ecfg = EvalConfig.from_cfg(load_config(["dataset=digits", "eval.attribution.model_counts=[100,0]"]).eval)
    assert list(ecfg.attribution.model_counts) == [100, 0] and ecfg.attribution.runs[0] == {"method": "datamodels"}


@pytest.fixture(scope="module")
def reference(small_lake):
    return train_reference_models(small_lake.cfg, small_lake.data, reference_seeds(5, 2))


def test_dattri_influence_equals_a_direct_inverse_hessian_computation(small_lake, tmp_path) -> None:
    # a 4-unit MLP (310 parameters) keeps the explicit Hessians small
    cfg = small_config(tmp_path, "model.hidden=4")
    data, damping = small_lake.data, 0.02
    model = train_reference_models(cfg, data, reference_seeds(7, 1))[0]
    ranker = InfluenceFunctionRanker([model], data, method="explicit", damping=damping)
    got = ranker.scores("test", np.array([4, 9]))
    net = model.network
    params = {k: v.detach() for k, v in model.checkpoints[-1].items()}
    names = list(params)

    def flat_loss(flat: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(flat, [params[k].numel() for k in names])
        p = {k: c.view_as(params[k]) for k, c in zip(names, chunks, strict=True)}
        return nn.functional.cross_entropy(torch.func.functional_call(net, p, x), y)

    theta = torch.cat([params[k].flatten() for k in names]).double()
    x_tr, y_tr = data.x_train.double(), data.y_train
    net.double()
    try:
        hess = torch.func.hessian(flat_loss)(theta, x_tr, y_tr)
        inv_h = torch.linalg.inv(hess + damping * torch.eye(len(theta), dtype=torch.float64))
        g_te = torch.stack([torch.func.grad(flat_loss)(theta, data.x_test[[j]].double(), data.y_test[[j]])
                            for j in (4, 9)])
        g_tr = torch.stack([torch.func.grad(flat_loss)(theta, x_tr[[i]], y_tr[[i]]) for i in range(6)])
    finally:
        net.float()
    expected = (g_te @ inv_h @ g_tr.T).numpy()
    np.testing.assert_allclose(got[:, :6], expected, rtol=2e-3, atol=1e-4 * np.abs(expected).max())


def test_trak_scores_with_one_and_several_checkpoints(small_lake, reference) -> None:
    one = TrakRanker(reference[:1], small_lake.data, proj_dim=128)
    two = TrakRanker(reference, small_lake.data, proj_dim=128)
    targets = np.array([1, 2, 3])
    s1, s2 = one.scores("test", targets), two.scores("test", targets)
    assert s1.shape == s2.shape == (3, small_lake.lake.d) and np.isfinite(s2).all()
    assert not np.allclose(s1, s2) and one.checkpoints == 1 and two.checkpoints == 2
    np.testing.assert_allclose(one.scores("test", targets), s1, rtol=1e-5, atol=1e-7)  # rescoring is stable


def test_trak_without_projection_equals_the_trak_formula(small_lake, reference) -> None:
    """traker with no projection on the last layer (330 parameters < d) against TRAK's estimator written out:
    τ = φ_t (ΦᵀΦ + λI)⁻¹ Φᵀ diag(1 − p), φ = ∇_θ log(p / (1 − p)) of the correct class. λ > 0 because the margin
    output is invariant to adding a constant to every logit, so ΦᵀΦ is exactly singular on the last layer. As
    traker does, gradients are divided by √P (P parameters) before λ is added, and (ΦᵀΦ + λI)⁻¹ is divided by the
    mean of its absolute entries (an arbitrary scale)."""
    data, model, lam = small_lake.data, reference[0], 1e-2
    targets = np.array([0, 6])
    got = TrakRanker([model], data, proj_dim=0, lambda_reg=lam, last_layer=True).scores("test", targets)
    net = model.network
    state = {k: v.detach().double() for k, v in model.checkpoints[-1].items()}
    names = ["net.3.weight", "net.3.bias"]

    def output(p: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = torch.func.functional_call(net, {**state, **p}, (x[None].double(),))[0]
        correct = torch.arange(logits.shape[0]) == y
        return (logits * correct).sum() - torch.logsumexp(torch.where(correct, -torch.inf, logits), 0)

    def features(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        g = torch.func.vmap(torch.func.grad(output), in_dims=(None, 0, 0))({k: state[k] for k in names}, x, y)
        return torch.cat([g[k].flatten(1) for k in names], 1)

    net.double()
    try:
        phi, phi_t = features(data.x_train, data.y_train), features(data.x_test[targets], data.y_test[targets])
        phi, phi_t = phi / phi.shape[1] ** 0.5, phi_t / phi.shape[1] ** 0.5
        with torch.no_grad():
            p = torch.softmax(net(data.x_train.double()), 1)[torch.arange(len(data.y_train)), data.y_train]
    finally:
        net.float()
    inv = torch.linalg.inv(phi.T @ phi + lam * torch.eye(phi.shape[1], dtype=phi.dtype))
    expected = (phi_t @ (inv / inv.abs().mean()) @ phi.T * (1 - p)[None, :]).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-2, atol=1e-3 * np.abs(expected).max())


@pytest.fixture(scope="module")
def fitted_lake(small_lake, tmp_path_factory):
    """A copy of the small lake with `dm fit` run on it (held-out models in fit.json)."""
    root = tmp_path_factory.mktemp("attr")
    shutil.copytree(small_lake.root, root / "small")
    cfg = small_config(root, "solve.k_lambdas=6", "solve.max_epochs=20")
    run_fit(cfg, make_fabric(cfg))
    return cfg, Lake.open(root / "small")


def test_attribution_table_on_a_fitted_lake(fitted_lake, small_lake) -> None:
    cfg, lake = fitted_lake
    targets = np.array([0, 5, 11, 17, 30, 41])
    acfg = AttributionConfig(targets=0, model_counts=(100, 0), runs=(
        {"method": "datamodels"}, {"method": "influence"}, {"method": "trak", "models": 1, "proj_dim": 128},
        {"method": "if", "method_if": "cg", "models": 1, "max_iter": 5}, {"method": "random"}))
    factory = RankerFactory(cfg, lake, small_lake.data, None, seed=0)
    table = score_attributions(cfg, lake, factory, acfg, targets, "cpu", progress=False)
    rows = table.to_pylist()
    assert [r["method"] for r in rows] == ["datamodels"] * 2 + ["influence"] * 2 + ["trak", "if", "random"]
    by = {(r["method"], json.loads(r["settings"]).get("models")): r for r in rows}
    assert len(rows) == 7 and all(r["n_targets"] == len(targets) for r in rows)
    heldout = heldout_predictions(lake, "test")
    n_fit = len(np.setdiff1d(np.arange(200), heldout.model_ids))
    assert by[("datamodels", n_fit)]["n_models_used"] == n_fit == by[("influence", n_fit)]["n_models_used"]
    assert all(r["n_heldout_models"] == len(heldout.model_ids) for r in rows)
    # the datamodels refitted on all fitting models score like `dm fit`'s own datamodels on these targets
    cols = np.searchsorted(heldout.example_ids, targets)
    sub = type(heldout)("test", heldout.model_ids, targets, heldout.predicted[:, cols], heldout.actual[:, cols],
                        heldout.valid[:, cols])
    lake_lds = next(r["value"] for r in split_metrics(sub) if r["metric"] == "lds")
    assert by[("datamodels", n_fit)]["lds"] == pytest.approx(lake_lds, abs=0.03)
    assert by[("datamodels", n_fit)]["lds"] > by[("random", None)]["lds"]
    assert by[("trak", 1)]["models_trained"] == 1 and by[("trak", 1)]["checkpoints"] == 1
    assert by[("random", None)]["models_trained"] == 0 and by[("random", None)]["calibration"] == "affine"
    assert by[("influence", 100)]["calibration"] == "bias" and by[("datamodels", 100)]["calibration"] == "native"
    assert all(r["seconds"] >= r["attribution_seconds"] > 0 for r in rows)
    # a rerun with the same inputs reuses every row
    again = score_attributions(cfg, lake, factory, acfg, targets, "cpu", progress=False)
    assert again.column("attribution_seconds").to_pylist() == table.column("attribution_seconds").to_pylist()
    # the view serves the table, and the report draws its section from the view
    from dm.lake.views import build_views, connect
    from dm.report.render import render

    build_views(lake)
    con = connect(lake)
    try:
        view = con.sql("SELECT method, settings, lds, models_trained, seconds FROM attribution_scores").fetchall()
        assert sorted(view) == sorted((r["method"], r["settings"], r["lds"], r["models_trained"], r["seconds"])
                                      for r in rows)
        section = next(s for s in render(con).sections if s.id == "attribution")
    finally:
        con.close()
    assert section.status == "ok" and "<img" in section.body and "trak" in section.body


def test_empirical_influence_run_uses_only_the_fitting_models(fitted_lake, small_lake) -> None:
    from dm.analyze.baselines.influence import InfluenceRanker, read_outputs
    from dm.analyze.views.model_split import read_model_split
    from dm.lake.bits import unpack_masks

    _, lake = fitted_lake
    roles = read_model_split(lake)
    fitting = np.union1d(roles.train, roles.val)[:100]
    ids, packed = lake.read_masks()
    _, margins = read_outputs(lake, "test")
    rows = np.searchsorted(ids, fitting)
    expected = empirical_influence(unpack_masks(packed[rows], lake.d), margins[rows][:, [3, 8]])
    got = InfluenceRanker(lake, model_ids=fitting).scores("test", np.array([3, 8]))
    np.testing.assert_allclose(got, expected.T, rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
def test_peers_on_cuda_match_cpu(small_lake, reference) -> None:
    """TRAK (traker's BasicProjector fallback unless fast_jl is installed) and dattri's CG influence functions on
    CUDA give the CPU scores (same projector seed, float32)."""
    import copy

    from dm.analyze.baselines.checkpoints import CheckpointedModel
    from dm.data.prepare import ResidentData

    data = small_lake.data
    gpu = ResidentData(*(t.cuda() for t in (data.x_train, data.y_train, data.x_test, data.y_test)), data.info)
    moved = [CheckpointedModel(m.seed, copy.deepcopy(m.network).cuda(),
                               [{k: v.cuda() for k, v in c.items()} for c in m.checkpoints], m.lrs, m.seconds)
             for m in reference]
    targets = np.array([1, 2, 3])
    for make in (lambda ms, d: TrakRanker(ms, d, proj_dim=0, lambda_reg=1e-2, last_layer=True),
                 lambda ms, d: InfluenceFunctionRanker(ms, d, method="cg", damping=0.02, max_iter=10)):
        cpu, cuda = make(reference, data).scores("test", targets), make(moved, gpu).scores("test", targets)
        np.testing.assert_allclose(cuda, cpu, rtol=2e-2, atol=2e-3 * np.abs(cpu).max())


def test_dm_eval_experiments_fill_the_attribution_table(fitted_lake) -> None:
    """run_experiments (what `dm eval` runs) scores the configured methods once `dm fit` has held models out."""
    from dm.analyze.experiments import run_experiments

    cfg, lake = fitted_lake
    small = small_config(lake.layout.root.parent, "solve.k_lambdas=6", "solve.max_epochs=20",
                         "eval.counterfactual.enabled=false", "eval.support.enabled=false",
                         "eval.mislabel.enabled=false", "eval.attribution.targets=4",
                         "eval.attribution.model_counts=[0]",
                         "eval.attribution.runs=[{method: datamodels}, {method: random}]")
    summary = run_experiments(small, lake.layout.root, progress=False)
    rows = summary["attribution"].to_pylist()
    assert [r["method"] for r in rows] == ["datamodels", "random"] and all(r["n_targets"] == 4 for r in rows)
    assert rows[0]["lds"] > rows[1]["lds"]
