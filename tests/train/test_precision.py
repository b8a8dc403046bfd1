"""Mixed precision: BatchNorm's dtype contract under autocast, per-model loss scaling, engines in bf16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from dm.models.networks import BatchNorm2d32
from dm.train.precision import GroupGradScaler
from dm.train.runner import train_models
from dm.train.subsets import model_seeds, subset_masks
from tests.train.conftest import TINY


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_batchnorm_normalizes_in_fp32_and_returns_the_input_dtype(dtype):
    torch.manual_seed(0)
    ours, reference = BatchNorm2d32(6), nn.BatchNorm2d(6)
    with torch.no_grad():
        for p in (ours.weight, ours.bias):
            p.uniform_(0.5, 1.5)
    reference.load_state_dict(ours.state_dict())
    x = (torch.randn(8, 6, 5, 5) * 3 + 1).to(dtype)
    with torch.autocast("cpu", dtype=dtype):
        out = ours(x)
    expected = reference(x.float())
    assert out.dtype == dtype
    assert ours.running_mean.dtype == ours.running_var.dtype == ours.weight.dtype == torch.float32
    torch.testing.assert_close(out.float(), expected.to(dtype).float(), rtol=0, atol=0)  # fp32 math, one rounding
    torch.testing.assert_close(ours.running_mean, reference.running_mean)
    torch.testing.assert_close(ours.running_var, reference.running_var)
    x64 = torch.randn(4, 6, 3, 3, dtype=torch.float64)
    assert ours.double()(x64).dtype == torch.float64  # never downcasts


def test_batchnorm_under_vmap_and_autocast_keeps_stacked_fp32_statistics():
    nets = [nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), BatchNorm2d32(4)) for _ in range(3)]
    params, buffers = stack_module_state(nets)
    base = nets[0].to("meta")
    x = torch.randn(3, 5, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)), randomness="different")(params, buffers, x)
    assert out.shape == (3, 5, 4, 6, 6) and torch.isfinite(out).all()  # (CPU autocast skips vmapped convs)
    assert buffers["1.running_mean"].dtype == torch.float32 and buffers["1.running_mean"].abs().sum() > 0
    assert not torch.equal(buffers["1.running_mean"][0], buffers["1.running_mean"][1])  # per-model statistics


def test_group_grad_scaler_equals_torch_grad_scaler_per_model():
    """Three linear models, one of which gets an inf input at step 2: it alone skips that step, and every
    model's parameters, momentum and loss scale match torch.amp.GradScaler driving that model alone."""
    torch.manual_seed(0)
    m, f, steps = 3, 5, 6
    w0 = torch.randn(m, f)
    xs, ys = torch.randn(steps, m, 4, f), torch.randn(steps, m, 4)
    xs[2, 1, 0, 0] = float("inf")

    def sgd(params):
        return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-2)

    w = w0.clone().requires_grad_()
    opt, scaler = sgd([w]), GroupGradScaler(m, torch.device("cpu"), init_scale=8.0, growth_interval=2)
    skipped = []
    for t in range(steps):
        losses = ((torch.einsum("mbf,mf->mb", xs[t], w) - ys[t]) ** 2).mean(1)  # [M]
        scaler.scaled(losses).backward()
        skipped.append(scaler.step(opt, [w]).tolist())
        opt.zero_grad(set_to_none=True)
    assert [s[1] for s in skipped] == [False, False, True, False, False, False]
    assert not any(s[0] or s[2] for s in skipped)
    for k in range(m):
        wk = w0[k].clone().requires_grad_()
        opt_k, scaler_k = sgd([wk]), torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=2)
        for t in range(steps):
            scaler_k.scale(((xs[t, k] @ wk - ys[t, k]) ** 2).mean()).backward()
            scaler_k.step(opt_k)
            scaler_k.update()
            opt_k.zero_grad(set_to_none=True)
        torch.testing.assert_close(w[k].detach(), wk.detach())
        torch.testing.assert_close(opt.state[w]["momentum_buffer"][k], opt_k.state[wk]["momentum_buffer"])
        assert scaler.scale[k].item() == scaler_k.get_scale()


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_engines_agree_in_mixed_precision(compose, tiny_images, tiny_data, precision):
    """Same precision, same model ids: the engines differ by rounding noise only (bitwise equal forward; the
    backward sums in another order), well below what the reduced precision itself changes (measured 2-5x)."""
    common = [*TINY, f"dataset.path={tiny_images}", "trainer.lr=0.05", "trainer.augment=true"]
    seeds = model_seeds(0, 0.5, np.arange(3))
    masks = subset_masks(seeds, 40, 20)
    vmapped = train_models(compose(*common, f"trainer.precision={precision}"), tiny_data, seeds, masks).margins
    plain = train_models(compose(*common, f"trainer.precision={precision}", "trainer.engine=plain"), tiny_data,
                         seeds, masks).margins
    full = train_models(compose(*common), tiny_data, seeds, masks).margins
    engines = np.abs(plain["test"] - vmapped["test"]).max()
    spread = np.abs(vmapped["test"] - vmapped["test"][::-1]).max()  # between models
    assert np.isfinite(vmapped["test"]).all() and np.isfinite(plain["test"]).all()
    assert engines < 0.1 * spread
    assert engines < np.abs(full["test"] - vmapped["test"]).max()
