"""2-D buffers whose rows start on 64-byte boundaries, for the outputs of the solver's matrix products.

With n targets the solver's products write ``[b, n]`` and ``[d, n]`` results. When n is odd (1,797 targets on
the digits default, and whatever the work set shrinks to), every row of a contiguous result starts misaligned
and MKL's sgemm runs about 1.4x slower on CPU (70 vs 100 GFLOP/s on 2 cores, bench/solve_speed.py workload).
Writing into a view of a buffer whose row stride is rounded up to 16 elements avoids that. The padding columns
are never read.
"""

from __future__ import annotations

import torch

__all__ = ["aligned_empty", "aligned_zeros", "aligned_copy"]

_ALIGN = 16  # elements: 64 bytes of float32


def aligned_empty(rows: int, cols: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Uninitialized ``[rows, cols]`` view with row stride ``cols`` rounded up to a multiple of 16."""
    stride = -(-max(cols, 1) // _ALIGN) * _ALIGN
    return torch.empty(rows, stride, device=device, dtype=dtype)[:, :cols]


def aligned_zeros(rows: int, cols: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Zero-filled :func:`aligned_empty`."""
    out = aligned_empty(rows, cols, device, dtype)
    out.zero_()
    return out


def aligned_copy(x: torch.Tensor) -> torch.Tensor:
    """A copy of the 2-D tensor ``x`` in aligned storage."""
    out = aligned_empty(x.shape[0], x.shape[1], x.device, x.dtype)
    out.copy_(x)
    return out
