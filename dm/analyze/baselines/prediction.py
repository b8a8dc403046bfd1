"""Every attribution method as a linear predictor of subset models' margins: predicted_j(mask) = a_j·(mask @ s_j) + b_j.

s_j [d] is the method's score row for target j (`Ranker.scores`). How a_j and b_j are found depends on what the
method's scores mean, given by the ranker's `calibration` attribute:

- "native": the method has its own bias in margin units (datamodels: θ_j and b_j of eq. 8); a = 1, b = its bias.
- "bias": the scores are in margin units but carry no bias (empirical influence, a difference of mean margins);
  a = 1 and b_j = mean over validation models of (actual − mask @ s_j).
- "affine": the scale is arbitrary (TRAK, influence functions, TracIn, representation similarity, random);
  a_j, b_j = the least-squares fit of actual on mask @ s_j over the validation models.

a_j and b_j are fitted on validation models only, never on held-out ones. Note a_j may come out negative for a
method whose scores point the wrong way on a target; LDS (a per-target Spearman of mask @ s_j) ignores a_j and
b_j, so it is the method's own ranking of subsets that is scored, while pooled Pearson and MSE see the
calibrated values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CALIBRATIONS = ("native", "bias", "affine")


@dataclass(frozen=True)
class LinearPredictor:
    """scores float32 [n, d]; scale, bias float64 [n]; prediction for masks [m, d]: scale * (masks @ scoresᵀ) + bias."""

    scores: np.ndarray
    scale: np.ndarray
    bias: np.ndarray
    calibration: str

    def raw(self, masks: np.ndarray) -> np.ndarray:
        """float64 [m, n]: mask @ s_j, uncalibrated (what LDS ranks)."""
        return np.asarray(masks, np.float64) @ self.scores.astype(np.float64).T

    def predict(self, masks: np.ndarray) -> np.ndarray:
        """float64 [m, n] predicted margins."""
        return self.raw(masks) * self.scale[None, :] + self.bias[None, :]


def fit_predictor(scores: np.ndarray, calibration: str, val_masks: np.ndarray | None = None,
                  val_actual: np.ndarray | None = None, native_bias: np.ndarray | None = None) -> LinearPredictor:
    """The calibrated predictor of one method for n targets.

    scores: float [n, d]; val_masks: bool [m_v, d] and val_actual: float [m_v, n] of validation models ("bias" and
    "affine"); native_bias: float [n] ("native").
    """
    scores = np.asarray(scores, np.float32)
    n = scores.shape[0]
    if calibration == "native":
        if native_bias is None:
            raise ValueError("calibration 'native' needs the method's own bias")
        return LinearPredictor(scores, np.ones(n), np.asarray(native_bias, np.float64), calibration)
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {calibration!r}")
    if val_masks is None or val_actual is None or len(val_masks) < 2:
        raise ValueError(f"calibration {calibration!r} needs at least 2 validation models")
    raw = np.asarray(val_masks, np.float64) @ scores.astype(np.float64).T  # [m_v, n]
    actual = np.asarray(val_actual, np.float64)
    if calibration == "bias":
        return LinearPredictor(scores, np.ones(n), (actual - raw).mean(axis=0), calibration)
    raw_c = raw - raw.mean(axis=0)
    var = (raw_c**2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(var > 0, (raw_c * (actual - actual.mean(axis=0))).sum(axis=0) / var, 0.0)
    return LinearPredictor(scores, scale, actual.mean(axis=0) - scale * raw.mean(axis=0), calibration)
