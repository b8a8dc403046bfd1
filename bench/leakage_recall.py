"""Leakage benchmark: how often does each ranker put a planted train→test copy at the top?

Builds a digits variant where some test images are exact or noisy copies of known training images (an .npz read
by `dataset=npz`), trains the subset models, fits datamodels for the planted test targets, and prints recall@1/5/10
of the planted source among each ranker's top-k training examples (datamodels and every baseline), side by side,
separately for exact and noisy copies. No pass/fail threshold: it reports figures.

Datamodels are fitted with scikit-learn LASSO (`dm.analyze.baselines.lasso`) for the planted targets only: the
SAGA solver's `dm fit` command is not wired up yet. Usage:

    python bench/leakage_recall.py [--models 3000] [--planted 100] [--noise 1.0] [--root /tmp/dm_leakage]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dm.analyze.baselines import RankerFactory, fit_lasso_weights, ranking
from dm.config.compose import load_config
from dm.data.prepare import load_resident
from dm.data.sources import load_digits_dataset
from dm.lake.store import Lake
from dm.train.runner import experiment_root, run_train

KS = (1, 5, 10)


def plant_copies(path: Path, n_planted: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write the leaky digits .npz; returns (planted test ids, their source train ids, is_exact) as int/bool [n]."""
    ds = load_digits_dataset()
    rng = np.random.default_rng(seed)
    test_ids = np.sort(rng.choice(len(ds.x_test), n_planted, replace=False))
    sources = rng.choice(len(ds.x_train), n_planted, replace=False)
    exact = np.arange(n_planted) < n_planted // 2
    x_test, y_test = ds.x_test.copy(), ds.y_test.copy()
    copies = ds.x_train[sources].copy()
    copies[~exact] = np.clip(copies[~exact] + rng.normal(0.0, noise, copies[~exact].shape), 0.0, 16.0)
    x_test[test_ids], y_test[test_ids] = copies, ds.y_train[sources]
    np.savez(path, x_train=ds.x_train, y_train=ds.y_train, x_test=x_test, y_test=y_test, num_classes=10)
    return test_ids, sources, exact


def recall_at(order: np.ndarray, sources: np.ndarray, k: int) -> np.ndarray:
    """bool [n]: is each target's source among the first k of its ranking (order int64 [n, d])."""
    return (order[:, :k] == sources[:, None]).any(axis=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=3000, help="subset models to train (alpha=0.5)")
    parser.add_argument("--planted", type=int, default=100, help="test images replaced by copies (half exact)")
    parser.add_argument("--noise", type=float, default=1.0, help="std of the noise of noisy copies (pixels 0..16)")
    parser.add_argument("--root", type=Path, default=None, help="lake root (default: a temporary directory)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix="dm_leakage_"))
    root.mkdir(parents=True, exist_ok=True)
    npz = root / "digits_leaky.npz"
    targets, sources, exact = plant_copies(npz, args.planted, args.noise, args.seed)
    cfg = load_config(["dataset=npz", f"dataset.path={npz}", f"subsets.num_models={args.models}",
                       f"lake.root={root}", "lake.experiment=leakage"])
    start = time.perf_counter()
    run_train(cfg)
    lake = Lake.open(experiment_root(cfg))
    print(f"trained {len(lake.committed_ids())} models in {time.perf_counter() - start:.0f}s")
    start = time.perf_counter()
    weights = fit_lasso_weights(lake, "test", targets)
    print(f"fitted LASSO datamodels for {len(targets)} planted targets in {time.perf_counter() - start:.0f}s")
    data = load_resident(lake.layout.root)
    factory = RankerFactory(cfg, lake, data, weights, {"tracin": {"models": 3}, "nearest": {"models": 1}},
                            seed=args.seed)
    header = f"{'ranker':<11}" + "".join(f"{f'{kind} R@{k}':>13}" for kind in ("exact", "noisy") for k in KS)
    print(f"\nrecall of the planted source ({exact.sum()} exact, {(~exact).sum()} noisy copies, noise std "
          f"{args.noise}, {len(lake.committed_ids())} models)\n{header}")
    for name in ("datamodels", "influence", "nearest", "tracin", "random"):
        order = ranking(factory.get(name).scores("test", targets))
        cells = [recall_at(order, sources, k)[sel].mean() for sel in (exact, ~exact) for k in KS]
        print(f"{name:<11}" + "".join(f"{c:>13.2f}" for c in cells))


if __name__ == "__main__":
    main()
