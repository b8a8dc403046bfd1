"""The isotonic fit and zero crossing of the guided support search (paper F.3) on synthetic curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dm.analyze.experiments.support import FOUND, MISCLASSIFIED, NOT_FOUND, estimate_support


def test_linear_curve_crosses_where_it_should() -> None:
    ks = np.array([0, 10, 20, 40, 80])
    margins = 3.0 - 0.1 * ks  # crosses 0 at k = 30
    est = estimate_support(ks, margins)
    assert est.status == FOUND
    assert est.k_hat == pytest.approx(30.0)
    assert est.support == math.ceil(1.2 * 30.0) == 36
    np.testing.assert_allclose(est.fitted, margins)


def test_non_monotone_noise_is_pooled_before_the_crossing() -> None:
    # 20 -> 40 goes up: isotonic pools them to their (weighted) mean 1.0, then the fit crosses between 40 and 80
    ks = np.array([0, 10, 20, 40, 80])
    margins = np.array([4.0, 2.0, 0.5, 1.5, -1.0])
    est = estimate_support(ks, margins, slack=1.0)
    assert np.all(np.diff(est.fitted) <= 1e-12)
    np.testing.assert_allclose(est.fitted[2:4], [1.0, 1.0])
    assert est.k_hat == pytest.approx(40 + 1.0 / 2.0 * 40)  # 1.0 at 40, -1.0 at 80 -> 60
    assert est.support == 60


def test_weights_pull_the_pooled_value() -> None:
    ks = np.array([0, 10, 20])
    est = estimate_support(ks, np.array([1.0, -1.0, 1.0]), weights=np.array([1, 3, 1]))
    # 10 and 20 pool to (−3 + 1)/4 = −0.5; crossing between 0 (1.0) and 10 (−0.5) at 10·1/1.5
    assert est.k_hat == pytest.approx(10 / 1.5)


def test_never_below_zero_is_not_found() -> None:
    est = estimate_support(np.array([0, 10, 20]), np.array([5.0, 4.0, 0.1]))
    assert est.status == NOT_FOUND and est.support is None and math.isnan(est.k_hat)


def test_misclassified_control_has_support_zero() -> None:
    est = estimate_support(np.array([0, 10, 20]), np.array([-0.5, -1.0, -2.0]))
    assert est.status == MISCLASSIFIED and est.support == 0


def test_first_tried_k_already_flips_without_control_point() -> None:
    est = estimate_support(np.array([10, 20]), np.array([-0.5, -1.0]))
    assert est.status == FOUND and est.k_hat == 10 and est.support == 12


def test_unsorted_input_is_handled() -> None:
    ks = np.array([40, 0, 20, 10])
    est = estimate_support(ks, 2.0 - ks / 10.0)
    assert est.k_hat == pytest.approx(20.0)
    np.testing.assert_allclose(est.fitted, 2.0 - ks / 10.0)


def test_verify_rounding_is_up_and_on_a_coarse_grid() -> None:
    from dm.analyze.experiments.guided_search import round_up

    ks = np.arange(1, 2000)
    rounded = np.array([round_up(int(k), 8) for k in ks])
    assert (rounded >= ks).all() and (rounded <= ks * 1.125 + 1).all()
    assert set(rounded[(ks >= 64) & (ks < 128)].tolist()) == set(range(64, 129, 8))
    assert [round_up(int(k), 0) for k in ks[:50]] == ks[:50].tolist()
