"""Solve eq. 8/9 at one given λ per target (the building block the path driver and the tests use)."""

from __future__ import annotations

import torch

from dm.solve.config import SolveConfig
from dm.solve.design import MaskDesign
from dm.solve.kernels import select_kernels
from dm.solve.results import FailedTarget, FixedLambdaFit, StageResult
from dm.solve.saga import SagaEngine
from dm.solve.validate import check_inputs, nonfinite_targets, unused_targets

__all__ = ["solve_fixed_lambda", "Collect"]


class Collect:
    """Schedule that retires every target after its first λ and keeps its solution.

    Attributes are filled per target (indices into the engine's targets): weights ``[d, n]``, bias, train_mse,
    converged, epochs, gap, kkt ``[n]``.
    """

    def __init__(self, d: int, n: int, device: torch.device, dtype: torch.dtype) -> None:
        self.weights = torch.zeros(d, n, device=device, dtype=dtype)
        self.bias = torch.full((n,), float("nan"), device=device, dtype=dtype)
        self.train_mse = torch.full((n,), float("nan"), device=device, dtype=dtype)
        self.converged = torch.zeros(n, dtype=torch.bool, device=device)
        self.epochs = torch.zeros(n, device=device, dtype=dtype)
        self.gap = torch.full((n,), float("nan"), device=device, dtype=torch.float64)
        self.kkt = torch.full((n,), float("nan"), device=device, dtype=torch.float64)

    def advance(self, done: StageResult) -> torch.Tensor:
        t = done.targets
        self.weights[:, t] = done.weights
        self.bias[t] = done.bias
        self.train_mse[t] = done.train_mse
        self.converged[t] = done.converged
        self.epochs[t] = done.epochs
        self.gap[t] = done.gap
        self.kkt[t] = done.kkt
        return torch.full_like(done.bias, float("nan"))


def solve_fixed_lambda(
    masks: torch.Tensor,
    y: torch.Tensor,
    target_train_ids: torch.Tensor,
    num_train: int,
    lam: float | torch.Tensor,
    config: SolveConfig | None = None,
    init_weights: torch.Tensor | None = None,
    init_bias: torch.Tensor | None = None,
) -> FixedLambdaFit:
    """Minimize eq. 8 (with the eq. 9 model exclusion for train targets) at a fixed λ_j for every target.

    Args:
        masks: uint8 ``[m, ceil(d/8)]`` bit-packed masks (little bit order), one row per model.
        y: float ``[m, n]`` margins; column j is target j. Columns with NaN/inf are reported in ``failed``.
        target_train_ids: int64 ``[n]``; train id of each target, -1 for test targets.
        num_train: d, the number of training examples.
        lam: λ (raw-mask space, eq. 8), a float or a ``[n]`` tensor; must be finite and >= 0. At λ = 0 (least
            squares) the duality-gap certificate does not apply: such a solve runs ``max_epochs`` and is reported
            not converged.
        config: solver configuration (default :class:`SolveConfig`).
        init_weights, init_bias: optional warm start ``[d, n]`` / ``[n]`` in raw space.

    Returns:
        :class:`FixedLambdaFit` with weights ``[d, n]`` and bias ``[n]`` in raw mask space (on CPU).
    """
    config = config or SolveConfig()
    check_inputs(masks, y, target_train_ids, num_train)
    n = y.shape[1]
    lam_t = torch.as_tensor(lam, dtype=torch.float64).flatten()
    if lam_t.numel() == 1:
        lam_t = lam_t.expand(n)
    if lam_t.shape != (n,) or not bool(torch.isfinite(lam_t).all()) or bool((lam_t < 0).any()):
        raise ValueError(f"lam must be a finite float >= 0 or a [{n}] tensor of them")
    device = torch.device(config.device)
    kernels = select_kernels(config.use_triton, device)
    design = MaskDesign.build(masks, num_train, kernels, config.dtype, device)
    tids = target_train_ids.to(device)
    used = design.models_used(tids)
    failed: list[FailedTarget] = nonfinite_targets(y) + unused_targets(
        used.cpu(), target_train_ids, "fitting"
    )
    bad = torch.zeros(n, dtype=torch.bool)
    bad[[f.target for f in failed]] = True
    ok = torch.nonzero(~bad).squeeze(1)
    out = Collect(num_train, n, torch.device("cpu"), config.dtype)
    if ok.numel():
        engine = SagaEngine(
            design,
            y[:, ok],
            tids[ok.to(device)],
            config,
            None if init_weights is None else init_weights[:, ok],
            None if init_bias is None else init_bias[ok],
        )
        sub = Collect(num_train, ok.numel(), device, config.dtype)
        engine.run(lam_t[ok], sub)
        out.weights[:, ok] = sub.weights.cpu()
        out.bias[ok] = sub.bias.cpu()
        out.train_mse[ok] = sub.train_mse.cpu()
        out.converged[ok] = sub.converged.cpu()
        out.epochs[ok] = sub.epochs.cpu()
        out.gap[ok] = sub.gap.cpu()
        out.kkt[ok] = sub.kkt.cpu()
    return FixedLambdaFit(
        weights=out.weights,
        bias=out.bias,
        lam=lam_t.to(config.dtype),
        n_models_used=used.cpu(),
        train_mse=out.train_mse,
        converged=out.converged,
        epochs=out.epochs,
        duality_gap=out.gap,
        kkt=out.kkt,
        failed=sorted(failed, key=lambda f: f.target),
        backend=kernels.backend,
    )
