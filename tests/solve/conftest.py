"""Shared fixtures for the solver tests: small synthetic datamodel problems."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from dm.solve import pack_masks


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """Tiny problems run faster (and immune to a busy co-tenant) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class Problem:
    """Masks ``x`` bool [m, d] with fixed subset size round(alpha d), margins ``y`` [m, n], train ids [n]."""

    x: np.ndarray
    y: np.ndarray
    tids: torch.Tensor

    @property
    def packed(self) -> torch.Tensor:
        return pack_masks(self.x)

    def rows_for(self, j: int) -> np.ndarray:
        """Bool [m]: the models target j uses (eq. 9)."""
        t = int(self.tids[j])
        return np.ones(self.x.shape[0], bool) if t < 0 else ~self.x[:, t]


def make_problem(
    m: int,
    d: int,
    n_test: int,
    train_ids: list[int],
    alpha: float = 0.5,
    k: int = 8,
    noise: float = 0.5,
    seed: int = 0,
) -> Problem:
    """Sparse ground truth (k nonzeros per target) plus Gaussian noise; test targets first, then train."""
    rng = np.random.default_rng(seed)
    size = round(alpha * d)
    x = np.zeros((m, d), bool)
    for i in range(m):
        x[i, rng.choice(d, size, replace=False)] = True
    n = n_test + len(train_ids)
    theta = np.zeros((d, n))
    for j in range(n):
        theta[rng.choice(d, k, replace=False), j] = rng.normal(0.0, 1.0, k)
    y = x @ theta + noise * rng.normal(size=(m, n)) + rng.normal(size=n)
    return Problem(x, y, torch.tensor([-1] * n_test + list(train_ids), dtype=torch.long))


def lasso_objective(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, lam: float) -> float:
    """Eq. 8 (= sklearn's Lasso objective): (1/2m)‖y - Xw - b‖² + λ‖w‖₁ in raw mask space."""
    r = y - x @ w - b
    return float(0.5 * np.mean(r * r) + lam * np.abs(w).sum())
