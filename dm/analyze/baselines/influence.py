"""Empirical influence (paper eq. 15, Feldman & Zhang) from the lake's subset models, as a ranker.

infl[i, j] = mean over models containing train example i of output_j − mean over models without it, where the
output is the correct-class margin (default) or correctness 1{margin > 0} (the paper's eq. 15). By Lemma 1 this
is, at α = 1/2 and m → ∞, a rescaled least-squares datamodel. Computed for all targets of a split at once as
masksᵀ @ outputs, streamed over chunks of models so the unpacked masks never have to fit in memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dm.lake.bits import unpack_masks
from dm.lake.store import Lake


def empirical_influence(masks: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """float32 [d, n]: difference of means of `outputs` [m, n] between models with and without each train example.

    masks: bool [m, d]. Examples that are in every model or in none get influence 0.
    """
    x = np.asarray(masks, dtype=np.float64)
    y = np.asarray(outputs, dtype=np.float64)
    sums = _InfluenceSums(x.shape[1], y.shape[1])
    sums.add(x, y)
    return sums.influence()


class _InfluenceSums:
    """Running Σ_in y, Σ y and counts over chunks of models."""

    def __init__(self, d: int, n: int):
        self.s_in = np.zeros((d, n))
        self.total = np.zeros(n)
        self.n_in = np.zeros(d)
        self.m = 0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        self.s_in += x.T @ y
        self.total += y.sum(axis=0)
        self.n_in += x.sum(axis=0)
        self.m += len(y)

    def influence(self) -> np.ndarray:
        n_out = self.m - self.n_in
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_in = self.s_in / self.n_in[:, None]
            mean_out = (self.total[None, :] - self.s_in) / n_out[:, None]
            infl = mean_in - mean_out
        infl[(self.n_in == 0) | (n_out == 0)] = 0.0
        return infl.astype(np.float32)


def read_outputs(lake: Lake, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(model_ids int64 [m], margins float32 [m, n_split]) of every committed model, all target blocks joined."""
    ids, blocks = None, []
    for block in lake.target_blocks((split,)):
        block_ids, values = lake.read_margins(split, block.block)
        if ids is not None and not np.array_equal(ids, block_ids):
            raise RuntimeError(f"margins blocks of split {split} hold different models")
        ids = block_ids
        blocks.append(values)
    return ids, np.concatenate(blocks, axis=1)


class InfluenceRanker:
    """Empirical influence of every train example on targets of a split, from the lake's masks and margins."""

    name = "influence"
    calibration = "bias"  # margin units (a difference of mean margins), no bias of its own

    def __init__(self, lake: Lake | Path | str, output: str = "margin", chunk_models: int = 4096,
                 model_ids: np.ndarray | None = None):
        """model_ids: the lake models to estimate from (default all; `dm eval`'s LDS passes the fitting models
        only, so that held-out models never enter the estimate)."""
        if output not in ("margin", "correct"):
            raise ValueError(f"influence output must be 'margin' or 'correct', got {output!r}")
        self.lake = lake if isinstance(lake, Lake) else Lake.open(Path(lake))
        self.output = output
        self.chunk_models = chunk_models
        self.model_ids = None if model_ids is None else np.unique(np.asarray(model_ids, np.int64))
        self._cache: dict[str, np.ndarray] = {}

    def matrix(self, split: str) -> np.ndarray:
        """float32 [d, n_split] influence of every train example on every target of `split` (cached)."""
        if split not in self._cache:
            model_ids, packed = self.lake.read_masks()
            margin_ids, margins = read_outputs(self.lake, split)
            if not np.array_equal(model_ids, margin_ids):
                raise RuntimeError("masks and margins of the lake hold different models")
            if self.model_ids is not None:
                keep = np.isin(model_ids, self.model_ids)
                if keep.sum() != len(self.model_ids):
                    raise RuntimeError("some requested models are not in the lake")
                model_ids, packed, margins = model_ids[keep], packed[keep], margins[keep]
            y = (margins > 0).astype(np.float64) if self.output == "correct" else margins.astype(np.float64)
            sums = _InfluenceSums(self.lake.d, y.shape[1])
            for first in range(0, len(model_ids), self.chunk_models):
                x = unpack_masks(packed[first : first + self.chunk_models], self.lake.d).astype(np.float64)
                sums.add(x, y[first : first + self.chunk_models])
            self._cache[split] = sums.influence()
        return self._cache[split]

    def scores(self, split: str, ids: np.ndarray) -> np.ndarray:
        """float32 [len(ids), d]."""
        return np.ascontiguousarray(self.matrix(split)[:, np.asarray(ids, np.int64)].T)
