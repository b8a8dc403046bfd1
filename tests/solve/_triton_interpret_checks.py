"""Checks run in a subprocess with TRITON_INTERPRET=1 (Triton has no CPU driver otherwise).

Run as ``TRITON_INTERPRET=1 python -m tests.solve._triton_interpret_checks``; exits non-zero on a mismatch.
"""

from __future__ import annotations

import os

if os.environ.get("TRITON_INTERPRET") != "1":  # must be set before triton is imported
    raise SystemExit("set TRITON_INTERPRET=1")

import torch

from dm.solve import SolveConfig, fit_datamodels, solve_fixed_lambda, split_models
from dm.solve.aligned import aligned_copy
from dm.solve.bits import pack_masks
from dm.solve.kernels import torch_twins, triton_ops
from tests.solve.conftest import make_problem


def check_kernels() -> None:
    """Every Triton kernel equals its torch twin on odd shapes, float32 and float64."""
    gen = torch.Generator().manual_seed(0)
    d, m, n = 37, 21, 150  # not multiples of the block sizes
    packed = pack_masks(torch.rand(m, d, generator=gen) < 0.5)
    rows = torch.tensor([3, 0, 20, 7, 7, 11, 19, 2, 1, 5, 6, 8, 9, 10, 12, 13, 14, 15])
    tids = torch.randint(-1, d, (n,), generator=gen)
    for dt in (torch.float32, torch.float64):
        mean = torch.rand(d, generator=gen, dtype=torch.float64).to(dt)
        inv_std = (torch.rand(d, generator=gen, dtype=torch.float64) + 0.5).to(dt)
        for mu, s in ((None, None), (mean, inv_std)):
            a = torch_twins.unpack_rows(packed, rows, d, mu, s, dt)
            b = triton_ops.unpack_rows(packed, rows, d, mu, s, dt)
            torch.testing.assert_close(b, a, rtol=0, atol=1e-6 if dt == torch.float32 else 1e-14)
        torch.testing.assert_close(
            triton_ops.target_weights(packed, rows, tids, dt),
            torch_twins.target_weights(packed, rows, tids, dt),
        )
        coef = torch.randn(d, n, generator=gen, dtype=torch.float64).to(dt)
        gb = torch.randn(d, n, generator=gen, dtype=torch.float64).to(dt)
        gs = torch.randn(d, n, generator=gen, dtype=torch.float64).to(dt)
        thr = torch.rand(n, generator=gen, dtype=torch.float64).to(dt)
        c1, s1, c2, s2 = coef.clone(), gs.clone(), coef.clone(), gs.clone()
        torch_twins.saga_prox_update(c1, gb, s1, inv_std, thr, 0.3, 1 / 18, 1 / 21, tids)
        triton_ops.saga_prox_update(c2, gb, s2, inv_std, thr, 0.3, 1 / 18, 1 / 21, tids)
        tol = 1e-6 if dt == torch.float32 else 1e-12
        torch.testing.assert_close(c2, c1, rtol=0, atol=tol)
        torch.testing.assert_close(s2, s1, rtol=0, atol=tol)
        assert 0.1 < float((c1 == 0).double().mean()) < 0.9  # the threshold bites on part of the entries
        c3, s3, gb3 = aligned_copy(coef), aligned_copy(gs), aligned_copy(gb)  # row-padded views, as the engine
        assert c3.stride(0) > n
        triton_ops.saga_prox_update(c3, gb3, s3, inv_std, thr, 0.3, 1 / 18, 1 / 21, tids)
        torch.testing.assert_close(c3, c1, rtol=0, atol=tol)
        torch.testing.assert_close(s3, s1, rtol=0, atol=tol)


def check_solver() -> None:
    """The whole solver gives the same weights on the torch path and the Triton-interpreted path."""
    p = make_problem(m=120, d=20, n_test=2, train_ids=[4], k=4, seed=3)
    y = torch.tensor(p.y)
    cfg = SolveConfig(dtype=torch.float64, tol=1e-5, batch_size=60, max_epochs=300)
    ref = solve_fixed_lambda(p.packed, y, p.tids, 20, 0.03, cfg)
    tri = solve_fixed_lambda(p.packed, y, p.tids, 20, 0.03, _forced(cfg, True))
    assert ref.backend == "torch" and tri.backend == "triton"
    torch.testing.assert_close(tri.weights, ref.weights, rtol=0, atol=1e-9)
    torch.testing.assert_close(tri.bias, ref.bias, rtol=0, atol=1e-9)
    assert int((ref.weights != 0).sum()) > 0
    _, val = split_models(120, 0.25)
    cfg = SolveConfig(k_lambdas=2, lambda_ratio=4.0, dtype=torch.float64, tol=1e-4, batch_size=60)
    ref = fit_datamodels(p.packed, y, p.tids, 20, val, cfg)
    tri = fit_datamodels(p.packed, y, p.tids, 20, val, _forced(cfg, True))
    torch.testing.assert_close(tri.weights, ref.weights, rtol=0, atol=1e-9)
    torch.testing.assert_close(tri.lam, ref.lam)


def _forced(cfg: SolveConfig, use_triton: bool) -> SolveConfig:
    return SolveConfig(**{**cfg.__dict__, "use_triton": use_triton})


if __name__ == "__main__":
    torch.set_num_threads(1)
    check_kernels()
    check_solver()
    print("triton-interpret checks passed")
