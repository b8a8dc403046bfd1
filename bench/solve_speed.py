"""Benchmark: ``dm.solve.fit_datamodels`` versus a per-target scikit-learn ``lasso_path`` loop.

Workload (digits default): m = 10,000 fitting models (10% validation), d = 1,347 training examples,
n = 1,797 targets (450 test + 1,347 train), α = 0.5, plus held-out models never used in fitting for LDS.
Margins are synthesized as ``mask @ θ + noise`` with a sparse θ per target (and, for train targets, a
memorization bump when the model includes the target itself, which eq. 9's exclusion must remove).

Prints, in one run: wall time and LDS of dm.solve on all targets, its certificates (converged targets, relative
duality gap and KKT residual of the refits; ``--models 1000`` gives the m < d regime, solved full-batch with
FISTA), the sklearn loop's time on a sample of
targets extrapolated per target type to all targets (same λ grid, same validation selection, same refit), the
speed ratio, LDS on the shared sample, and peak memory.

    .venv/bin/python bench/solve_speed.py [--sample 24] [--k 25] [--models 10000] [--profile]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from dataclasses import replace

import numpy as np
import torch
from sklearn.linear_model import Lasso, lasso_path

from dm.solve import SolveConfig, fit_datamodels, pack_masks, split_models


def synthesize(
    m: int, m_test: int, d: int, n_test: int, alpha: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, torch.Tensor]:
    """Return (masks [m, d] bool, y [m, n] f32, held-out masks, held-out y, target_train_ids [n])."""
    rng = np.random.default_rng(seed)
    size = round(alpha * d)
    total = m + m_test
    x = np.zeros((total, d), dtype=bool)
    keys = rng.random((total, d))
    x[np.arange(total)[:, None], np.argpartition(keys, size, axis=1)[:, :size]] = True
    n = n_test + d
    theta = rng.normal(0.0, 0.005, size=(d, n)).astype(np.float32)  # small dense background
    for j in range(n):
        idx = rng.choice(d, 30, replace=False)
        theta[idx, j] += rng.laplace(0.0, 0.15, 30)
    tids = np.concatenate([-np.ones(n_test, dtype=np.int64), np.arange(d)])
    y = x.astype(np.float32) @ theta + rng.normal(2.0, 1.0, n).astype(np.float32)
    y += rng.normal(0.0, 0.6, size=y.shape).astype(np.float32)
    train_t = np.arange(n_test, n)
    y[:, train_t] += 1.5 * x[:, tids[train_t]]  # memorization: the model saw the target itself
    return x[:m], y[:m], x[m:], y[m:], torch.from_numpy(tids)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two 1-D arrays (no ties expected in continuous data)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def lds(
    x_ho: np.ndarray, y_ho: np.ndarray, tids: np.ndarray, w: np.ndarray, b: np.ndarray, cols
) -> np.ndarray:
    """Per-target Spearman, over the held-out models a target would use (eq. 9), of predicted vs actual."""
    pred = x_ho.astype(np.float32) @ w + b
    out = []
    for k, j in enumerate(cols):
        rows = np.ones(len(x_ho), bool) if tids[j] < 0 else ~x_ho[:, tids[j]]
        out.append(spearman(pred[rows, k], y_ho[rows, j]))
    return np.array(out)


def sklearn_target(
    x: np.ndarray, y: np.ndarray, t: int, train: np.ndarray, val: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, float]:
    """The baseline a user would write for one target: lasso_path on the (eq. 9) training rows, validation
    MSE per λ, refit with Lasso at the best λ on train + validation rows, warm-started."""
    use = np.ones(len(x), bool) if t < 0 else ~x[:, t]
    tr, va = train[use[train]], val[use[val]]
    xt, yt = x[tr].astype(np.float64), y[tr].astype(np.float64)
    xm, ym = xt.mean(0), yt.mean()
    _, coefs, _ = lasso_path(xt - xm, yt - ym, alphas=grid)
    bias = ym - xm @ coefs
    mse = ((x[va].astype(np.float64) @ coefs + bias - y[va][:, None]) ** 2).mean(0)
    best = int(np.argmin(mse))
    rows = np.concatenate([tr, va])
    fit = Lasso(alpha=grid[best], warm_start=True)
    fit.coef_ = coefs[:, best].copy()
    fit.fit(x[rows].astype(np.float64), y[rows].astype(np.float64))
    return fit.coef_, float(fit.intercept_)


def _config(args: argparse.Namespace) -> SolveConfig:
    cfg = SolveConfig()
    if args.k is not None:
        cfg = replace(cfg, k_lambdas=args.k)
    if args.patience >= 0:
        cfg = replace(cfg, path_patience=args.patience or None)
    if args.batch is not None:
        cfg = replace(cfg, batch_size=args.batch)
    return cfg


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--heldout", type=int, default=1_000)
    ap.add_argument("--d", type=int, default=1_347)
    ap.add_argument("--n-test", type=int, default=450)
    ap.add_argument(
        "--sample", type=int, default=24, help="targets timed with sklearn (half test, half train)"
    )
    ap.add_argument("--k", type=int, default=None, help="λ values per path (default: SolveConfig default)")
    ap.add_argument("--patience", type=int, default=-1, help="path patience (-1: config default, 0: none)")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true", help="print a torch.profiler table of the dm.solve run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    x, y, x_ho, y_ho, tids = synthesize(args.models, args.heldout, args.d, args.n_test, 0.5, seed=0)
    n, tid_np = y.shape[1], tids.numpy()
    print(
        f"workload: m={args.models} fitting models (+{args.heldout} held out for LDS), d={args.d}, n={n} "
        f"targets ({args.n_test} test + {n - args.n_test} train), alpha=0.5; synthesized in "
        f"{time.perf_counter() - t0:.1f}s"
    )
    cfg = _config(args)
    print(
        f"dm.solve config: K={cfg.k_lambdas} ratio={cfg.lambda_ratio} patience={cfg.path_patience} "
        f"batch={cfg.batch_size} tol={cfg.tol} path_tol={cfg.path_tol} gap_tol={cfg.gap_tol} "
        f"max_epochs={cfg.max_epochs} dtype={cfg.dtype}; "
        f"torch threads={torch.get_num_threads()}; load average at start {_load()}"
    )
    packed = pack_masks(x)
    train, val = split_models(args.models, cfg.val_fraction, seed=0)
    y_t = torch.from_numpy(y)
    rss_before = _peak_mib()

    t0, c0 = time.perf_counter(), time.process_time()
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            fit = fit_datamodels(packed, y_t, tids, args.d, val, cfg)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    else:
        fit = fit_datamodels(packed, y_t, tids, args.d, val, cfg)
    t_dm, c_dm = time.perf_counter() - t0, time.process_time() - c0
    rss_dm = _peak_mib()
    lds_dm = lds(x_ho, y_ho, tid_np, fit.weights.numpy(), fit.bias.numpy(), range(n))
    print(
        f"dm.solve: {t_dm:.1f}s wall ({c_dm:.1f}s CPU) for all {n} targets = {t_dm / n * 1e3:.1f} ms/target; "
        f"LDS {lds_dm.mean():.4f}; failed {len(fit.failed)}; λ visited/target {len(fit.path) / n:.1f}; "
        f"path epochs/target {float(fit.path.epochs.sum()) / n:.1f}; "
        f"refit epochs {float(fit.epochs.mean()):.1f}; "
        f"mean nnz {float(fit.nnz.float().mean()):.0f}"
    )
    ok = torch.isfinite(fit.duality_gap)
    gap, kkt = fit.duality_gap[ok], fit.kkt[ok]
    print(
        f"certificates (refit, gap_tol {cfg.gap_tol:g}; full-batch FISTA: {args.models <= args.d}): converged "
        f"{int(fit.converged.sum())}/{n}; relative duality gap median {float(gap.median()):.1e} max "
        f"{float(gap.max()):.1e}; KKT residual / λ median {float(kkt.median()):.1e} max {float(kkt.max()):.1e}"
    )
    print(f"peak RSS: {rss_before:.0f} MiB before the solve (data, inputs), {rss_dm:.0f} MiB after it")

    rng = np.random.default_rng(1)
    half = args.sample // 2
    cols = np.concatenate(
        [
            rng.choice(args.n_test, half, replace=False),
            args.n_test + rng.choice(n - args.n_test, args.sample - half, replace=False),
        ]
    )
    train_np, val_np = train.numpy(), val.numpy()
    times, ws, bs = [], [], []
    c0 = time.process_time()
    for j in cols:
        grid = fit.lambda_max[j].item() * cfg.lambda_ratio ** -np.linspace(0.0, 1.0, cfg.k_lambdas)
        t0 = time.perf_counter()
        wj, bj = sklearn_target(x, y[:, j], int(tid_np[j]), train_np, val_np, grid)
        times.append(time.perf_counter() - t0)
        ws.append(wj)
        bs.append(bj)
    c_sk = time.process_time() - c0
    times = np.array(times)
    is_test = tid_np[cols] < 0
    per_test, per_train = times[is_test].mean(), times[~is_test].mean()
    t_sk = per_test * args.n_test + per_train * (n - args.n_test)
    c_sk_all = c_sk / times.sum() * t_sk
    lds_sk = lds(x_ho, y_ho, tid_np, np.stack(ws, 1).astype(np.float32), np.array(bs, np.float32), cols)
    lds_dm_s = lds_dm[cols]
    print(
        f"sklearn lasso_path loop (same K={cfg.k_lambdas} grid walked in full, same validation selection, "
        f"refit with Lasso on train+val): TIMED ON A SAMPLE of {len(cols)} targets "
        f"({is_test.sum()} test at {per_test:.2f}s, {(~is_test).sum()} train at {per_train:.2f}s each) and "
        f"EXTRAPOLATED per target type to {n} targets: {t_sk:.0f}s wall (~{c_sk_all:.0f}s CPU)"
    )
    print(
        f"LDS on those {len(cols)} targets: dm.solve {lds_dm_s.mean():.4f} vs sklearn {lds_sk.mean():.4f} "
        f"(diff {lds_dm_s.mean() - lds_sk.mean():+.4f}; "
        f"max per-target |diff| {np.abs(lds_dm_s - lds_sk).max():.4f})"
    )
    print(f"peak RSS at the end: {_peak_mib():.0f} MiB; load average at end {_load()}")
    print(
        f"SPEED-UP: {t_sk / t_dm:.1f}x wall (sklearn {t_sk:.0f}s extrapolated / dm.solve {t_dm:.1f}s), "
        f"{c_sk_all / c_dm:.1f}x CPU time"
    )


if __name__ == "__main__":
    main()
