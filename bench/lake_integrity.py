"""What verified, locked commits cost: part commits and full reads with and without the integrity checks.

A synthetic experiment (d train examples, n test, CIFAR-10-like by default: d=50,000, n=10,000) gets `--parts`
parts of `--models` models each. Printed side by side in one run:
  * commit: `Lake.write_part` (lock, journal, fsyncs, checksums, record) vs the same Parquet files written plainly;
  * read: every margins block through `Lake.read_margins` (checksums verified on first read) vs reading the same
    row groups with pyarrow; and a second verified read (checksums cached per file in the process);
  * `dm lake verify` (all checksums and ids, `find_problems`).

    python bench/lake_integrity.py [--d 50000] [--n-test 10000] [--models 100] [--parts 4] [--block 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from dm.lake import records
from dm.lake.margins import write_split
from dm.lake.store import Lake, PartResult
from dm.lake.verify import find_problems


def part(ids: np.ndarray, d: int, n_test: int, rng: np.random.Generator) -> PartResult:
    m = len(ids)
    return PartResult(ids, ids, rng.random((m, d)) < 0.5,
                      {"test": rng.normal(size=(m, n_test)).astype(np.float32),
                       "train": rng.normal(size=(m, d)).astype(np.float32)},
                      rng.random(m), np.ones(m), "bench")


def plain_write(lake: Lake, result: PartResult, out: Path) -> None:
    """The same margins files as a part commit (`dm.lake.margins.write_split`), with no lock, journal, fsync,
    checksum or record."""
    for split in ("test", "train"):
        blocks = [(b.first, b.length) for b in lake.target_blocks((split,))]
        write_split(out / f"{split}.parquet", result.model_ids, result.margins[split], blocks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d", type=int, default=50_000)
    ap.add_argument("--n-test", type=int, default=10_000)
    ap.add_argument("--models", type=int, default=100)
    ap.add_argument("--parts", type=int, default=4)
    ap.add_argument("--block", type=int, default=5_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        shape = {"d": args.d, "n_test": args.n_test, "num_classes": 10, "task": "classification",
                 "target_block": args.block}
        lake = Lake.create_or_open(Path(tmp) / "e", {"alpha": 0.5, "seed": 0}, shape)
        plain_dir = Path(tmp) / "plain"
        plain_dir.mkdir()
        commit_s = plain_s = 0.0
        for p in range(args.parts):
            result = part(np.arange(p * args.models, (p + 1) * args.models, dtype=np.int64), args.d, args.n_test, rng)
            t = time.perf_counter()
            lake.write_part(result)
            commit_s += time.perf_counter() - t
            t = time.perf_counter()
            plain_write(lake, result, plain_dir)
            plain_s += time.perf_counter() - t
        size = sum(f.stat().st_size for f in (Path(tmp) / "e").rglob("*.parquet")) / 2**20
        blocks = lake.target_blocks()
        records._VERIFIED.clear()
        t = time.perf_counter()
        for b in blocks:
            lake.read_margins(b.split, b.block)
        verified_s = time.perf_counter() - t
        t = time.perf_counter()
        for b in blocks:
            lake.read_margins(b.split, b.block)
        cached_s = time.perf_counter() - t
        t = time.perf_counter()
        for b in blocks:
            for key in lake.committed_parts():
                pq.ParquetFile(lake.layout.margins(b.split, key)).read_row_group(b.block)
        raw_s = time.perf_counter() - t
        records._VERIFIED.clear()
        t = time.perf_counter()
        problems = find_problems(lake)
        verify_s = time.perf_counter() - t
    n = args.parts * args.models
    print(f"{n} models in {args.parts} parts, d={args.d}, n_test={args.n_test}, {size:.0f} MiB of Parquet")
    print(f"commit : write_part {commit_s:.2f}s vs plain margins writes {plain_s:.2f}s  ratio {commit_s / plain_s:.2f}")
    print(f"read   : verified {verified_s:.2f}s vs plain row-group reads {raw_s:.2f}s  ratio {verified_s / raw_s:.2f}; "
          f"second verified read {cached_s:.2f}s  ratio {cached_s / raw_s:.2f}")
    print(f"verify : dm lake verify (all checksums and ids) {verify_s:.2f}s, {len(problems)} problems "
          f"({size / verify_s:.0f} MiB/s)")


if __name__ == "__main__":
    main()
