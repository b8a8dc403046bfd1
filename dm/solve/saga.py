"""Minibatch proximal SAGA for many LASSO targets sharing one design matrix.

For every target j the engine minimizes the eq. 8/9 objective in standardized coordinates with an explicit,
unpenalized intercept ``a_j`` (the "augment" approach)::

    (1/m) Σ_i w_ij · ½ (z_iᵀ v_j + a_j - y_ij)²  +  λ'_j Σ_k inv_std_k |v_jk|,     λ'_j = λ_j · m_j / m

which equals (m_j/m) times eq. 8 after the exact change of variables θ = v * inv_std, b = a - meanᵀθ. So the
minimizer is eq. 8's minimizer in raw mask space for every target's own model set (w_ij = 1 - x_{i,t_j} for
train targets, 1 for test targets), whatever the centering; centering with the all-model mean only conditions
the problem. Running every target on the (1/m)-normalized sum lets all targets share one step size. For train
targets the coefficient of the target's own train id multiplies a column that is constant on its models, so it
is pinned to 0 (an L1 solution never puts weight there).

Per minibatch B (b rows): R = w ∘ (Z_B V + a - Y_B); δ = R - A_B (A: stored residual table, m × n);
V <- prox(V - η (Z_Bᵀδ / b + Zᵀ A / m)); a <- a - η (Σδ / b + Σ A / m); A_B <- R. ``Zᵀ A`` and ``Σ A`` are
kept as running sums. Every target walks its own λ schedule: when a target's coefficients stop moving it hands
its solution to the schedule and continues at the next λ (warm start, same residual table) or leaves the work
set, which is then compacted.

Certificates (refit and fixed-λ solves): coefficient movement only says SAGA has slowed down, which on
ill-conditioned problems (fewer models than training examples, small λ) happens far from the optimum. So when a
target's movement test passes, :meth:`SagaEngine.certificate` computes its relative duality gap (an upper bound on
the relative distance of eq. 8's objective to its minimum) in one exact pass over the models; the target is
converged only when the gap is at most ``config.gap_tol``. Otherwise its tolerances are divided by 4 and it keeps
running (up to ``max_epochs``), so a target is certified again only after real progress.

Full batch (``config.full_batch``; by default when m <= d, where eq. 8 is not strongly convex): every step takes
all models (products still ``batch_size`` rows at a time), so SAGA's estimate is the exact gradient and the step is
proximal gradient descent, accelerated by FISTA momentum with adaptive restart (:meth:`SagaEngine._momentum`).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch

from dm.solve.aligned import aligned_copy, aligned_empty, aligned_zeros
from dm.solve.config import SolveConfig
from dm.solve.design import MaskDesign
from dm.solve.results import StageResult

__all__ = ["Schedule", "SagaEngine"]


class Schedule(Protocol):
    """Decides what a target does after finishing a λ value."""

    def advance(self, done: StageResult) -> torch.Tensor:
        """Return ``[k]`` next λ per finished target (raw space), NaN to retire the target."""
        ...


class SagaEngine:
    """SAGA state for ``n`` targets over one :class:`MaskDesign` (all tensors on the design's device).

    Args:
        design: packed masks of the m models of this solve, with column statistics.
        y: ``[m, n]`` finite margins (row i = model i of ``design``).
        target_train_ids: int64 ``[n]``; train id per target, -1 for test targets. Every train target must
            be excluded by at least one model (m_j > 0).
        config: solver configuration.
        init_weights, init_bias: optional raw-space warm start ``[d, n]``, ``[n]``; default θ = 0 and b = the
            weighted mean margin ȳ_j.

    After construction (two passes over the models) ``lambda_max`` holds λ_max,j = max_k |x̃_kᵀ(y_j - ȳ_j)| /
    m_j on each target's own centered model set (valid for the cold start only) and ``models_used`` holds m_j.
    """

    def __init__(
        self,
        design: MaskDesign,
        y: torch.Tensor,
        target_train_ids: torch.Tensor,
        config: SolveConfig,
        init_weights: torch.Tensor | None = None,
        init_bias: torch.Tensor | None = None,
    ) -> None:
        self.config = config
        dev, dt = design.packed.device, design.dtype
        self.m, self.d, self.n = design.num_models, design.num_train, y.shape[1]
        self.gen = torch.Generator(device="cpu").manual_seed(config.seed)
        self.design = design
        self.y = y.to(dev, dt).contiguous()
        self.tids = target_train_ids.to(dev)
        self.targets = torch.arange(self.n, device=dev)
        self.models_used = design.models_used(self.tids)
        self._stats_pass()
        if init_weights is None:
            self.v = aligned_zeros(self.d, self.n, dev, dt)
            self.a = self.y_mean.clone()
        else:
            w0 = init_weights.to(dev, dt) * (design.inv_std > 0).to(dt)[:, None]
            self.v = aligned_copy(w0 * design.std[:, None])
            self.a = init_bias.to(dev, dt) + design.mean @ w0
        # one minibatch = all models: SAGA is exact proximal gradient; accelerate it (FISTA with adaptive restart)
        full = config.full_batch
        self.accelerated = self.m <= config.batch_size or (self.m <= self.d if full == "auto" else bool(full))
        self.chunk = min(config.batch_size, self.m)  # rows per product (the full batch is summed over chunks)
        self.batch = b = self.m if self.accelerated else self.chunk
        self.t = torch.ones(self.n, device=dev, dtype=dt)  # FISTA's t_k per target
        self.x_prev = (self.v.clone(), self.a.clone()) if self.accelerated else None
        self._scratch()
        self.lambda_max = self._init_pass()
        big_l, l_max = design.smoothness(seed=config.seed)
        m = self.m
        l_b = (m * (b - 1) * big_l + (m - b) * l_max) / (b * max(m - 1, 1)) if m > 1 else l_max
        self.step = config.step_scale / l_b

    def _scratch(self) -> None:
        """Row-aligned outputs of the two minibatch products (``[chunk, n]`` residuals, ``[d, n]`` gradient)."""
        dev, dt = self.y.device, self.design.dtype
        self.r_buf = aligned_empty(self.chunk, self.n, dev, dt)
        self.g_buf = aligned_empty(self.d, self.n, dev, dt)

    def _batches(self, batch: int) -> list[tuple[int, int]]:
        return [(s, min(s + batch, self.m)) for s in range(0, self.m, batch)]

    def _stats_pass(self) -> None:
        """ȳ_j and the margin standard deviation over each target's own models (scale for the tolerance), and
        the eq.-9 usage table: uint8 ``[m, n]`` w_ij (None when every target is a test target, w = 1), so that
        a minibatch gathers whole rows instead of one bit per (model, target)."""
        dev = self.y.device
        s1 = torch.zeros(self.n, device=dev, dtype=torch.float64)
        s2 = torch.zeros_like(s1)
        has_train = bool((self.tids >= 0).any())
        self.usage = torch.empty(self.m, self.n, device=dev, dtype=torch.uint8) if has_train else None
        for start, stop in self._batches(4096):
            w = self.design.weights(torch.arange(start, stop, device=dev), self.tids)
            if self.usage is not None:
                self.usage[start:stop] = w
            wy = w * self.y[start:stop]
            s1 += wy.sum(0, dtype=torch.float64)
            s2 += (wy * self.y[start:stop]).sum(0, dtype=torch.float64)
        mj = self.models_used.double().clamp(min=1)
        mean = s1 / mj
        self.y_mean = mean.to(self.design.dtype)
        self.y_scale = (s2 / mj - mean * mean).clamp(min=0).sqrt().to(self.design.dtype)

    def _init_pass(self) -> torch.Tensor:
        """Fill the residual table at the initial iterate; return λ_max,j (meaningful for a cold start)."""
        dev, dt = self.y.device, self.design.dtype
        self.table = torch.empty(self.m, self.n, device=dev, dtype=dt)
        self.grad_sum = aligned_zeros(self.d, self.n, dev, dt)
        cold = not bool(self.v.any())
        for start, stop in self._batches(self.chunk):
            rows = torch.arange(start, stop, device=dev)
            z = self.design.rows(rows)
            r = self.r_buf[: stop - start]
            if cold:  # θ = 0: the residual is a - y, no forward product needed
                torch.sub(self.a, self.y[start:stop], out=r)
            else:
                torch.addmm(self.a, z, self.v, out=r).sub_(self.y[start:stop])
            if self.usage is not None:
                r.mul_(self.usage[start:stop])
            self.table[start:stop] = r
            self.grad_sum.addmm_(z.T, r)
        self.res_sum = self.table.sum(0)
        self.sq_sum = (self.table.double() ** 2).sum(0)  # Σ_i table_ij², kept up to date by _step
        corr = (self.grad_sum * self.design.std[:, None]).abs()
        train = torch.nonzero(self.tids >= 0).squeeze(1)
        corr[self.tids[train], train] = 0.0  # own column is constant on the target's models: exactly 0
        # rounded up by a few ulps so that the prox returns exact zeros at λ_max despite rounding
        return corr.amax(0) / self.models_used.clamp(min=1).to(dt) * (1 + 16 * torch.finfo(dt).eps)

    def raw(self, cols: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw-space ``(weights [d, k], bias [k])`` of the active targets at compact indices ``cols``."""
        v = self.v if cols is None else self.v[:, cols]
        a = self.a if cols is None else self.a[cols]
        w = v * self.design.inv_std[:, None]
        return w, a - self.design.mean @ w

    def certificate(self, cols: torch.Tensor, lam: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Optimality of the current iterate for targets at compact indices ``cols`` (``[k]``), raw λ ``lam [k]``.

        One exact pass over the models. With ρ the target's residual centered over its own models (eq. 9, m_j of
        them), r̄ its mean and θ the raw weights, eq. 8's objective at the returned (θ, b) and a dual-feasible point
        u = s·ρ, s = min(1, λ / ‖Xᵀρ‖∞ m_j⁻¹), give (Fenchel duality of the intercept-centred LASSO)::

            P = (‖ρ‖² + m_j r̄²) / (2 m_j) + λ‖θ‖₁,      D = (s (‖ρ‖² + θᵀXᵀρ) - s² ‖ρ‖² / 2) / m_j

        and P - P* <= P - D. Returns ``(relative gap (P - D) / P, KKT residual / λ)``, both float64 ``[k]``; the
        KKT residual is the largest violation of the subgradient conditions c_k = λ sign θ_k (θ_k ≠ 0),
        |c_k| <= λ (θ_k = 0) with c = Xᵀρ / m_j, and of the intercept's r̄ = 0. At λ = 0 both are NaN unless the
        residual is exactly orthogonal to every column.
        """
        dev, dt = self.y.device, self.design.dtype
        v, a, y = self.v[:, cols], self.a[cols], self.y[:, cols]
        k = int(cols.numel())
        zr = torch.zeros(self.d, k, device=dev, dtype=dt)  # Zᵀ(w ∘ r)
        zw = torch.zeros(self.d, k, device=dev, dtype=dt)  # Zᵀw: centres the residual per target
        s1 = torch.zeros(k, device=dev, dtype=torch.float64)
        s2 = torch.zeros_like(s1)
        for start, stop in self._batches(self.config.eval_batch_size):
            rows = torch.arange(start, stop, device=dev)
            z = self.design.rows(rows)
            r = torch.addmm(a, z, v).sub_(y[start:stop])
            if self.usage is None:
                zw += z.sum(0, dtype=dt)[:, None]
            else:
                w = self.usage[start:stop][:, cols].to(dt)
                r.mul_(w)
                zw.addmm_(z.T, w)
            zr.addmm_(z.T, r)
            s1 += r.sum(0, dtype=torch.float64)
            s2 += (r.double() ** 2).sum(0)
        return self._duality(cols, lam.double(), zr.double(), zw.double(), s1, s2)

    def _estimate(self, lam: torch.Tensor) -> torch.Tensor:
        """``[n]`` relative duality gap of every active target estimated from SAGA's stored residuals instead of
        an exact pass (``Zᵀ(w ∘ r)``, Σr and Σr² of the residual table, each row's residual from its last visit;
        the r̄ Zᵀw centring term, which vanishes with the intercept's gradient, is left out). Free per window; it
        only decides when :meth:`certificate` is worth its pass over the models."""
        zero = torch.zeros_like(self.grad_sum[:, :1])
        gap, _ = self._duality(slice(None), lam, self.grad_sum, zero, self.res_sum, self.sq_sum.to(lam.dtype))
        return gap

    def _duality(
        self, cols: torch.Tensor | slice, lam: torch.Tensor, zr: torch.Tensor, zw: torch.Tensor, s1, s2
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(relative gap, KKT / λ) from Zᵀ(w ∘ r), Zᵀw ``[d, k]`` and Σ w r, Σ w r² ``[k]`` (:meth:`certificate`)."""
        mj = self.models_used[cols].to(lam.dtype).clamp(min=1)
        std, inv_std = self.design.std.to(lam.dtype)[:, None], self.design.inv_std.to(lam.dtype)[:, None]
        rbar = s1 / mj
        rho_sq = (s2 - s1 * rbar).clamp(min=0)
        # r is prediction - margin, so ρ = -(w ∘ (r - r̄)); Xᵀρ = std ∘ Zᵀρ (ρ sums to 0; zero-variance
        # columns have z = 0 and Xᵀρ = 0) with Zᵀρ = -(Zᵀ(w ∘ r) - r̄ Zᵀw)
        corr = (rbar * zw - zr) * std / mj
        theta = self.v[:, cols].to(lam.dtype) * inv_std
        primal = s2 / (2 * mj) + lam * theta.abs().sum(0)
        cmax = corr.abs().amax(0)
        scale = torch.where(cmax > lam, lam / cmax.clamp(min=1e-30), torch.ones_like(cmax))
        dual = (scale * (rho_sq + (corr * theta).sum(0) * mj) - 0.5 * scale**2 * rho_sq) / mj
        gap = (primal - dual).clamp(min=0) / primal.clamp(min=1e-30)
        viol = torch.where(theta != 0, (corr - lam * theta.sign()).abs(), (corr.abs() - lam).clamp(min=0))
        kkt = torch.maximum(viol.amax(0), rbar.abs()) / lam
        return gap, kkt

    def _step(self, rows: torch.Tensor, thresh: torch.Tensor) -> None:
        """One SAGA step on the minibatch ``rows``, its products taken ``chunk`` rows at a time."""
        sd = torch.zeros_like(self.a)
        grad_batch = self.g_buf
        for s in range(0, rows.shape[0], self.chunk):
            sub = rows[s : s + self.chunk]
            z = self.design.rows(sub)
            r = torch.addmm(self.a, z, self.v, out=self.r_buf[: sub.shape[0]]).sub_(self.y.index_select(0, sub))
            if self.usage is not None:
                r.mul_(self.usage.index_select(0, sub))
            old = self.table.index_select(0, sub)
            delta = r - old
            self.sq_sum += (delta * (r + old)).sum(0, dtype=torch.float64)  # Σ r² - Σ old²
            self.table.index_copy_(0, sub, r)
            if s == 0:
                torch.mm(z.T, delta, out=grad_batch)
            else:
                grad_batch.addmm_(z.T, delta)
            sd += delta.sum(0)
        b = rows.shape[0]
        self.design.kernels.saga_prox_update(
            self.v,
            grad_batch,
            self.grad_sum,
            self.design.inv_std,
            thresh,
            self.step,
            1.0 / b,
            1.0 / self.m,
            self.tids,
        )
        self.a.sub_(sd / b + self.res_sum / self.m, alpha=self.step)
        self.res_sum.add_(sd)

    def _momentum(self, v_eval: torch.Tensor, a_eval: torch.Tensor) -> None:
        """FISTA extrapolation after a full-batch step (Beck & Teboulle 2009) with the gradient restart of
        O'Donoghue & Candès (2015), per target: ``(v, a)`` holds the prox output x_{k+1}, ``(v_eval, a_eval)``
        the point y_k its gradient was taken at. Momentum restarts where (y_k - x_{k+1})ᵀ(x_{k+1} - x_k) > 0.
        The extrapolated point becomes the iterate: it is where the next gradient (and a certificate) is taken.
        """
        v_prev, a_prev = self.x_prev
        step_v, step_a = self.v - v_prev, self.a - a_prev
        restart = ((v_eval - self.v) * step_v).sum(0) + (a_eval - self.a) * step_a > 0
        t_next = (1 + torch.sqrt(1 + 4 * self.t * self.t)) / 2
        beta = torch.where(restart, 0.0, (self.t - 1) / t_next)
        self.t = torch.where(restart, 1.0, t_next)
        self.x_prev = (self.v.clone(), self.a.clone())
        self.v.add_(step_v * beta)
        self.a.add_(step_a * beta)

    def _keep(self, keep: torch.Tensor) -> None:
        """Compact the work set to the active targets at compact indices ``keep``."""
        self.v = aligned_copy(self.v[:, keep])
        self.grad_sum = aligned_copy(self.grad_sum[:, keep])
        self.table = self.table[:, keep].contiguous()
        if self.usage is not None:
            self.usage = self.usage[:, keep].contiguous()
        self.y = self.y[:, keep].contiguous()
        for name in ("a", "res_sum", "sq_sum", "tids", "targets", "models_used", "y_scale", "y_mean", "t"):
            setattr(self, name, getattr(self, name)[keep])
        if self.x_prev is not None:
            self.x_prev = (aligned_copy(self.x_prev[0][:, keep]), self.x_prev[1][keep])
        self.n = int(keep.numel())
        self._scratch()

    def run(self, lam: torch.Tensor, schedule: Schedule, tol: float | None = None, certify: bool = True) -> None:
        """Solve until every target is retired by ``schedule``; ``lam`` ``[n]`` is each target's first λ.

        ``tol`` overrides ``config.tol`` (the path uses the coarser ``config.path_tol``). With ``certify`` a target
        whose movement test passes and whose gap estimate (:meth:`_estimate`) is within ``config.gap_tol`` gets a
        certificate (:meth:`certificate`; candidates are gathered until the epoch ends) and is handed on only if
        its relative duality gap is within ``gap_tol``; otherwise both of its
        bounds are divided by 4 and it continues. A target that reaches ``max_epochs`` is handed on with
        ``converged`` = its certificate. Without ``certify`` (the path's λ values, which only rank λ by
        validation MSE) ``converged`` is the movement test and gap/KKT are NaN. Retired targets are dropped from
        the work set once they are at least 10% of it (compaction copies the m × n table).
        """
        cfg, dev, dt = self.config, self.y.device, self.design.dtype
        tol = cfg.tol if tol is None else tol
        lam = lam.to(dev, dt).clone()
        tols = torch.full((self.n,), tol, device=dev, dtype=dt)
        gap_tols = torch.full((self.n,), cfg.gap_tol, device=dev, dtype=dt)
        windows = torch.zeros(self.n, device=dev, dtype=torch.long)
        retired = torch.zeros(self.n, device=dev, dtype=torch.bool)
        steps_per_epoch = math.ceil(self.m / self.batch)
        per_window = max(1, math.ceil(steps_per_epoch / cfg.checks_per_epoch))
        windows_per_epoch = math.ceil(steps_per_epoch / per_window)
        max_windows = cfg.max_epochs * windows_per_epoch
        # rows are reshuffled every epoch (a fixed partition into minibatches proved unstable at this step)
        perm, pos, ticks = torch.randperm(self.m, generator=self.gen).to(dev), 0, 0
        while self.targets.numel():
            thresh = self.step * lam * self.models_used.to(dt) / self.m
            v0, a0 = self.v.clone(), self.a.clone()
            for _ in range(per_window):
                if pos >= self.m:
                    perm, pos = torch.randperm(self.m, generator=self.gen).to(dev), 0
                if self.accelerated:
                    v_eval, a_eval = self.v.clone(), self.a.clone()
                self._step(perm[pos : pos + self.batch], thresh)
                if self.accelerated:
                    self._momentum(v_eval, a_eval)
                pos += self.batch
            windows += 1
            ticks += 1
            change = torch.maximum((self.v - v0).abs().amax(0), (self.a - a0).abs())
            if not bool(torch.isfinite(change).all()):
                raise FloatingPointError(
                    f"SAGA diverged (step {self.step:.3g}); lower SolveConfig.step_scale or raise batch_size"
                )
            moved = change * (steps_per_epoch / per_window) <= tols * self.y_scale  # movement per epoch
            if certify:  # and the gap estimate; both bounds are divided by 4 after a failed certificate
                moved &= (self._estimate(lam) <= gap_tols) & ~retired
                # a certificate costs a pass over the models whatever the number of targets: gather candidates
                # until the epoch ends (not until enough of them: a target's result must not depend on the others)
                if ticks % windows_per_epoch:
                    moved[:] = False
            exhausted = windows >= max_windows
            done = torch.nonzero((moved | exhausted) & ~retired).squeeze(1)
            gap = torch.full((done.numel(),), torch.nan, device=dev, dtype=torch.float64)
            kkt = gap.clone()
            conv = moved[done]
            if certify and done.numel():
                gap, kkt = self.certificate(done, lam[done])
                conv = gap <= cfg.gap_tol
                retry = ~conv & ~exhausted[done]
                tols[done[retry]] /= 4
                gap_tols[done[retry]] /= 4
                keep = ~retry
                done, gap, kkt, conv = done[keep], gap[keep], kkt[keep], conv[keep]
            if done.numel():
                w, b = self.raw(done)
                mse = (self.sq_sum[done].clamp(min=0) / self.models_used[done].clamp(min=1)).to(dt)
                epochs = windows[done].to(dt) * per_window / steps_per_epoch
                nxt = schedule.advance(StageResult(self.targets[done], w, b, mse, conv, epochs, gap, kkt))
                nxt = nxt.to(dev, dt)
                cont = torch.isfinite(nxt)
                lam[done[cont]] = nxt[cont]
                if self.x_prev is not None:  # a new λ starts without momentum
                    self.t[done] = 1.0
                    self.x_prev[0][:, done] = self.v[:, done]
                    self.x_prev[1][done] = self.a[done]
                windows[done] = 0
                tols[done] = tol
                gap_tols[done] = cfg.gap_tol
                retired[done[~cont]] = True
            n_retired = int(retired.sum())
            if n_retired and n_retired >= min(self.targets.numel(), max(1, self.targets.numel() // 10)):
                keep = torch.nonzero(~retired).squeeze(1)
                self._keep(keep)
                lam, windows, retired = lam[keep], windows[keep], retired[keep]
                tols, gap_tols = tols[keep], gap_tols[keep]
