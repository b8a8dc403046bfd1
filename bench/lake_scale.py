"""Benchmark: interactive queries on a paper-size lake, through dm's views (API) and the `dm` CLI.

Generates, under ROOT, an experiment in dm's own layout with dm's own writers: `Lake.write_part` for models,
masks and margins (dm's subsets; margins random), the examples table, and per-block datamodel weights and fit
summaries for the test targets (`--nnz` nonzero weights each, Laplace-distributed) as `dm fit` lays them out.
Then times each query of the interactive budget table (issue 11), each in a fresh process: the first run is
"cold" (new process and connection; the OS page cache may hold the files), the median of `--runs` further runs
"warm"; max RSS of that process. The CLI figures are the wall time of `dm query`/`dm sql` subprocesses.

    .venv/bin/python bench/lake_scale.py /tmp/lake_scale               # default: fits this machine in minutes
    .venv/bin/python bench/lake_scale.py /tmp/lake_scale --paper       # 10,000 test targets, 20,000 models
    .venv/bin/python bench/lake_scale.py /tmp/lake_scale --reuse       # time an existing generated lake again
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

EXPERIMENT = "scale"
# name -> (SQL through the API, budget seconds, what it is). $-parameters are bound by `run_query`.
QUERIES: dict[str, tuple[str, float, str]] = {
    "top20_one_target": (
        "SELECT train_id, weight FROM datamodels WHERE split = 'test' AND example_id = $target "
        "ORDER BY abs(weight) DESC, train_id LIMIT 20", 0.05, "top-20 training examples of one target"),
    "counterfactual_1280": (
        "SELECT * FROM counterfactual($ids)", 0.3, "counterfactual(ids), 1,280 ids, all targets"),
    "leakage_all": ("SELECT * FROM leakage", 5.0, "leakage, all test targets"),
    "support_all": ("SELECT * FROM support", 5.0, "support, all targets"),
    "counterfactual_topk_all": ("SELECT * FROM counterfactual_topk", 5.0, "counterfactual_topk, all targets"),
    "margins_one_example": (
        "SELECT model_id, margin FROM margins WHERE split = 'test' AND example_id = $target", 0.1,
        "margins of one example across all models"),
    "margins_one_model": (
        "SELECT split, example_id, margin FROM margins WHERE model_id = $model", 0.1, "margins of one model"),
}
CLI = {  # the same questions through the command line
    "top20_one_target": ["query", "datamodel", "--param", "example_id=7", "--param", "top=20", "--limit", "20"],
    "models_count": ["sql", "SELECT count(*) FROM models"],
}
CLI_BUDGET = 0.2


def sizes(args: argparse.Namespace) -> dict[str, int]:
    if args.paper:
        return {"models": 20_000, "targets": 10_000, "d": 50_000, "nnz": 2_500}
    return {"models": args.models, "targets": args.targets, "d": args.d, "nnz": args.nnz}


def lake_sizes(root: Path) -> dict[str, int]:
    """The sizes of an existing generated lake (for --reuse)."""
    import pyarrow.parquet as pq

    from dm.lake.store import Lake

    lake = Lake.open(root)
    weights = sum(pq.ParquetFile(f).metadata.num_rows for f in root.glob("datamodels/*/*.parquet"))
    targets = lake.split_size("test")
    return {"models": len(lake.committed_ids()), "targets": targets, "d": lake.d, "nnz": weights // targets}


def generate(root: Path, n: dict[str, int], block: int, part: int) -> None:
    """Write the experiment with dm's writers (see the module docstring)."""
    from dm.lake import schema
    from dm.lake.atomic import write_atomic
    from dm.lake.fit_blocks import commit_block
    from dm.lake.fit_meta import write_fit_meta
    from dm.lake.rollups import write_block_rollups
    from dm.lake.store import Lake, PartResult
    from dm.lake.views import build_views
    from dm.train.subsets import model_seeds, subset_masks, subset_size

    d, n_test = n["d"], n["targets"]
    shape = {"d": d, "n_test": n_test, "num_classes": 10, "task": "classification", "target_block": block}
    lake = Lake.create_or_open(root, {"bench": "lake_scale", "alpha": 0.5, "seed": 0}, shape)
    rng = np.random.default_rng(0)
    labels = {"train": rng.integers(0, 10, d), "test": rng.integers(0, 10, n_test)}
    write_atomic(pa.table({"split": ["train"] * d + ["test"] * n_test,
                           "example_id": np.concatenate([np.arange(d), np.arange(n_test)]).astype(np.int32),
                           "label": np.concatenate([labels["train"], labels["test"]]).astype(np.int32),
                           "target": pa.nulls(d + n_test, pa.float64())}, schema=schema.EXAMPLES),
                 lake.layout.examples)
    start = time.perf_counter()
    size = subset_size(0.5, d)
    for first in range(0, n["models"], part):
        ids = np.arange(first, min(first + part, n["models"]), dtype=np.int64)
        seeds = model_seeds(0, 0.5, ids)
        margins = {s: rng.normal(1.5, 2.0, (len(ids), k)).astype(np.float32)
                   for s, k in (("test", n_test), ("train", d))}
        lake.write_part(PartResult(ids, seeds, subset_masks(seeds, d, size), margins,
                                   rng.uniform(0.9, 0.95, len(ids)), np.ones(len(ids)), "bench"))
        print(f"  models {ids[-1] + 1}/{n['models']} ({time.perf_counter() - start:.0f}s)", end="\r", flush=True)
    print()
    for b in lake.target_blocks(("test",)):
        k = b.length
        train_id = np.concatenate([rng.choice(d, n["nnz"], replace=False) for _ in range(k)]).astype(np.int32)
        example = np.repeat(np.arange(b.first, b.first + k), n["nnz"]).astype(np.int32)
        weight = rng.laplace(0.0, 0.01, k * n["nnz"]).astype(np.float32)
        order = np.lexsort((train_id, example))  # as `dm fit` writes them: target-major
        write_atomic(pa.table({"example_id": example[order], "train_id": train_id[order], "weight": weight[order]}),
                     lake.layout.fit_block("datamodels", "test", b.block), **schema.DATAMODELS_PARQUET)
        ids = np.arange(b.first, b.first + k, dtype=np.int32)
        bias = rng.normal(1.0, 0.5, k)
        write_atomic(pa.table({
            "example_id": ids, "bias": bias, "lambda": np.full(k, 1e-3), "val_mse": np.full(k, 0.5),
            "nnz": np.full(k, n["nnz"], np.int32), "n_models_used": np.full(k, int(0.8 * n["models"]), np.int32),
            "converged": np.ones(k, bool), "status": ["ok"] * k}),
            lake.layout.fit_block("datamodel_fits", "test", b.block))
        write_atomic(pa.table({"example_id": ids, "lambda_index": np.zeros(k, np.int32), "lambda": np.full(k, 1e-3),
                               "train_mse": np.full(k, 0.5), "val_mse": np.full(k, 0.5),
                               "nnz": np.full(k, n["nnz"], np.int32)}),
                     lake.layout.fit_block("fit_path", "test", b.block))
        write_block_rollups(lake.layout, b, (example - b.first)[order], train_id[order], weight[order], bias, d)
        commit_block(root, b, "bench")  # recorded as `dm fit` records a block
    write_fit_meta(lake.layout, {"fit_hash": "bench", "status": "done", "train_model_ids": [], "val_model_ids": [],
                                 "test_model_ids": []})
    build = build_views(lake)
    print(f"  generated in {time.perf_counter() - start:.0f}s; views: {len(build.created)} built")


def run_query(root: Path, name: str, runs: int) -> dict:
    """In this (fresh) process: the first run and `runs` more of one query; seconds, rows and max RSS."""
    from dm.lake.store import Lake
    from dm.lake.views import connect

    sql = QUERIES[name][0]
    con = connect(Lake.open(root))  # dm's sandboxed read-only connection
    d = int(con.execute("SELECT count(*) FROM examples WHERE split = 'train'").fetchone()[0])
    ids = np.random.default_rng(1).choice(d, min(1280, d), replace=False).tolist()
    params = {"target": 7, "model": 123, "ids": ids}
    params = {k: v for k, v in params.items() if f"${k}" in sql}
    times, rows = [], 0
    for _ in range(runs + 1):
        start = time.perf_counter()
        rows = con.execute(sql, params).to_arrow_table().num_rows
        times.append(time.perf_counter() - start)
    return {"cold": times[0], "warm": statistics.median(times[1:]), "rows": rows, "rss_gb": peak_rss_gb()}


def peak_rss_gb() -> float:
    """This process's peak resident set. Linux keeps `ru_maxrss` across exec (a child started by the process
    that generated the lake would report the generator's peak), so read VmHWM, which exec resets."""
    status = Path("/proc/self/status")
    if status.exists():
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 2**20  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path, help="folder for the generated lake (experiment 'scale' inside)")
    p.add_argument("--paper", action="store_true", help="10,000 test targets x d=50,000, 20,000 models")
    p.add_argument("--models", type=int, default=5_000)
    p.add_argument("--targets", type=int, default=2_000)
    p.add_argument("--d", type=int, default=50_000)
    p.add_argument("--nnz", type=int, default=2_500)
    p.add_argument("--block", type=int, default=1024, help="lake.target_block (cifar10_paper's)")
    p.add_argument("--part", type=int, default=512, help="models per committed part (cifar10_paper's chunk)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--reuse", action="store_true", help="time the lake already under ROOT")
    p.add_argument("--only", nargs="*", help="time only these queries")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: time one query in this process, print JSON
    args = p.parse_args()
    root = args.root / EXPERIMENT
    if args.one:
        print(json.dumps(run_query(root, args.one, args.runs)))
        return
    n = sizes(args) if not args.reuse else lake_sizes(root)
    if not args.reuse:
        if (root / "meta.json").exists():
            sys.exit(f"{root} exists: pass --reuse to time it, or another ROOT")
        print(f"generating {n} under {root}")
        generate(root, n, args.block, args.part)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    print(f"\n{'query':<44} {'cold s':>8} {'warm s':>8} {'budget':>7} {'rows':>10} {'RSS GB':>7}")
    for name, (_, budget, what) in QUERIES.items():
        if args.only and name not in args.only:
            continue
        out = subprocess.run([sys.executable, __file__, str(args.root), "--one", name, "--runs", str(args.runs)],
                             capture_output=True, text=True, env=env)
        if out.returncode:
            print(f"{what:<44} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = json.loads(out.stdout)
        flag = "ok" if r["warm"] <= budget else "OVER"
        print(f"{what:<44} {r['cold']:8.3f} {r['warm']:8.3f} {budget:7.2f} {r['rows']:10d} {r['rss_gb']:7.2f} {flag}")
    dm = str(Path(sys.executable).with_name("dm"))
    for argv in CLI.values():
        cmd = [dm, *argv, f"lake.root={args.root}", f"lake.experiment={EXPERIMENT}"]
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            run = subprocess.run(cmd, capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - start)
            if run.returncode:
                sys.exit(f"{' '.join(cmd)} failed: {run.stderr[-2000:]}")
        warm = statistics.median(times)
        print(f"{'CLI dm ' + ' '.join(argv[:2]):<44} {times[0]:8.3f} {warm:8.3f} {CLI_BUDGET:7.2f} {'':>10} {'':>7} "
              f"{'ok' if warm <= CLI_BUDGET else 'OVER'}")

    models = dir_bytes(root / "models") + dir_bytes(root / "masks") + dir_bytes(root / "margins")
    per_model_raw = n["d"] / 8 + 4 * (n["d"] + n["targets"])
    weights = dir_bytes(root / "datamodels") + dir_bytes(root / "datamodel_fits")
    print(f"\nbytes per model: {models / n['models'] / 1e3:.1f} kB on disk vs {per_model_raw / 1e3:.1f} kB raw "
          f"(d/8 mask + 4 B x {n['d'] + n['targets']} margins); bytes per target: {weights / n['targets'] / 1e3:.1f}"
          f" kB vs {8 * n['nnz'] / 1e3:.1f} kB raw (int32 id + float32 weight x {n['nnz']}); "
          f"lake on disk {dir_bytes(root) / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
