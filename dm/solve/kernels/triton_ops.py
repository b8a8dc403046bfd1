"""Triton kernels for the solver's hot elementwise ops (same signatures as :mod:`.torch_twins`).

Importing this module imports Triton. On a machine without a GPU, Triton kernels only run with the environment
variable ``TRITON_INTERPRET=1`` set *before* this module is imported (slow; for correctness tests).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

__all__ = ["unpack_rows", "target_weights", "saga_prox_update"]


@triton.jit
def _unpack_rows_kernel(
    packed_ptr,
    rows_ptr,
    mean_ptr,
    inv_std_ptr,
    out_ptr,
    n_rows,
    n_cols,
    n_bytes,
    STANDARDIZE: tl.constexpr,
    BLOCK_R: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    rmask = r < n_rows
    cmask = c < n_cols
    src = tl.load(rows_ptr + r, mask=rmask, other=0)
    m2 = rmask[:, None] & cmask[None, :]
    byte = tl.load(packed_ptr + src[:, None] * n_bytes + (c[None, :] // 8), mask=m2, other=0)
    bit = (byte.to(tl.int32) >> (c[None, :] % 8)) & 1
    x = bit.to(out_ptr.dtype.element_ty)
    if STANDARDIZE:
        mu = tl.load(mean_ptr + c, mask=cmask, other=0.0)
        s = tl.load(inv_std_ptr + c, mask=cmask, other=0.0)
        x = (x - mu[None, :]) * s[None, :]
    tl.store(out_ptr + r[:, None] * n_cols + c[None, :], x, mask=m2)


def unpack_rows(
    packed: torch.Tensor,
    rows: torch.Tensor,
    num_cols: int,
    mean: torch.Tensor | None,
    inv_std: torch.Tensor | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Triton twin of :func:`dm.solve.kernels.torch_twins.unpack_rows` (``[b, d]`` float rows)."""
    packed = packed.contiguous()
    rows = rows.contiguous()
    out = torch.empty((rows.shape[0], num_cols), device=packed.device, dtype=dtype)
    standardize = mean is not None and inv_std is not None
    mu = mean.contiguous() if standardize else out
    s = inv_std.contiguous() if standardize else out
    block_r, block_c = 16, 128
    grid = (triton.cdiv(rows.shape[0], block_r), triton.cdiv(num_cols, block_c))
    _unpack_rows_kernel[grid](
        packed,
        rows,
        mu,
        s,
        out,
        rows.shape[0],
        num_cols,
        packed.shape[1],
        STANDARDIZE=standardize,
        BLOCK_R=block_r,
        BLOCK_C=block_c,
    )
    return out


@triton.jit
def _target_weights_kernel(
    packed_ptr,
    rows_ptr,
    tid_ptr,
    out_ptr,
    n_rows,
    n_targets,
    n_bytes,
    BLOCK_R: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    j = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    rmask = r < n_rows
    jmask = j < n_targets
    src = tl.load(rows_ptr + r, mask=rmask, other=0)
    tid = tl.load(tid_ptr + j, mask=jmask, other=-1)
    is_train = tid >= 0
    t = tl.where(is_train, tid, 0)
    m2 = rmask[:, None] & jmask[None, :]
    byte = tl.load(packed_ptr + src[:, None] * n_bytes + (t[None, :] // 8), mask=m2, other=0)
    bit = (byte.to(tl.int32) >> (t[None, :] % 8).to(tl.int32)) & 1
    w = tl.where(is_train[None, :], 1 - bit, 1).to(out_ptr.dtype.element_ty)
    tl.store(out_ptr + r[:, None] * n_targets + j[None, :], w, mask=m2)


def target_weights(
    packed: torch.Tensor, rows: torch.Tensor, target_train_ids: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """Triton twin of :func:`dm.solve.kernels.torch_twins.target_weights` (``[b, n]`` 0/1 weights)."""
    packed = packed.contiguous()
    rows = rows.contiguous()
    tids = target_train_ids.contiguous()
    out = torch.empty((rows.shape[0], tids.shape[0]), device=packed.device, dtype=dtype)
    block_r, block_n = 16, 128
    grid = (triton.cdiv(rows.shape[0], block_r), triton.cdiv(tids.shape[0], block_n))
    _target_weights_kernel[grid](
        packed,
        rows,
        tids,
        out,
        rows.shape[0],
        tids.shape[0],
        packed.shape[1],
        BLOCK_R=block_r,
        BLOCK_N=block_n,
    )
    return out


@triton.jit
def _saga_prox_kernel(
    coef_ptr,
    gb_ptr,
    gs_ptr,
    inv_sigma_ptr,
    thr_ptr,
    excl_ptr,
    n_rows,
    n_cols,
    stride_coef,
    stride_gb,
    stride_gs,
    step,
    inv_batch,
    inv_rows,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
):
    k = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)
    j = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    kmask = k < n_rows
    jmask = j < n_cols
    m2 = kmask[:, None] & jmask[None, :]
    v = tl.load(coef_ptr + k[:, None] * stride_coef + j[None, :], mask=m2, other=0.0)
    gb = tl.load(gb_ptr + k[:, None] * stride_gb + j[None, :], mask=m2, other=0.0)
    gs = tl.load(gs_ptr + k[:, None] * stride_gs + j[None, :], mask=m2, other=0.0)
    u = v - step * (gs * inv_rows + gb * inv_batch)
    thr = (
        tl.load(inv_sigma_ptr + k, mask=kmask, other=0.0)[:, None]
        * tl.load(thr_ptr + j, mask=jmask, other=0.0)[None, :]
    )
    mag = tl.maximum(tl.abs(u) - thr, 0.0)
    v_new = tl.where(u >= 0, mag, -mag)
    excl = tl.load(excl_ptr + j, mask=jmask, other=-1)
    v_new = tl.where(k[:, None] == excl[None, :], 0.0, v_new)
    tl.store(coef_ptr + k[:, None] * stride_coef + j[None, :], v_new.to(coef_ptr.dtype.element_ty), mask=m2)
    tl.store(gs_ptr + k[:, None] * stride_gs + j[None, :], (gs + gb).to(gs_ptr.dtype.element_ty), mask=m2)


def saga_prox_update(
    coef: torch.Tensor,
    grad_batch: torch.Tensor,
    grad_sum: torch.Tensor,
    inv_sigma: torch.Tensor,
    threshold: torch.Tensor,
    step: float,
    inv_batch: float,
    inv_rows: float,
    excluded_row: torch.Tensor,
) -> None:
    """Triton twin of :func:`dm.solve.kernels.torch_twins.saga_prox_update` (in place on coef, grad_sum).

    The three ``[d, n]`` tensors may be row-padded views (any row stride) but each row must be contiguous.
    """
    for name, t in (("coef", coef), ("grad_batch", grad_batch), ("grad_sum", grad_sum)):
        if t.shape != coef.shape or (t.shape[1] > 1 and t.stride(1) != 1):
            raise ValueError(f"saga_prox_update needs {name} of shape {tuple(coef.shape)} with contiguous rows")
    d, n = coef.shape
    block_d, block_n = 32, 128
    grid = (triton.cdiv(d, block_d), triton.cdiv(n, block_n))
    _saga_prox_kernel[grid](
        coef,
        grad_batch,
        grad_sum,
        inv_sigma.contiguous(),
        threshold.contiguous(),
        excluded_row.contiguous(),
        d,
        n,
        coef.stride(0),
        grad_batch.stride(0),
        grad_sum.stride(0),
        float(step),
        float(inv_batch),
        float(inv_rows),
        BLOCK_D=block_d,
        BLOCK_N=block_n,
    )
