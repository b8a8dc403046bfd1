"""Hot elementwise ops of the solver, as Triton kernels (CUDA) with torch twins (CPU, reference).

:func:`select_kernels` picks the implementation: Triton on CUDA, torch elsewhere, unless forced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from dm.solve.kernels import torch_twins

__all__ = ["Kernels", "select_kernels", "triton_available"]


class _Unpack(Protocol):
    def __call__(
        self,
        packed: torch.Tensor,
        rows: torch.Tensor,
        num_cols: int,
        mean: torch.Tensor | None,
        inv_std: torch.Tensor | None,
        dtype: torch.dtype,
    ) -> torch.Tensor: ...


class _Weights(Protocol):
    def __call__(
        self, packed: torch.Tensor, rows: torch.Tensor, target_train_ids: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor: ...


class _Update(Protocol):
    def __call__(
        self,
        coef: torch.Tensor,
        grad_batch: torch.Tensor,
        grad_sum: torch.Tensor,
        inv_sigma: torch.Tensor,
        threshold: torch.Tensor,
        step: float,
        inv_batch: float,
        inv_rows: float,
        excluded_row: torch.Tensor,
    ) -> None: ...


@dataclass(frozen=True)
class Kernels:
    """The three ops the solver calls per minibatch, plus which backend provides them ("torch"/"triton")."""

    unpack_rows: _Unpack
    target_weights: _Weights
    saga_prox_update: _Update
    backend: str


def triton_available() -> bool:
    """True when the Triton package imports."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def select_kernels(use_triton: bool | Literal["auto"], device: torch.device | str) -> Kernels:
    """Return the kernel set for ``device``.

    ``"auto"`` uses Triton on CUDA devices (when importable) and the torch twins otherwise. ``True`` forces
    Triton: on a non-CUDA device this needs ``TRITON_INTERPRET=1`` (set before Triton is first imported).
    ``False`` forces the torch twins.
    """
    device = torch.device(device)
    if use_triton == "auto":
        use_triton = device.type == "cuda" and triton_available()
    if not use_triton:
        return Kernels(
            torch_twins.unpack_rows, torch_twins.target_weights, torch_twins.saga_prox_update, "torch"
        )
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError(
            f"use_triton=True on device {device.type!r} needs TRITON_INTERPRET=1 (Triton has no CPU driver)"
        )
    if not triton_available():
        raise ValueError("use_triton=True but triton is not importable")
    from dm.solve.kernels import triton_ops

    return Kernels(triton_ops.unpack_rows, triton_ops.target_weights, triton_ops.saga_prox_update, "triton")
