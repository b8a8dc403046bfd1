"""Full datamodel fit: per-target λ path on the training split, λ selection on validation models, refit.

Steps (DESIGN.md, "The math"): λ_max,j on the training split's own (eq. 9) model set; K log-spaced λ down to
λ_max,j / ratio; warm starts along the path (each target walks its own path inside one SAGA run); validation
MSE after every λ; pick λ_j with the lowest validation MSE; refit on train + validation models at λ_j, warm
started from the path solution.
"""

from __future__ import annotations

import torch

from dm.solve.config import SolveConfig
from dm.solve.design import MaskDesign
from dm.solve.fixed import Collect
from dm.solve.kernels import select_kernels
from dm.solve.results import DatamodelFit, FailedTarget, PathLog, StageResult
from dm.solve.saga import SagaEngine
from dm.solve.validate import check_inputs, nonfinite_targets, unused_targets

__all__ = ["fit_datamodels", "split_models", "lambda_grid", "weighted_mse"]


def split_models(num_models: int, val_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random split of model rows ``0..num_models-1`` into (train ``[m_t]``, validation ``[m_v]``) int64."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    perm = torch.randperm(num_models, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(val_fraction * num_models))
    if n_val < 1 or n_val >= num_models:
        raise ValueError(f"val_fraction={val_fraction} of {num_models} models leaves an empty split")
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def lambda_grid(lambda_max: torch.Tensor, k: int, ratio: float) -> torch.Tensor:
    """``[n, k]`` log-spaced λ from ``lambda_max [n]`` down to ``lambda_max / ratio`` (column 0 = λ_max)."""
    if not ratio > 1.0:
        raise ValueError(f"lambda ratio must be > 1, got {ratio}")
    expo = torch.linspace(0.0, 1.0, k, dtype=torch.float64) if k > 1 else torch.zeros(1, dtype=torch.float64)
    return lambda_max.double()[:, None] * ratio ** (-expo.to(lambda_max.device))[None, :]


def weighted_mse(
    design: MaskDesign,
    y: torch.Tensor,
    target_train_ids: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor,
    batch_size: int,
) -> torch.Tensor:
    """``[k]`` MSE over each target's own models (eq. 9) of raw-space predictions ``mask @ weights + bias``.

    Args:
        design: masks of the evaluation models (m_e rows).
        y: ``[m_e, k]`` margins of the k targets.
        target_train_ids: int64 ``[k]``.
        weights, bias: ``[d, k]``, ``[k]`` raw-space datamodels.
    Returns NaN where a target has no evaluation model.
    """
    dt = design.dtype
    sse = torch.zeros(y.shape[1], device=y.device, dtype=torch.float64)
    cnt = torch.zeros_like(sse)
    for s in range(0, design.num_models, batch_size):
        rows = torch.arange(s, min(s + batch_size, design.num_models), device=y.device)
        w = design.weights(rows, target_train_ids)
        r = torch.addmm(bias.to(dt), design.raw_rows(rows), weights.to(dt)).sub_(y[rows].to(dt))
        sse += (w * r * r).sum(0).double()
        cnt += w.sum(0).double()
    return torch.where(cnt > 0, sse / cnt.clamp(min=1), torch.nan).to(dt)


class _PathSchedule:
    """Walks each target down its λ grid, scores each λ on validation models, keeps the best solution."""

    def __init__(
        self,
        grid: torch.Tensor,
        val: MaskDesign,
        y_val: torch.Tensor,
        tids: torch.Tensor,
        config: SolveConfig,
    ) -> None:
        n, dev, dt = grid.shape[0], y_val.device, val.dtype
        self.grid, self.val, self.y_val, self.tids, self.config = grid.to(dev), val, y_val, tids, config
        self.index = torch.zeros(n, dtype=torch.long, device=dev)
        self.best = Collect(val.num_train, n, dev, dt)
        self.best_mse = torch.full((n,), float("inf"), device=dev, dtype=dt)
        self.best_index = torch.zeros(n, dtype=torch.long, device=dev)
        self.since_best = torch.zeros(n, dtype=torch.long, device=dev)
        self.log: list[tuple[torch.Tensor, ...]] = []

    def advance(self, done: StageResult) -> torch.Tensor:
        t = done.targets
        idx = self.index[t]
        lam = self.grid[t, idx]
        val_mse = weighted_mse(
            self.val, self.y_val[:, t], self.tids[t], done.weights, done.bias, self.config.eval_batch_size
        )
        nnz = (done.weights != 0).sum(0)
        self.log.append((t, idx, lam, done.train_mse, val_mse, nnz, done.converged, done.epochs))
        better = val_mse < self.best_mse[t]
        self.best.advance(
            StageResult(
                t[better],
                done.weights[:, better],
                done.bias[better],
                done.train_mse[better],
                done.converged[better],
                done.epochs[better],
                done.gap[better],
                done.kkt[better],
            )
        )
        self.best_mse[t[better]] = val_mse[better]
        self.best_index[t[better]] = idx[better]
        self.since_best[t] = torch.where(better, 0, self.since_best[t] + 1)
        nxt = idx + 1
        stop = nxt >= self.grid.shape[1]
        if self.config.path_patience is not None:
            stop |= self.since_best[t] >= self.config.path_patience
        self.index[t] = nxt
        return torch.where(stop, torch.nan, self.grid[t, nxt.clamp(max=self.grid.shape[1] - 1)]).to(done.bias)

    def path_log(self, targets: torch.Tensor) -> PathLog:
        """The log with target ids mapped through ``targets`` (engine index -> caller's column), on CPU."""
        cols = [torch.cat(c).cpu() for c in zip(*self.log, strict=True)] if self.log else [torch.empty(0)] * 8
        return PathLog(
            target=targets[cols[0].long()] if self.log else torch.empty(0, dtype=torch.long),
            lambda_index=cols[1].long(),
            lam=cols[2],
            train_mse=cols[3],
            val_mse=cols[4],
            nnz=cols[5].long(),
            converged=cols[6].bool(),
            epochs=cols[7],
        )


def fit_datamodels(
    masks: torch.Tensor,
    y: torch.Tensor,
    target_train_ids: torch.Tensor,
    num_train: int,
    val_models: torch.Tensor,
    config: SolveConfig | None = None,
) -> DatamodelFit:
    """Fit datamodels for all targets: λ path on the training models, selection on ``val_models``, refit.

    Args:
        masks: uint8 ``[m, ceil(d/8)]`` packed masks of all fitting models (training + validation split; the
            held-out test models must not be passed).
        y: float ``[m, n]`` margins (column j = target j). NaN/inf columns are reported in ``failed``.
        target_train_ids: int64 ``[n]`` train id per target, -1 for test targets.
        num_train: d.
        val_models: int64 ``[m_v]`` row indices of the validation models (e.g. from :func:`split_models`).
        config: solver configuration.

    Returns:
        :class:`DatamodelFit` (tensors on CPU), weights/bias in raw mask space.
    """
    config = config or SolveConfig()
    check_inputs(masks, y, target_train_ids, num_train)
    m, n = y.shape
    val_models = torch.as_tensor(val_models, dtype=torch.long).flatten()
    if val_models.numel() == 0:
        raise ValueError("the validation split is empty: pass at least one validation model")
    if (
        bool(((val_models < 0) | (val_models >= m)).any())
        or val_models.unique().numel() != val_models.numel()
    ):
        raise ValueError(f"val_models must be distinct row indices in [0, {m})")
    is_val = torch.zeros(m, dtype=torch.bool)
    is_val[val_models] = True
    train_models = torch.nonzero(~is_val).squeeze(1)
    if train_models.numel() < 2:
        raise ValueError("the training split needs at least 2 models")
    device = torch.device(config.device)
    kernels = select_kernels(config.use_triton, device)
    tr = MaskDesign.build(masks[train_models], num_train, kernels, config.dtype, device)
    va = MaskDesign.build(masks[val_models], num_train, kernels, config.dtype, device)
    tids = target_train_ids.to(device)
    failed = nonfinite_targets(y) + unused_targets(tr.models_used(tids).cpu(), target_train_ids, "training")
    failed += unused_targets(va.models_used(tids).cpu(), target_train_ids, "validation")
    failed = sorted({f.target: f for f in reversed(failed)}.values(), key=lambda f: f.target)
    bad = torch.zeros(n, dtype=torch.bool)
    bad[[f.target for f in failed]] = True
    ok = torch.nonzero(~bad).squeeze(1)

    dt, d = config.dtype, num_train
    weights = torch.zeros(d, n, dtype=dt)
    out = {k: torch.full((n,), torch.nan, dtype=dt) for k in ("bias", "lam", "lambda_max", "val_mse")}
    used = torch.zeros(n, dtype=torch.long)
    converged = torch.zeros(n, dtype=torch.bool)
    epochs = torch.zeros(n, dtype=dt)
    gap = torch.full((n,), torch.nan, dtype=torch.float64)
    kkt = torch.full((n,), torch.nan, dtype=torch.float64)
    path = PathLog(*(torch.empty(0) for _ in range(8)))
    if ok.numel():
        ok_dev = ok.to(device)
        engine = SagaEngine(tr, y[train_models][:, ok], tids[ok_dev], config)
        grid = lambda_grid(engine.lambda_max, config.k_lambdas, config.lambda_ratio)
        out["lambda_max"][ok] = engine.lambda_max.cpu().to(dt)
        sched = _PathSchedule(
            grid, va, y[val_models][:, ok].to(device, dt).contiguous(), tids[ok_dev], config
        )
        engine.run(grid[:, 0], sched, tol=config.path_tol, certify=False)
        path = sched.path_log(ok)
        lam = grid[torch.arange(ok.numel(), device=device), sched.best_index]
        out["lam"][ok] = lam.cpu().to(dt)
        out["val_mse"][ok] = sched.best_mse.cpu()
        del engine
        full = MaskDesign.build(masks, num_train, kernels, config.dtype, device)
        refit = SagaEngine(full, y[:, ok], tids[ok_dev], config, sched.best.weights, sched.best.bias)
        final = Collect(d, ok.numel(), device, dt)
        refit.run(lam, final)
        weights[:, ok] = final.weights.cpu()
        out["bias"][ok] = final.bias.cpu()
        converged[ok] = final.converged.cpu()
        epochs[ok] = final.epochs.cpu()
        gap[ok] = final.gap.cpu()
        kkt[ok] = final.kkt.cpu()
        used[ok] = full.models_used(tids[ok_dev]).cpu()
    return DatamodelFit(
        weights=weights,
        bias=out["bias"],
        lam=out["lam"],
        lambda_max=out["lambda_max"],
        val_mse=out["val_mse"],
        nnz=(weights != 0).sum(0),
        n_models_used=used,
        converged=converged,
        epochs=epochs,
        duality_gap=gap,
        kkt=kkt,
        path=path,
        failed=[FailedTarget(f.target, f.reason) for f in failed],
        backend=kernels.backend,
    )
