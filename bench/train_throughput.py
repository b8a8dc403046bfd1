"""Models/s of the multi-model Fabric loop vs one model at a time through a plain Lightning Trainer.

Both run in this process, on the same resident digits data and the digits default config, one after the
other, so the ratio is measured side by side (the machine is shared and noisy: read the ratio first).

    .venv/bin/python bench/train_throughput.py [--models 2000] [--single 10] [overrides ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dm.config.compose import load_config
from dm.data.prepare import load_resident, prepare
from dm.train.runner import train_models
from dm.train.single import train_one
from dm.train.subsets import model_seeds, subset_masks, subset_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=2000, help="models for the multi-model loop")
    parser.add_argument("--single", type=int, default=20, help="models for the one-at-a-time Trainer path")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    cfg = load_config(["experiment=digits_default", *args.overrides])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        info = prepare(cfg, root)
        data = load_resident(root)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # one-time import cost, outside both timings
    size = subset_size(cfg.subsets.alpha, info.d)

    ids = np.arange(args.models)
    seeds = model_seeds(cfg.subsets.seed, cfg.subsets.alpha, ids)
    masks = subset_masks(seeds, info.d, size)
    start = time.perf_counter()
    accs = []
    for first in range(0, args.models, cfg.trainer.models_per_process):
        part = slice(first, first + cfg.trainer.models_per_process)
        accs.append(train_models(cfg, data, seeds[part], masks[part]).test_accuracy)
    multi_s = time.perf_counter() - start
    multi_rate = args.models / multi_s

    start = time.perf_counter()
    for k in range(args.single):
        train_one(cfg, data, int(seeds[k]), masks[k])
    single_s = time.perf_counter() - start
    single_rate = args.single / single_s

    print(f"digits default: d={info.d}, alpha={cfg.subsets.alpha}, {cfg.model.name} hidden={cfg.model.hidden}, "
          f"{cfg.trainer.epochs} epochs, batch {cfg.trainer.batch_size}, {torch.get_num_threads()} threads")
    print(f"multi-model loop : {args.models:6d} models in {multi_s:7.2f} s = {multi_rate:8.1f} models/s "
          f"(groups of {cfg.trainer.models_per_process}; mean test accuracy {np.concatenate(accs).mean():.4f})")
    print(f"Lightning Trainer: {args.single:6d} models in {single_s:7.2f} s = {single_rate:8.2f} models/s")
    print(f"ratio            : {multi_rate / single_rate:.1f}x")


if __name__ == "__main__":
    main()
