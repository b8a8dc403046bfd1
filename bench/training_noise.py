"""Benchmark: how much of a model's margin is set by its training subset, and how much by its seed.

A datamodel predicts a target's margin from the subset alone, so the seed-to-seed part of the margin is noise
no datamodel can predict. For each trainer configuration this trains the same M subsets twice, with two
different init seeds / batch orders, and prints, side by side in one run:

- reliability: Spearman, across the M subsets, between the two runs' margins, averaged over the test targets.
  A perfect datamodel of the expected margin reaches an LDS of about sqrt(reliability) (the noise ceiling).
- signal / noise: variance across subsets of the two runs' mean margin, and the per-run seed variance.
- models/s and mean test accuracy.

    .venv/bin/python bench/training_noise.py [--models 500] [--config "trainer=default" ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from dm.config.compose import load_config
from dm.data.prepare import load_resident, prepare
from dm.train.runner import train_models
from dm.train.subsets import model_seeds, subset_masks, subset_size

CONFIGS = [
    "trainer=default",
    "trainer=digits_converged",
    "model=softmax trainer=digits_converged",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=500, help="subsets M, each trained twice")
    ap.add_argument("--config", action="append", help="space-separated overrides (repeatable)")
    args = ap.parse_args()
    configs = args.config or CONFIGS
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepare(load_config(["dataset=digits"]), root)
        data = load_resident(root)
        d = data.info.d
        ids = np.arange(args.models)
        seeds_a = model_seeds(0, 0.5, ids)
        seeds_b = model_seeds(0, 0.5, ids + 1_000_000)  # other init seeds and batch orders ...
        masks = subset_masks(seeds_a, d, subset_size(0.5, d))  # ... on the same subsets
        print(f"digits: d={d}, {args.models} subsets at alpha=0.5, each trained with two seeds")
        for spec in configs:
            cfg = load_config(spec.split())
            t0 = time.perf_counter()
            a = train_models(cfg, data, seeds_a, masks)
            rate = args.models / (time.perf_counter() - t0)
            b = train_models(cfg, data, seeds_b, masks)
            ya, yb = a.margins["test"], b.margins["test"]  # [M, n_test] correct-class margins
            rel = np.nanmean([spearmanr(ya[:, j], yb[:, j])[0] for j in range(ya.shape[1])])
            signal = np.var((ya + yb) / 2, axis=0).mean()
            noise = np.var(ya - yb, axis=0).mean() / 2
            print(
                f"{spec:45s} reliability {rel:.3f} (LDS ceiling ~{np.sqrt(rel):.2f}); signal var {signal:.3f}, "
                f"seed noise var {noise:.3f}; {rate:.0f} models/s; test accuracy {a.test_accuracy.mean():.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
