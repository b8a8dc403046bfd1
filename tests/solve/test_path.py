"""fit_datamodels: λ path on the training split, validation selection, refit on train + validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso

from dm.solve import SolveConfig, fit_datamodels, split_models
from tests.solve.conftest import lasso_objective, make_problem

K = 8
CFG = SolveConfig(
    k_lambdas=K,
    lambda_ratio=50.0,
    path_patience=None,
    dtype=torch.float64,
    tol=1e-8,
    path_tol=1e-8,
    batch_size=128,
    max_epochs=2000,
)


@pytest.fixture(scope="module")
def fitted():
    p = make_problem(m=1000, d=60, n_test=3, train_ids=[5, 20], noise=1.0, seed=11)
    y = torch.tensor(p.y)
    y[0, 1] = float("nan")
    train, val = split_models(1000, 0.25, seed=0)
    return p, train.numpy(), val.numpy(), fit_datamodels(p.packed, y, p.tids, 60, val, CFG)


def test_nan_target_reported_and_others_fit(fitted) -> None:
    p, _, _, fit = fitted
    assert [f.target for f in fit.failed] == [1]
    assert bool(torch.isnan(fit.bias[1])) and bool(torch.isnan(fit.lam[1]))
    ok = [0, 2, 3, 4]
    assert bool(torch.isfinite(fit.bias[ok]).all()) and bool(fit.converged[ok].all())
    assert set(fit.path.target.tolist()) == set(ok)


def test_lambda_max_on_training_split_and_path_shape(fitted) -> None:
    p, train, _, fit = fitted
    for j in (0, 2, 3, 4):
        rows = train[p.rows_for(j)[train]]
        xc = p.x[rows] - p.x[rows].mean(0)
        lam_max = np.abs(xc.T @ (p.y[rows, j] - p.y[rows, j].mean())).max() / len(rows)
        assert abs(float(fit.lambda_max[j]) - lam_max) < 1e-10 * max(lam_max, 1.0)
        sel = fit.path.target == j
        assert fit.path.lambda_index[sel].tolist() == list(range(K))
        expected = lam_max * 50.0 ** -np.linspace(0, 1, K)
        np.testing.assert_allclose(fit.path.lam[sel].numpy(), expected, rtol=1e-10)
        assert int(fit.path.nnz[sel][0]) == 0  # λ_max gives all-zero weights
        assert bool((fit.path.train_mse[sel][1:] <= fit.path.train_mse[sel][:-1] + 1e-9).all())


def test_selection_is_validation_argmin(fitted) -> None:
    p, train, val, fit = fitted
    for j in (0, 2, 3, 4):
        sel = fit.path.target == j
        best = int(torch.argmin(fit.path.val_mse[sel]))
        assert float(fit.lam[j]) == pytest.approx(float(fit.path.lam[sel][best]), rel=1e-12)
        assert float(fit.val_mse[j]) == pytest.approx(float(fit.path.val_mse[sel][best]), rel=1e-12)
        # the logged validation MSE is the weighted MSE of sklearn's path solution on the validation models
        tr_rows = train[p.rows_for(j)[train]]
        va_rows = val[p.rows_for(j)[val]]
        sk = Lasso(alpha=float(fit.lam[j]), tol=1e-12, max_iter=200_000)
        sk.fit(p.x[tr_rows].astype(float), p.y[tr_rows, j])
        mse = np.mean((p.x[va_rows] @ sk.coef_ + sk.intercept_ - p.y[va_rows, j]) ** 2)
        assert float(fit.val_mse[j]) == pytest.approx(mse, rel=1e-5)


def test_refit_solves_eq8_on_train_plus_validation(fitted) -> None:
    p, _, _, fit = fitted
    for j in (0, 2, 3, 4):
        rows = p.rows_for(j)
        lam = float(fit.lam[j])
        sk = Lasso(alpha=lam, tol=1e-12, max_iter=200_000).fit(p.x[rows].astype(float), p.y[rows, j])
        xj, yj = p.x[rows].astype(float), p.y[rows, j]
        ours = lasso_objective(xj, yj, fit.weights[:, j].numpy(), float(fit.bias[j]), lam)
        ref = lasso_objective(xj, yj, sk.coef_, float(sk.intercept_), lam)
        assert abs(ours - ref) <= 1e-4 * ref
        assert int(fit.n_models_used[j]) == int(rows.sum())
        assert int(fit.nnz[j]) == int((fit.weights[:, j] != 0).sum())


def test_patience_stops_paths_early() -> None:
    p = make_problem(m=600, d=40, n_test=3, train_ids=[1], noise=2.0, k=3, seed=12)
    _, val = split_models(600, 0.3, seed=1)
    cfg = SolveConfig(k_lambdas=12, path_patience=2, batch_size=128, dtype=torch.float64, tol=1e-6)
    fit = fit_datamodels(p.packed, torch.tensor(p.y), p.tids, 40, val, cfg)
    for j in range(4):
        v = fit.path.val_mse[fit.path.target == j]
        best = int(torch.argmin(v))
        assert len(v) == 12 or len(v) == best + 3  # stopped after 2 non-improving λ
    assert len(fit.path) < 4 * 12


def test_validation_split_errors_and_unusable_targets() -> None:
    p = make_problem(m=100, d=20, n_test=1, train_ids=[3], seed=13)
    y = torch.tensor(p.y)
    with pytest.raises(ValueError, match="validation split is empty"):
        fit_datamodels(p.packed, y, p.tids, 20, torch.tensor([], dtype=torch.long))
    with pytest.raises(ValueError, match="val_models"):
        fit_datamodels(p.packed, y, p.tids, 20, torch.tensor([5, 5]))
    with pytest.raises(ValueError, match="val_models"):
        fit_datamodels(p.packed, y, p.tids, 20, torch.tensor([100]))
    with pytest.raises(ValueError, match="val_fraction"):
        split_models(100, 0.0)
    val = torch.arange(80, 100)
    p.x[80:, 3] = True  # every validation model includes train example 3
    fit = fit_datamodels(p.packed, y, p.tids, 20, val, SolveConfig(k_lambdas=3))
    assert [f.target for f in fit.failed] == [1] and "validation" in fit.failed[0].reason
    assert bool(torch.isfinite(fit.bias[0]))
