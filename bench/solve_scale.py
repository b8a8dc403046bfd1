"""Benchmark: `dm fit` end to end on a CIFAR-width lake (d = 50,000 training examples) written by dm's own writer.

The lake holds `--models` models (subsets of size α·d from dm's own seeds) with margins for every target
(n_test test + d train targets), block-partitioned as `dm train` writes them. Margins of the fitted targets are
synthetic but realistic: a sparse θ_j per target (30 nonzeros) plus noise, and for a train target a memorization
bump when the model saw the target itself (which eq. 9's exclusion must remove); the other targets hold noise.
`dm fit` runs in a subprocess as job-array task 0 of `--shards`, so it fits every `--shards`-th target block
(test and train blocks; see dm.cluster.shard) and reads the lake the way a scheduled fit does.

Prints, in one run:
  - lake: write time with dm's writer, bytes per model on disk next to the raw information (d/8 bytes of mask,
    4 bytes per margin), size on disk;
  - `dm fit`: wall time, peak memory (max RSS of the subprocess), targets, LDS-style check (held-out R² of the
    fitted θ on models never used in fitting);
  - the parts of it measured alone: reading masks + margins of the fitted blocks (MB/s) and one SAGA epoch
    over all fitted targets at a fixed λ (solve_fixed_lambda, exactly --epochs epochs);
  - a projection for the paper's full problem (300,000 models x 50,000 x 60,000 targets).

    .venv/bin/python bench/solve_scale.py                     # CPU default: 4,000 models, ~1,000 targets
    .venv/bin/python bench/solve_scale.py --device cuda --models 200000 --shards 10   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from dm.cluster.shard import Shard
from dm.lake.store import Lake, PartResult
from dm.solve import SolveConfig, solve_fixed_lambda
from dm.solve.model_roles import assign_roles
from dm.train.subsets import model_seeds, subset_masks, subset_size

PAPER = {"models": 300_000, "d": 50_000, "targets": 60_000}
# dm.solve alone on one H100 (shared/gpu/README.md, dm at d383a09): 200k models x 50k x 2,000 targets, whole fit
H100_FIT = {"models": 200_000, "targets": 2_000, "seconds": 21.6}


# `dm fit` in a child that prints its own peak RSS (VmHWM) on exit: Linux keeps ru_maxrss across fork and exec,
# so RUSAGE_CHILDREN would report this process's peak (it generated the lake) if that were larger.
FIT_REPORTING_PEAK = """
import atexit, sys
from dm.cli import main
atexit.register(lambda: print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]
                              .replace('VmHWM:', 'peak_rss_kib=').replace(' kB', ''), file=sys.stderr))
sys.exit(main(sys.argv[1:]))
"""


def planted(d: int, n: int, seed: int) -> sp.csc_matrix:
    """θ [d, n]: 30 Laplace-distributed nonzeros per target (the signal a datamodel should find)."""
    rng = np.random.default_rng(seed)
    rows = np.concatenate([rng.choice(d, 30, replace=False) for _ in range(n)])
    cols = np.repeat(np.arange(n), 30)
    return sp.csc_matrix((rng.laplace(0.0, 0.15, 30 * n).astype(np.float32), (rows, cols)), shape=(d, n))


def write_lake(root: Path, args: argparse.Namespace) -> tuple[Lake, dict]:
    """A lake of args.models models written part by part with `Lake.write_part`; returns (lake, fitted targets)."""
    shape = {"d": args.d, "n_test": args.n_test, "num_classes": 10, "task": "classification",
             "target_block": args.target_block}
    identity = {"bench": "solve_scale", "alpha": args.alpha, "seed": 0}
    lake = Lake.create_or_open(root, identity, shape)
    blocks = Shard(0, args.shards).blocks(lake.target_blocks())
    fitted = {b: planted(args.d, b.length, seed=i) for i, b in enumerate(blocks)}
    rng = np.random.default_rng(1)
    size = subset_size(args.alpha, args.d)
    for first in range(0, args.models, args.part):
        ids = np.arange(first, min(first + args.part, args.models), dtype=np.int64)
        seeds = model_seeds(0, args.alpha, ids)
        masks = subset_masks(seeds, args.d, size)
        x = sp.csr_matrix(masks.astype(np.float32))
        margins = {"test": rng.normal(0, 1, (len(ids), args.n_test)).astype(np.float32),
                   "train": rng.normal(0, 1, (len(ids), args.d)).astype(np.float32)}
        for block, theta in fitted.items():
            cols = slice(block.first, block.first + block.length)
            y = (x @ theta).toarray() + 2.0 + rng.normal(0, 0.6, (len(ids), block.length))
            if block.split == "train":
                y += 1.5 * masks[:, cols]  # memorization: eq. 9 must leave these models out
            margins[block.split][:, cols] = y
        lake.write_part(PartResult(ids, seeds, masks, margins, np.full(len(ids), np.nan),
                                   np.zeros(len(ids)), "bench"))
        print(f"  wrote models {ids[0]}-{ids[-1]}", end="\r", flush=True)
    print()
    return lake, fitted


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def heldout_r2(lake: Lake, fitted: dict, test_ids: np.ndarray) -> float:
    """R² of the fitted datamodels on the held-out test models (never used in fitting), pooled over targets."""
    import pyarrow.parquet as pq

    from dm.lake.bits import unpack_masks

    ids, packed = lake.read_masks()
    rows = np.searchsorted(ids, test_ids)
    x = unpack_masks(packed[rows], lake.d).astype(np.float32)
    sse = sst = 0.0
    for block in fitted:
        _, y = lake.read_margins(block.split, block.block)
        y = y[rows]
        w = np.zeros((lake.d, block.length), np.float32)
        t = pq.read_table(lake.layout.fit_block("datamodels", block.split, block.block))
        w[t["train_id"].to_numpy(), t["example_id"].to_numpy() - block.first] = t["weight"].to_numpy()
        f = pq.read_table(lake.layout.fit_block("datamodel_fits", block.split, block.block))
        pred = x @ w + f["bias"].to_numpy(zero_copy_only=False)[None, :]
        keep = np.ones_like(y, bool)
        if block.split == "train":  # eq. 9: a train target is predicted on models that exclude it
            keep = ~x[:, block.first : block.first + block.length].astype(bool)
        sse += float((((y - pred) ** 2) * keep).sum())
        sst += float((((y - (y * keep).sum(0) / keep.sum(0)) ** 2) * keep).sum())
    return 1.0 - sse / sst


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, help="where to write the lake (default: a temporary folder, removed)")
    p.add_argument("--models", type=int, default=4000)
    p.add_argument("--d", type=int, default=50_000)
    p.add_argument("--n-test", type=int, default=1024)
    p.add_argument("--target-block", type=int, default=256)
    p.add_argument("--shards", type=int, default=50, help="fit every N-th target block (job-array task 0 of N)")
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--part", type=int, default=1000, help="models per committed part")
    p.add_argument("--k-lambdas", type=int, default=6)
    p.add_argument("--max-epochs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=2, help="extra epochs of the fixed-λ timing")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    base = args.root or Path(tempfile.mkdtemp(prefix="dm_solve_scale_"))
    root = base / "scale"
    if root.exists():
        shutil.rmtree(root)
    try:
        start = time.perf_counter()
        lake, fitted = write_lake(root, args)
        write_s = time.perf_counter() - start
        n_fit = sum(b.length for b in fitted)
        n_train_t = sum(b.length for b in fitted if b.split == "train")
        size = disk_bytes(root)
        raw = args.models * (args.d / 8 + 4 * (args.d + args.n_test))
        print(f"lake: {args.models} models x d={args.d}, {args.n_test} test + {args.d} train targets, "
              f"written in {write_s:.1f}s; {size / 1e9:.2f} GB on disk = {size / args.models / 1e3:.1f} kB/model "
              f"(raw information {raw / args.models / 1e3:.1f} kB/model: d/8 mask bytes + 4 B per margin)")

        # --- dm fit end to end, as job-array task 0 of `shards`
        overrides = [f"lake.root={base}", "lake.experiment=scale", f"lake.target_block={args.target_block}",
                     "launch.shard_index=0", f"launch.num_shards={args.shards}", f"solve.k_lambdas={args.k_lambdas}",
                     f"solve.max_epochs={args.max_epochs}"]
        if args.device != "cpu":
            overrides += ["fabric=gpu", "fabric.devices=1"]
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", FIT_REPORTING_PEAK, "fit", *overrides], capture_output=True,
                             text=True)
        fit_s = time.perf_counter() - start
        if run.returncode:
            sys.exit(f"dm fit failed:\n{run.stderr[-3000:]}")
        peak = float(run.stderr.rsplit("peak_rss_kib=", 1)[1].split()[0]) / 2**20  # KiB -> GiB
        record = json.loads((root / "fit.json").read_text())
        r2 = heldout_r2(lake, fitted, np.asarray(record["test_model_ids"]))
        print(f"dm fit: {n_fit} targets ({n_fit - n_train_t} test, {n_train_t} train with eq.-9 exclusion) "
              f"in {fit_s:.1f}s wall, peak RSS {peak:.2f} GiB, held-out R² {r2:.3f}")

        # --- the parts alone: reading the blocks, one epoch of SAGA over all fitted targets
        from dm.solve.lake_fit import read_fitting_data

        roles = assign_roles(lake.committed_ids(), 0.1, 0.1, 0)  # the solve group's defaults
        start = time.perf_counter()
        packed, y = read_fitting_data(lake, roles, list(fitted))
        read_s = time.perf_counter() - start
        read_mb = (packed.numel() + y.numel() * 4) / 1e6
        tids = torch.from_numpy(np.concatenate(
            [np.arange(b.first, b.first + b.length) if b.split == "train" else -np.ones(b.length, np.int64)
             for b in fitted]))
        lam = torch.zeros(n_fit, dtype=torch.float64)  # λ = 0: no target goes sparse and stops moving early

        def timed_solve(epochs: int) -> tuple[float, float]:
            cfg = SolveConfig(max_epochs=epochs, tol=1e-12, device=args.device)  # never converged: all epochs run
            start = time.perf_counter()
            fixed = solve_fixed_lambda(packed, y, tids, args.d, lam, cfg)
            if args.device != "cpu":
                torch.cuda.synchronize()
            return time.perf_counter() - start, float(fixed.epochs.max())

        (t1, e1), (t2, e2) = timed_solve(1), timed_solve(1 + args.epochs)
        epoch_s = (t2 - t1) / (e2 - e1)  # the difference removes the set-up (statistics, step size)
        m = packed.shape[0]
        print(f"read masks + margins of the fitted blocks: {read_mb:.0f} MB in {read_s:.2f}s "
              f"({read_mb / read_s:.0f} MB/s); one SAGA epoch over {m} models x {n_fit} targets: {epoch_s:.2f}s "
              f"({epoch_s / (m * n_fit) * 1e9:.2f} ns per model-target at d={args.d}) on {args.device}, "
              f"{torch.get_num_threads()} threads")

        # --- projection for the paper's problem: time ~ models x targets at fixed d (dense minibatch products)
        scale = (PAPER["models"] * PAPER["targets"]) / (args.models * n_fit)
        paper_read_gb = PAPER["models"] * (PAPER["d"] / 8 + 4 * PAPER["targets"]) / 1e9
        h100 = H100_FIT["seconds"] * PAPER["models"] * PAPER["targets"] / (H100_FIT["models"] * H100_FIT["targets"])
        print(f"projection, paper (300k models x 50k x 60k targets): this machine's dm fit x {scale:,.0f} = "
              f"{fit_s * scale / 86400:,.1f} days on {args.device}; one H100 from its measured dm.solve rate "
              f"(shared/gpu/README.md) ≈ {h100 / 60:.0f} min of solver; the fit reads {paper_read_gb:.0f} GB of "
              f"masks + margins, {paper_read_gb * 1e3 / (read_mb / read_s) / 60:.0f} min at this read rate")
    finally:
        if args.root is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
