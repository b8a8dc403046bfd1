"""Torch implementations ("twins") of the solver's hot elementwise ops; the CPU path and the reference.

Every function here has a Triton counterpart with the same signature in :mod:`dm.solve.kernels.triton_ops`.
"""

from __future__ import annotations

import torch

__all__ = ["unpack_rows", "target_weights", "saga_prox_update"]

_SHIFTS: dict[torch.device, torch.Tensor] = {}


def _shifts(device: torch.device) -> torch.Tensor:
    if device not in _SHIFTS:
        _SHIFTS[device] = torch.arange(8, device=device, dtype=torch.uint8)
    return _SHIFTS[device]


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
    bits = ((raw.unsqueeze(-1) >> _shifts(packed.device)) & 1).reshape(rows.shape[0], -1)[:, :num_cols]
    if mean is None or inv_std is None:
        return bits.to(dtype)
    hi = (1.0 - mean) * inv_std
    lo = -mean * inv_std
    return torch.where(bits.bool(), hi, lo)


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
    byte = raw.index_select(1, tid >> 3)
    bit = (byte >> (tid & 7).to(torch.uint8)) & 1
    is_train = (target_train_ids >= 0).to(torch.uint8)
    return (1 - bit * is_train).to(dtype)


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
