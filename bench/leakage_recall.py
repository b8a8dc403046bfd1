"""Leakage benchmark: how often does each ranker put a planted train→test copy at the top?

Builds a digits variant where some test images are exact or noisy copies of known training images (an .npz read
by `dataset=npz`), trains the subset models, fits datamodels for the planted test targets, and prints recall@1/5/10
of the planted source among each ranker's top-k training examples (datamodels and every baseline), side by side,
separately for exact and noisy copies. No pass/fail threshold: it reports figures.

Datamodels are fitted for every target by the SAGA solver (`dm fit`, the default) or, with `--weights lasso`,
by scikit-learn LASSO for the planted targets only. The `leakage` view's candidates (rank, train_id) are scored
the same way as the rankers. Usage:

    python bench/leakage_recall.py [--models 10000] [--planted 100] [--noise 1.0] [--weights saga|lasso]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from dm.analyze.baselines import RankerFactory, fit_lasso_weights, load_weights, ranking
from dm.config.compose import load_config
from dm.data.prepare import load_resident
from dm.data.sources import load_digits_dataset
from dm.lake.store import Lake
from dm.lake.views import build_views, connect
from dm.solve.lake_fit import run_fit
from dm.train.runner import experiment_root, make_fabric, run_train

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


def leakage_view_order(lake: Lake, targets: np.ndarray) -> np.ndarray:
    """int64 [n, 10]: the `leakage` view's candidates per planted target by rank (-1 where it has fewer)."""
    build_views(lake)
    con = connect(lake)
    rows = con.execute("SELECT example_id, rank, train_id FROM leakage WHERE list_contains($ids, example_id)",
                       {"ids": targets.tolist()}).fetchall()
    con.close()
    order = np.full((len(targets), 10), -1, dtype=np.int64)
    where = {int(t): i for i, t in enumerate(targets)}
    for example_id, rank, train_id in rows:
        if rank <= 10:
            order[where[example_id], rank - 1] = train_id
    return order


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=10000, help="subset models to train (alpha=0.5)")
    parser.add_argument("--weights", choices=("saga", "lasso"), default="saga", help="how datamodels are fitted")
    parser.add_argument("--planted", type=int, default=100, help="test images replaced by copies (half exact)")
    parser.add_argument("--noise", type=float, default=1.0, help="std of the noise of noisy copies (pixels 0..16)")
    parser.add_argument("--root", type=Path, default=None, help="lake root (default: a temporary directory)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--trainer", default="digits_converged", help="trainer config group (default: dm run's)")
    args = parser.parse_args(argv)
    root = args.root or Path(tempfile.mkdtemp(prefix="dm_leakage_"))
    root.mkdir(parents=True, exist_ok=True)
    npz = root / "digits_leaky.npz"
    targets, sources, exact = plant_copies(npz, args.planted, args.noise, args.seed)
    cfg = load_config(["dataset=npz", f"dataset.path={npz}", f"subsets.num_models={args.models}",
                       f"trainer={args.trainer}", f"lake.root={root}", "lake.experiment=leakage"])
    start = time.perf_counter()
    run_train(cfg)
    lake = Lake.open(experiment_root(cfg))
    print(f"trained {len(lake.committed_ids())} models in {time.perf_counter() - start:.0f}s")
    start = time.perf_counter()
    view_order = None
    if args.weights == "lasso":
        weights = fit_lasso_weights(lake, "test", targets)
        print(f"fitted LASSO datamodels for {len(targets)} planted targets in {time.perf_counter() - start:.0f}s")
    else:
        run_fit(cfg, make_fabric(cfg))
        weights = load_weights(lake, ("test",))
        print(f"fitted datamodels for every target with dm fit in {time.perf_counter() - start:.0f}s")
        view_order = leakage_view_order(lake, targets)
    data = load_resident(lake.layout.root)
    factory = RankerFactory(cfg, lake, data, weights, {"tracin": {"models": 3}, "nearest": {"models": 1}},
                            seed=args.seed)
    header = f"{'ranker':<11}" + "".join(f"{f'{kind} R@{k}':>13}" for kind in ("exact", "noisy") for k in KS)
    print(f"\nrecall of the planted source ({exact.sum()} exact, {(~exact).sum()} noisy copies, noise std "
          f"{args.noise}, {len(lake.committed_ids())} models)\n{header}")
    if view_order is not None:
        cells = [recall_at(view_order, sources, k)[sel].mean() for sel in (exact, ~exact) for k in KS]
        print(f"{'view:leakage':<11}" + "".join(f"{c:>13.2f}" for c in cells))
    for name in ("datamodels", "influence", "nearest", "tracin", "random"):
        order = ranking(factory.get(name).scores("test", targets))
        cells = [recall_at(order, sources, k)[sel].mean() for sel in (exact, ~exact) for k in KS]
        print(f"{name:<11}" + "".join(f"{c:>13.2f}" for c in cells))


if __name__ == "__main__":
    main()
