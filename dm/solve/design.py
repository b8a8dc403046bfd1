"""The design matrix of one solve: bit-packed masks plus the column statistics used to standardize them.

The solver works with standardized columns ``z_ik = (x_ik - mean_k) * inv_std_k`` where ``mean``/``std``
are the 0/1 column mean and standard deviation over *all* models of the solve. Standardizing is only a
change of variables: the solver maps coefficients back to raw 0/1 mask space exactly
(``theta_k = v_k * inv_std_k``, ``b = a - mean . theta``), and the raw-space L1 penalty becomes
``λ * inv_std_k`` per standardized coordinate.
A column with zero variance gets ``inv_std = 0``: it is identically zero after standardization and its raw
coefficient is pinned to 0 (it is indistinguishable from the intercept).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dm.solve.bits import check_packed
from dm.solve.kernels import Kernels

__all__ = ["MaskDesign"]


@dataclass
class MaskDesign:
    """Packed masks ``[m, ceil(d/8)]`` (uint8, on the solve device) with their column statistics.

    Attributes:
        packed: uint8 ``[m, ceil(d/8)]`` masks.
        num_train: d.
        colsum: int64 ``[d]``; number of models that include each train example.
        mean: ``[d]`` column mean (fraction of models including the example).
        std: ``[d]`` column standard deviation, ``sqrt(mean * (1 - mean))``.
        inv_std: ``[d]`` 1 / std, 0 where std is 0.
        kernels: the unpack kernels to use.
        dtype: float dtype of unpacked rows.
    """

    packed: torch.Tensor
    num_train: int
    colsum: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    inv_std: torch.Tensor
    kernels: Kernels
    dtype: torch.dtype

    @classmethod
    def build(
        cls,
        packed: torch.Tensor,
        num_train: int,
        kernels: Kernels,
        dtype: torch.dtype,
        device: torch.device,
        batch_size: int = 2048,
    ) -> MaskDesign:
        """Move ``packed`` to ``device`` and compute column statistics in one pass of ``batch_size`` rows."""
        check_packed(packed, num_train)
        packed = packed.to(device).contiguous()
        m = packed.shape[0]
        colsum = torch.zeros(num_train, dtype=torch.float64, device=device)
        for start in range(0, m, batch_size):
            rows = torch.arange(start, min(start + batch_size, m), device=device)
            # 0/1 rows in float32, 2,048 at a time (their float32 column sums are exact), added up in float64:
            # a quarter of the memory of the 4,096 float64 rows it took before (1.6 GB at d = 50,000)
            colsum += kernels.unpack_rows(packed, rows, num_train, None, None, torch.float32).sum(0)
        mean = colsum / max(m, 1)
        std = (mean * (1.0 - mean)).clamp(min=0.0).sqrt()
        inv_std = torch.where(std > 0, 1.0 / torch.where(std > 0, std, 1.0), 0.0)
        return cls(
            packed=packed,
            num_train=num_train,
            colsum=colsum.round().long(),
            mean=mean.to(dtype),
            std=std.to(dtype),
            inv_std=inv_std.to(dtype),
            kernels=kernels,
            dtype=dtype,
        )

    @property
    def num_models(self) -> int:
        """m, the number of models (rows)."""
        return int(self.packed.shape[0])

    def rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Standardized rows ``[len(idx), d]`` for model indices ``idx``."""
        return self.kernels.unpack_rows(self.packed, idx, self.num_train, self.mean, self.inv_std, self.dtype)

    def raw_rows(self, idx: torch.Tensor) -> torch.Tensor:
        """Raw 0/1 rows ``[len(idx), d]`` for model indices ``idx``."""
        return self.kernels.unpack_rows(self.packed, idx, self.num_train, None, None, self.dtype)

    def weights(self, idx: torch.Tensor, target_train_ids: torch.Tensor) -> torch.Tensor:
        """Usage weights ``[len(idx), n]`` (eq. 9) of models ``idx`` for ``target_train_ids [n]``."""
        return self.kernels.target_weights(self.packed, idx, target_train_ids, self.dtype)

    def models_used(self, target_train_ids: torch.Tensor) -> torch.Tensor:
        """int64 ``[n]``: m_j, models that exclude train target j (all m models for test targets, id -1)."""
        excluded = self.colsum[target_train_ids.clamp(min=0)]
        return torch.where(target_train_ids >= 0, self.num_models - excluded, self.num_models)

    def smoothness(self, max_rows: int = 8192, iters: int = 40, seed: int = 0) -> tuple[float, float]:
        """Bounds for the SAGA step size on the standardized problem with intercept.

        Returns:
            ``(L, L_max)``: L = max(1, largest eigenvalue of ZᵀZ/m), estimated by block power iteration on up
            to ``max_rows`` random rows (on their d × d Gram matrix when d <= 4096), times a 1.05 safety
            margin; L_max = max_i ‖z_i‖² + 1 over all rows (the largest per-model smoothness; the +1 is the
            intercept's constant feature).
        """
        m, d, dev = self.num_models, self.num_train, self.packed.device
        gen = torch.Generator(device="cpu").manual_seed(seed)
        # ‖z_i‖² = Σ_k x_ik (1 - 2 mean_k) inv_std_k² + Σ_k mean_k² inv_std_k², since x² = x for 0/1 masks
        coef = ((1 - 2 * self.mean) * self.inv_std**2)[:, None]
        const = float((self.mean**2 * self.inv_std**2).sum())
        row_max = max(
            float((self.raw_rows(torch.arange(s, min(s + 4096, m), device=dev)) @ coef).max()) + const
            for s in range(0, m, 4096)
        )
        sub = torch.randperm(m, generator=gen)[: min(m, max_rows)].to(dev)
        q = torch.randn(d, 4, generator=gen, dtype=torch.float64).to(dev, self.dtype)
        if d <= 4096:
            gram = torch.zeros(d, d, device=dev, dtype=self.dtype)
            for s in range(0, sub.numel(), 4096):
                z = self.rows(sub[s : s + 4096])
                gram.addmm_(z.T, z)

            def apply(v: torch.Tensor) -> torch.Tensor:
                return gram @ v / sub.numel()
        else:
            z_all = self.rows(sub)

            def apply(v: torch.Tensor) -> torch.Tensor:
                return z_all.T @ (z_all @ v) / sub.numel()

        eig = 0.0
        for _ in range(iters):
            q, _ = torch.linalg.qr(q)
            zq = apply(q)
            eig = float((q * zq).sum(0).max())
            q = zq
        return max(1.0, 1.05 * eig), row_max + 1.0
