"""solve_fixed_lambda against scikit-learn's Lasso on the same rows (raw 0/1 mask space)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso

from dm.solve import SolveConfig, solve_fixed_lambda
from tests.solve.conftest import Problem, lasso_objective, make_problem

PRECISE = SolveConfig(dtype=torch.float64, tol=1e-8, batch_size=128, max_epochs=2000)


def _sklearn(p: Problem, j: int, lam: float) -> tuple[np.ndarray, float]:
    rows = p.rows_for(j)
    fit = Lasso(alpha=lam, fit_intercept=True, tol=1e-12, max_iter=200_000).fit(
        p.x[rows].astype(float), p.y[rows, j]
    )
    return fit.coef_, float(fit.intercept_)


def _assert_matches_sklearn(p: Problem, fit, lam: float, rel: float = 1e-4) -> None:
    for j in range(p.y.shape[1]):
        rows = p.rows_for(j)
        xj, yj = p.x[rows].astype(float), p.y[rows, j]
        w, b = fit.weights[:, j].double().numpy(), float(fit.bias[j])
        w_sk, b_sk = _sklearn(p, j, lam)
        ours, ref = lasso_objective(xj, yj, w, b, lam), lasso_objective(xj, yj, w_sk, b_sk, lam)
        assert abs(ours - ref) <= rel * abs(ref), (j, lam, ours, ref)
        tiny = 1e-6 * max(np.abs(w_sk).max(), 1e-12)
        differ = (w != 0) != (w_sk != 0)
        assert not (differ & ((np.abs(w) > tiny) | (np.abs(w_sk) > tiny))).any(), (j, lam)
        assert int(fit.n_models_used[j]) == int(rows.sum())
        assert bool(fit.converged[j])


@pytest.mark.parametrize("lam", [0.003, 0.03, 0.15])
def test_matches_sklearn_for_test_and_train_targets(lam: float) -> None:
    p = make_problem(m=800, d=60, n_test=2, train_ids=[3, 41], seed=1)
    fit = solve_fixed_lambda(p.packed, torch.tensor(p.y), p.tids, 60, lam, PRECISE)
    _assert_matches_sklearn(p, fit, lam)
    for j, t in enumerate(p.tids.tolist()):
        if t >= 0:
            assert float(fit.weights[t, j]) == 0.0  # own column is constant on the models the target uses


def test_matches_sklearn_larger_problem_float32() -> None:
    p = make_problem(m=2000, d=200, n_test=2, train_ids=[7], alpha=0.3, k=15, noise=1.0, seed=2)
    cfg = SolveConfig(dtype=torch.float32, tol=1e-6, batch_size=256, max_epochs=500)
    fit = solve_fixed_lambda(p.packed, torch.tensor(p.y, dtype=torch.float32), p.tids, 200, 0.02, cfg)
    _assert_matches_sklearn(p, fit, 0.02, rel=1e-4)


def test_per_target_lambda_and_warm_start() -> None:
    p = make_problem(m=600, d=40, n_test=2, train_ids=[5], seed=3)
    lam = torch.tensor([0.01, 0.05, 0.02], dtype=torch.float64)
    cold = solve_fixed_lambda(p.packed, torch.tensor(p.y), p.tids, 40, lam, PRECISE)
    warm = solve_fixed_lambda(p.packed, torch.tensor(p.y), p.tids, 40, lam, PRECISE, cold.weights, cold.bias)
    torch.testing.assert_close(warm.weights, cold.weights, atol=1e-6, rtol=0)
    for j in range(3):
        w_sk, _ = _sklearn(p, j, float(lam[j]))
        np.testing.assert_allclose(cold.weights[:, j].numpy(), w_sk, atol=1e-5)


def test_train_target_equals_sklearn_on_the_excluding_rows_only() -> None:
    p = make_problem(m=700, d=50, n_test=0, train_ids=[0, 25, 49], seed=4)
    fit = solve_fixed_lambda(p.packed, torch.tensor(p.y), p.tids, 50, 0.02, PRECISE)
    for j in range(3):
        w_sk, b_sk = _sklearn(p, j, 0.02)
        np.testing.assert_allclose(fit.weights[:, j].numpy(), w_sk, atol=1e-5)
        assert abs(float(fit.bias[j]) - b_sk) < 1e-5
    # fitting on all rows would differ: the exclusion matters
    w_all = Lasso(alpha=0.02, tol=1e-12, max_iter=100_000).fit(p.x.astype(float), p.y[:, 1]).coef_
    assert np.abs(w_all - fit.weights[:, 1].numpy()).max() > 1e-3


def test_lambda_max_gives_all_zero_weights() -> None:
    from dm.solve.design import MaskDesign
    from dm.solve.kernels import select_kernels
    from dm.solve.saga import SagaEngine

    p = make_problem(m=500, d=30, n_test=2, train_ids=[4, 11], seed=5)
    design = MaskDesign.build(p.packed, 30, select_kernels(False, "cpu"), torch.float64, torch.device("cpu"))
    lam_max = SagaEngine(design, torch.tensor(p.y), p.tids, PRECISE).lambda_max
    for j in range(4):  # the closed form: max_k |x_kᵀ(y - ȳ)| / m_j on the target's own rows
        rows = p.rows_for(j)
        xc = p.x[rows] - p.x[rows].mean(0)
        assert (
            abs(float(lam_max[j]) - np.abs(xc.T @ (p.y[rows, j] - p.y[rows, j].mean())).max() / rows.sum())
            < 1e-10
        )
    at = solve_fixed_lambda(p.packed, torch.tensor(p.y), p.tids, 30, lam_max, PRECISE)
    assert bool((at.weights == 0).all())
    below = solve_fixed_lambda(p.packed, torch.tensor(p.y), p.tids, 30, lam_max * 0.9, PRECISE)
    assert bool(((below.weights != 0).sum(0) > 0).all())


def test_nonfinite_target_is_reported_and_others_fit() -> None:
    p = make_problem(m=500, d=30, n_test=3, train_ids=[2], seed=6)
    y = torch.tensor(p.y)
    y[10, 1] = float("nan")
    y[3, 2] = float("inf")
    fit = solve_fixed_lambda(p.packed, y, p.tids, 30, 0.02, PRECISE)
    assert [f.target for f in fit.failed] == [1, 2]
    assert "non-finite" in fit.failed[0].reason
    assert bool(torch.isnan(fit.bias[[1, 2]]).all()) and bool((fit.weights[:, [1, 2]] == 0).all())
    for j in (0, 3):
        w_sk, _ = _sklearn(p, j, 0.02)
        np.testing.assert_allclose(fit.weights[:, j].numpy(), w_sk, atol=1e-5)


def test_train_target_included_by_every_model_is_reported() -> None:
    p = make_problem(m=200, d=20, n_test=1, train_ids=[6], seed=7)
    p.x[:, 6] = True
    fit = solve_fixed_lambda(p.packed, torch.tensor(p.y), p.tids, 20, 0.02, PRECISE)
    assert [f.target for f in fit.failed] == [1] and "m_j = 0" in fit.failed[0].reason
    assert bool(torch.isfinite(fit.bias[0]))


def test_bad_inputs_raise_clear_errors() -> None:
    p = make_problem(m=50, d=20, n_test=2, train_ids=[], seed=8)
    y = torch.tensor(p.y)
    with pytest.raises(ValueError, match="rows"):
        solve_fixed_lambda(p.packed[:-1], y, p.tids, 20, 0.1)
    with pytest.raises(ValueError, match="target_train_ids"):
        solve_fixed_lambda(p.packed, y, torch.tensor([-1, -1, -1]), 20, 0.1)
    with pytest.raises(ValueError, match="train id"):
        solve_fixed_lambda(p.packed, y, torch.tensor([-1, 20]), 20, 0.1)
    with pytest.raises(ValueError, match="bytes per row"):
        solve_fixed_lambda(p.packed, y, p.tids, 30, 0.1)
    with pytest.raises(ValueError, match="lam"):
        solve_fixed_lambda(p.packed, y, p.tids, 20, -1.0)
    with pytest.raises(ValueError, match="lam"):
        solve_fixed_lambda(p.packed, y, p.tids, 20, torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="lambda_ratio"):
        SolveConfig(lambda_ratio=1.0)


def test_train_mse_is_the_in_sample_mse_of_the_weights() -> None:
    # train_mse comes from a running sum of squared stored residuals; at convergence it must equal the MSE of the
    # returned raw-space weights on each target's own models (eq. 9 rows), including after work-set compaction
    p = make_problem(m=700, d=50, n_test=3, train_ids=[2, 9, 30], seed=4)
    lam = torch.tensor([0.002, 0.2, 0.01, 0.05, 0.03, 0.3], dtype=torch.float64)  # retire at different times
    fit = solve_fixed_lambda(p.packed, torch.tensor(p.y), p.tids, 50, lam, PRECISE)
    for j in range(p.y.shape[1]):
        rows = p.rows_for(j)
        r = p.x[rows].astype(float) @ fit.weights[:, j].double().numpy() + float(fit.bias[j]) - p.y[rows, j]
        assert float(fit.train_mse[j]) == pytest.approx(float(np.mean(r**2)), rel=1e-6)
