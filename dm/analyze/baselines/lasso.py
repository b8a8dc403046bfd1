"""A small-scale stand-in for `dm fit`: scikit-learn LASSO datamodels (eq. 8/9) for a few chosen targets.

For tests, benchmarks and `eval.weights=lasso` before the SAGA solver has written weights. Margins are
standardised per target so one λ grid (log-spaced from the largest λ_max down by `ratio`) serves every target;
λ_j is picked by MSE on a held-out fraction of the models, then the target is refitted on all of them at λ_j.
Weights and bias are returned in raw 0/1 mask space (prediction = mask @ w + b).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.linear_model import Lasso

from dm.analyze.baselines.influence import read_outputs
from dm.analyze.baselines.weights import DatamodelWeights
from dm.lake.bits import unpack_masks
from dm.lake.store import Lake


def fit_lasso(masks: np.ndarray, outputs: np.ndarray, n_lambdas: int = 12, ratio: float = 100.0,
              val_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit one LASSO datamodel per column of outputs.

    masks: bool [m, d]; outputs: float [m, n]. Returns (W float32 [d, n], bias float32 [n], λ float64 [n]) with λ
    in raw margin units (the λ of eq. 8).
    """
    x = np.asarray(masks, np.float64)
    y = np.asarray(outputs, np.float64)
    m = len(y)
    scale = y.std(axis=0)
    scale[scale == 0] = 1.0
    ys = (y - y.mean(axis=0)) / scale
    xc = x - x.mean(axis=0)
    lam_max = float(np.abs(xc.T @ ys).max() / m) if m else 1.0
    grid = np.geomspace(lam_max, lam_max / ratio, n_lambdas)
    perm = np.random.default_rng(seed).permutation(m)
    n_val = max(1, int(round(val_fraction * m)))
    val, tr = perm[:n_val], perm[n_val:]
    model = Lasso(alpha=grid[0], warm_start=True, precompute=True, max_iter=2000, tol=1e-4)
    val_mse = np.empty((n_lambdas, y.shape[1]))
    for i, lam in enumerate(grid):
        model.set_params(alpha=lam).fit(x[tr], ys[tr])
        val_mse[i] = ((model.predict(x[val]).reshape(len(val), -1) - ys[val]) ** 2).mean(axis=0)
    best = val_mse.argmin(axis=0)
    w = np.zeros((x.shape[1], y.shape[1]), np.float32)
    b = np.zeros(y.shape[1], np.float32)
    for i in np.unique(best):
        cols = np.nonzero(best == i)[0]
        fit = Lasso(alpha=grid[i], precompute=True, max_iter=2000, tol=1e-4).fit(x, ys[:, cols])
        # fitted on standardised margins: y = scale * (x @ coef + c) + mean
        w[:, cols] = fit.coef_.reshape(len(cols), -1).T * scale[cols]
        b[cols] = np.atleast_1d(fit.intercept_) * scale[cols] + y.mean(axis=0)[cols]
    return w, b, grid[best] * scale


def fit_lasso_weights(lake: Lake | Path | str, split: str, ids: np.ndarray, **kwargs) -> DatamodelWeights:
    """DatamodelWeights for targets `ids` of `split` (others: zero weights, NaN bias), fitted from the lake.

    Train-split targets use only the models whose subset excludes them (eq. 9).
    """
    lake = lake if isinstance(lake, Lake) else Lake.open(Path(lake))
    ids = np.asarray(ids, np.int64)
    model_ids, packed = lake.read_masks()
    margin_ids, margins = read_outputs(lake, split)
    if not np.array_equal(model_ids, margin_ids):
        raise RuntimeError("masks and margins of the lake hold different models")
    masks = unpack_masks(packed, lake.d)
    n = lake.split_size(split)
    out = DatamodelWeights(lake.d, {split: np.zeros((lake.d, n), np.float32)}, {split: np.full(n, np.nan, np.float32)})
    if split == "test":
        w, b, _ = fit_lasso(masks, margins[:, ids], **kwargs)
        out.weights[split][:, ids], out.bias[split][ids] = w, b
        return out
    for j in ids:
        keep = ~masks[:, j]
        w, b, _ = fit_lasso(masks[keep], margins[keep][:, [j]], **kwargs)
        out.weights[split][:, j], out.bias[split][j] = w[:, 0], b[0]
    return out
