"""Torch implementations ("twins") of the solver's hot elementwise ops; the CPU path and the reference.

Every function here has a Triton counterpart with the same signature in :mod:`dm.solve.kernels.triton_ops`.
"""

from __future__ import annotations

import torch

__all__ = ["unpack_rows", "target_weights", "saga_prox_update"]

_LUTS: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def _lut(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``[256, 8]`` table: row v holds the 8 little-order bits of byte value v (as ``dtype``)."""
    key = (device, dtype)
    if key not in _LUTS:
        shifts = torch.arange(8, dtype=torch.int64)
        bits = (torch.arange(256, dtype=torch.int64)[:, None] >> shifts) & 1
        _LUTS[key] = bits.to(device=device, dtype=dtype).contiguous()
    return _LUTS[key]


def unpack_rows(
    packed: torch.Tensor,
    rows: torch.Tensor,
    num_cols: int,
    mean: torch.Tensor | None,
    inv_std: torch.Tensor | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Unpack the masks of a minibatch of models into float rows.

    Args:
        packed: uint8 ``[m, ceil(d/8)]`` little-bit-order masks.
        rows: int64 ``[b]`` model (row) indices into ``packed``.
        num_cols: d, the number of training examples.
        mean, inv_std: ``[d]`` column statistics (same dtype as the output); when given the output is
            standardized, ``(bit - mean) * inv_std``; both None gives raw 0/1 values.
        dtype: output float dtype.

    Returns:
        ``[b, d]`` tensor of ``dtype``.
    """
    raw = packed.index_select(0, rows)
    standardize = mean is not None and inv_std is not None
    # one table lookup per byte (8 bits at once) instead of shift / mask / reshape passes over every bit
    lut = _lut(packed.device, torch.bool if standardize else dtype)
    bits = lut.index_select(0, raw.view(-1).long()).view(rows.shape[0], -1)[:, :num_cols]
    if not standardize:
        return bits.contiguous()
    hi = (1.0 - mean) * inv_std
    lo = -mean * inv_std
    return torch.where(bits, hi, lo)


def target_weights(
    packed: torch.Tensor, rows: torch.Tensor, target_train_ids: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """Per-(model, target) usage weights w_ij of eq. 9 for a minibatch of models.

    Args:
        packed: uint8 ``[m, ceil(d/8)]`` masks.
        rows: int64 ``[b]`` model indices.
        target_train_ids: int64 ``[n]``; train id of each target, -1 for test targets.
        dtype: output float dtype.

    Returns:
        ``[b, n]`` tensor: 1 - x_{i, t_j} for train targets (the model is used iff it excludes the target),
        1 for test targets.
    """
    raw = packed.index_select(0, rows)
    tid = target_train_ids.clamp(min=0)
    # byte values as float32 (exact), gathered per target: a column gather of floats is several times faster
    # than one of uint8 on CPU; bit s of byte x is floor(x / 2^s) mod 2, all exact in float32
    byte = raw.to(torch.float32).index_select(1, tid >> 3)
    scale = torch.exp2(-(tid & 7).to(torch.float32))
    bit = byte.mul_(scale).floor_().remainder_(2.0).mul_((target_train_ids >= 0).to(torch.float32))
    return bit.neg_().add_(1.0).to(dtype)


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
    """Fused SAGA gradient step + soft-thresholding, in place, for all targets at once.

    With ``g = grad_batch * inv_batch + grad_sum * inv_rows`` (the SAGA estimate: new-minus-stored gradients
    of the minibatch plus the mean stored gradient) this sets
    ``coef <- S(coef - step * g, threshold[j] * inv_sigma[k])`` (S = soft-threshold), zeroes
    ``coef[excluded_row[j], j]`` where ``excluded_row[j] >= 0``, then ``grad_sum += grad_batch``.

    Args:
        coef: ``[d, n]`` standardized coefficients (updated in place).
        grad_batch: ``[d, n]`` sum over the minibatch of (new - stored) per-model gradients.
        grad_sum: ``[d, n]`` sum over all models of stored gradients (updated in place).
        inv_sigma: ``[d]`` 1 / column standard deviation (the raw-space L1 penalty in standardized units).
        threshold: ``[n]`` step * λ'_j per target.
        step: step size.
        inv_batch: 1 / minibatch size.
        inv_rows: 1 / number of models m.
        excluded_row: int64 ``[n]``; coefficient row forced to 0 per target (its own train id), -1 for none.
    """
    coef.sub_(grad_sum, alpha=step * inv_rows).sub_(grad_batch, alpha=step * inv_batch)
    thr = torch.outer(inv_sigma, threshold)
    coef.sub_(torch.clamp(coef, -thr, thr))
    grad_sum.add_(grad_batch)
    cols = torch.nonzero(excluded_row >= 0).squeeze(1)
    if cols.numel():
        coef[excluded_row[cols], cols] = 0.0
