"""The networks datamodels are computed for. Plain `nn.Module`s: the Lightning module and the multi-model
Fabric loop both wrap them, so a model trained either way has the same parameters for the same seed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from dm.data.prepare import DataInfo
from dm.errors import ConfigError


class SoftmaxRegression(nn.Module):
    """x [B, F] -> logits [B, C]: multinomial logistic regression, one linear layer (the digits default).

    Its training loss is convex (strongly so with weight decay), so SGD lands near one minimiser whatever the
    init seed and batch order: a model's margins depend on its subset, hardly on its seed.
    """

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLP(nn.Module):
    """x [B, F] -> logits [B, C]: one hidden ReLU layer."""

    def __init__(self, in_features: int, hidden: int, num_classes: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BatchNorm2d32(nn.BatchNorm2d):
    """nn.BatchNorm2d that normalizes in at least fp32 and returns the input's dtype.

    Under autocast the convolutions give bf16/fp16 activations while BatchNorm's weight and running statistics
    stay fp32. cuDNN's batch norm refuses that mix under `vmap` (weight Half vs Float, running_mean BFloat16 vs
    Float: DESIGN.md, environment notes); normalizing an fp32 copy of the input runs everywhere, keeps the
    statistics fp32, and is numerically the fp32 BatchNorm. Same parameters and buffers as nn.BatchNorm2d.
    x [B, C, H, W] -> same shape and dtype.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        compute = torch.promote_types(x.dtype, torch.float32)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.to(compute)).to(x.dtype)


class Conv2dAutocast(nn.Conv2d):
    """nn.Conv2d that casts its input and weights to the autocast dtype itself when autocast is on.

    Plain modules get this from autocast already; a convolution under `vmap` on CPU escapes autocast (it runs
    in fp32 while a plain module runs in bf16), so without the explicit cast a model's precision, hence its
    margins, would depend on the engine. Same parameters as nn.Conv2d; x [B, C, H, W].
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        if not torch.is_autocast_enabled(device):
            return super().forward(x)
        dtype = torch.get_autocast_dtype(device)
        bias = None if self.bias is None else self.bias.to(dtype)
        return self._conv_forward(x.to(dtype), self.weight.to(dtype), bias)


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(Conv2dAutocast(c_in, c_out, 3, padding=1, bias=False), BatchNorm2d32(c_out), nn.ReLU())


class _Residual(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.inner(x)


class ResNet9(nn.Module):
    """The paper's CIFAR-10 ResNet-9 (Page's DAWNBench network). x [B, C, H, W] -> logits [B, classes]."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 64):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            _conv_bn(in_channels, w),
            _conv_bn(w, 2 * w), nn.MaxPool2d(2),
            _Residual(nn.Sequential(_conv_bn(2 * w, 2 * w), _conv_bn(2 * w, 2 * w))),
            _conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),
            _conv_bn(4 * w, 8 * w), nn.MaxPool2d(2),
            _Residual(nn.Sequential(_conv_bn(8 * w, 8 * w), _conv_bn(8 * w, 8 * w))),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8 * w, num_classes, bias=False),
        )
        self.scale = 0.125  # output scaling of the reference network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.scale


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            Conv2dAutocast(c_in, c_out, 3, stride, 1, bias=False), BatchNorm2d32(c_out), nn.ReLU(),
            Conv2dAutocast(c_out, c_out, 3, 1, 1, bias=False), BatchNorm2d32(c_out),
        )
        self.skip = (
            nn.Identity() if stride == 1 and c_in == c_out
            else nn.Sequential(Conv2dAutocast(c_in, c_out, 1, stride, bias=False), BatchNorm2d32(c_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (3x3 stem, no max-pool). x [B, C, H, W] -> logits [B, classes]."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 64):
        super().__init__()
        w = width
        layers: list[nn.Module] = [Conv2dAutocast(in_channels, w, 3, 1, 1, bias=False), BatchNorm2d32(w), nn.ReLU()]
        c_in = w
        for c_out, stride in ((w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)):
            layers += [_BasicBlock(c_in, c_out, stride), _BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_network(name: str, info: DataInfo, hidden: int = 32, width: int = 64) -> nn.Module:
    """A freshly initialised network for the data set (initialisation uses torch's global RNG)."""
    in_features = int(torch.tensor(info.example_shape).prod())
    if name == "softmax":
        return SoftmaxRegression(in_features, info.num_classes)
    if name == "mlp":
        return MLP(in_features, hidden, info.num_classes)
    if not info.is_image:
        raise ConfigError(f"model={name} needs image data; {info.name} has features of shape {info.example_shape}")
    channels = info.example_shape[-1]
    if name == "resnet9":
        return ResNet9(channels, info.num_classes, width)
    if name == "resnet18":
        return ResNet18(channels, info.num_classes, width)
    raise ValueError(f"unknown network {name!r}")


def network_factory(model: Mapping[str, Any], info: DataInfo) -> Callable[[], nn.Module]:
    """A function building a fresh network of the `model` config group (each model's group has only its own
    sizes: hidden for mlp, width for the resnets). Plain values are read once: the function runs per model."""
    name = str(model["name"])
    sizes = {key: int(model[key]) for key in ("hidden", "width") if key in model}
    return lambda: build_network(name, info, **sizes)
