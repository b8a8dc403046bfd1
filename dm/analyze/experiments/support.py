"""Data support by guided search (paper Alg. 1, App. F.3) and its mislabelling variant (F.4): the estimate.

For one target and one ranker the experiment retrains without (or with relabelled) top-k training examples for
each k of a grid and records the mean margin h(k). h is assumed to decrease in k: a decreasing isotonic
regression (scikit-learn) of the mean margins on k (weighted by the number of models; the control at k = 0
included) is interpolated piecewise linearly, k̂ is where it crosses 0, and the reported support is ⌈slack·k̂⌉
(slack 1.2), verified by retraining without that many examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression

FOUND, NOT_FOUND, MISCLASSIFIED = "found", "not_found", "misclassified"


@dataclass(frozen=True)
class SupportEstimate:
    """k_hat: real-valued crossing (NaN unless found); support: ⌈slack·k̂⌉ (0 if misclassified, None if not found);
    fitted: the isotonic fit at the given ks (same order as given)."""

    k_hat: float
    support: int | None
    status: str
    fitted: np.ndarray


def estimate_support(ks: np.ndarray, margins: np.ndarray, weights: np.ndarray | None = None,
                     slack: float = 1.2) -> SupportEstimate:
    """Estimate the support from mean margins `margins` [K] observed after removing ks [K] examples (k = 0 allowed).

    The crossing is the first fitted point below 0; k̂ interpolates linearly from the previous point (≥ 0). If
    the fit is already below 0 at the smallest k and that k is 0, the target is misclassified by the control
    (support 0); if it never goes below 0, the support is larger than the largest k tried (not found).
    """
    ks = np.asarray(ks, np.float64)
    margins = np.asarray(margins, np.float64)
    weights = np.ones_like(ks) if weights is None else np.asarray(weights, np.float64)
    order = np.argsort(ks, kind="stable")
    fit = IsotonicRegression(increasing=False).fit(ks[order], margins[order], sample_weight=weights[order])
    xs = np.unique(ks)
    fs = fit.predict(xs)
    fitted = fit.predict(ks)
    below = np.nonzero(fs < 0)[0]
    if len(below) == 0:
        return SupportEstimate(math.nan, None, NOT_FOUND, fitted)
    i = int(below[0])
    if i == 0:
        if xs[0] == 0:
            return SupportEstimate(0.0, 0, MISCLASSIFIED, fitted)
        k_hat = float(xs[0])  # no point above 0 to interpolate from: the smallest k tried is an upper bound
    else:
        k_hat = float(xs[i - 1] + fs[i - 1] / (fs[i - 1] - fs[i]) * (xs[i] - xs[i - 1]))
    return SupportEstimate(k_hat, max(1, math.ceil(slack * k_hat - 1e-9)), FOUND, fitted)
