"""Bit-packing convention and the torch twins of the unpack kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dm.solve.bits import check_packed, num_bytes, pack_masks, unpack_masks
from dm.solve.kernels import select_kernels
from dm.solve.kernels.torch_twins import target_weights, unpack_rows


def _random_masks(m: int, d: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((m, d)) < 0.5


def test_pack_matches_numpy_little_bitorder() -> None:
    x = _random_masks(7, 21)
    packed = pack_masks(x)
    assert packed.dtype == torch.uint8 and packed.shape == (7, num_bytes(21)) == (7, 3)
    np.testing.assert_array_equal(packed.numpy(), np.packbits(x, axis=1, bitorder="little"))
    # train id i lives in byte i // 8, bit i % 8
    i = 13
    bit = (packed[:, i // 8] >> (i % 8)) & 1
    assert torch.equal(bit, torch.from_numpy(x[:, i]).to(torch.uint8))
    np.testing.assert_array_equal(unpack_masks(packed, 21).numpy(), x)


def test_unpack_rows_raw_and_standardized() -> None:
    x = _random_masks(9, 19)
    packed = pack_masks(x)
    rows = torch.tensor([4, 0, 8, 4])
    raw = unpack_rows(packed, rows, 19, None, None, torch.float64)
    np.testing.assert_array_equal(raw.numpy(), x[rows.numpy()].astype(float))
    mean = torch.rand(19, dtype=torch.float64)
    inv_std = torch.rand(19, dtype=torch.float64) + 0.5
    z = unpack_rows(packed, rows, 19, mean, inv_std, torch.float64)
    torch.testing.assert_close(z, (raw - mean) * inv_std)


def test_target_weights_exclude_models_containing_the_target() -> None:
    x = _random_masks(10, 17)
    tids = torch.tensor([-1, 0, 16, 9, -1])
    w = target_weights(pack_masks(x), torch.arange(10), tids, torch.float32)
    for j, t in enumerate(tids.tolist()):
        expected = np.ones(10) if t < 0 else 1.0 - x[:, t]
        np.testing.assert_array_equal(w[:, j].numpy(), expected)


def test_check_packed_rejects_bad_shapes() -> None:
    packed = pack_masks(_random_masks(3, 16))
    check_packed(packed, 16)
    with pytest.raises(ValueError, match="bytes per row"):
        check_packed(packed, 17)
    with pytest.raises(ValueError, match="uint8"):
        check_packed(packed.float(), 16)


def test_auto_backend_is_torch_on_cpu_and_forced_triton_needs_interpreter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert select_kernels("auto", "cpu").backend == "torch"
    assert select_kernels(False, "cpu").backend == "torch"
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="TRITON_INTERPRET"):
        select_kernels(True, "cpu")
