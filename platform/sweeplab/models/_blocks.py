"""Building blocks of the convolutional networks: conv, pooling, 1×1 conv, residual, inception.

Every block knows its output shape: ``block.output_shape((C, H, W), name=...)`` applies the
course's size formula (see :mod:`._shapes`) and raises a :class:`~._shapes.ShapeError` naming
the layer when the input is too small. :func:`stack` chains blocks into an ``nn.Sequential``
while carrying the shape, so a network checks every layer when it is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal, Protocol

import torch
from pydantic import Field
from torch import nn

from sweeplab.models._shapes import CHW, Padding, ShapeError, Window, resolve_padding

__all__ = [
    "Activation",
    "AvgPool",
    "Conv1x1",
    "ConvBlock",
    "InceptionModule",
    "MaxPool",
    "ResidualBlock",
    "Shaped",
    "dense_head",
    "keep_prob_field",
    "make_activation",
    "make_pool",
    "projection_shortcut",
    "stack",
]

Activation = Literal["relu", "tanh", "sigmoid", "leaky_relu", "elu", "gelu", "linear"]
PoolKind = Literal["max", "avg"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "linear": nn.Identity,  # g(z) = z
}


def make_activation(name: Activation) -> nn.Module:
    return _ACTIVATIONS[name]()


class Shaped(Protocol):
    """A layer that can say its output shape (and check that its input fits)."""

    def output_shape(self, shape: CHW, *, name: str) -> CHW: ...


def _check_channels(shape: CHW, expected: int, *, name: str) -> None:
    if shape[0] != expected:
        raise ShapeError(
            f"layer {name!r}: expects {expected} input channels, but got {shape[0]} "
            f"(input shape {shape})"
        )


class ConvBlock(nn.Module):
    """conv -> (batch norm) -> (activation); "same" padding by default."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: Padding = "same",
        batch_norm: bool = False,
        activation: Activation | None = "relu",
    ) -> None:
        super().__init__()
        p = resolve_padding(kernel_size, padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.window = Window("conv", kernel_size, stride, p)
        # The bias is redundant before batch norm, which subtracts the mean and adds beta.
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=p, bias=not batch_norm
        )
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else None
        self.act = make_activation(activation) if activation is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)  # (B, C_out, H_out, W_out)
        if self.bn is not None:
            x = self.bn(x)
        if self.act is not None:
            x = self.act(x)
        return x

    def output_shape(self, shape: CHW, *, name: str) -> CHW:
        _check_channels(shape, self.in_channels, name=name)
        h, w = self.window.output_hw(shape[1], shape[2], layer=name)
        return self.out_channels, h, w


class Conv1x1(ConvBlock):
    """1×1 convolution: a fully connected layer across channels at every pixel.

    Shrinks (or grows) the channel count cheaply, e.g. 32×32×192 -> 32×32×32 with 32 filters
    of 1×1×192; the bottleneck before the inception module's 3×3 and 5×5 convolutions.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        batch_norm: bool = False,
        activation: Activation | None = "relu",
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            1,
            stride=stride,
            padding=0,
            batch_norm=batch_norm,
            activation=activation,
        )


class MaxPool(nn.MaxPool2d):
    """Max pooling with a shape check; the stride defaults to the window size."""

    def __init__(self, kernel_size: int, *, stride: int | None = None, padding: int = 0) -> None:
        stride = kernel_size if stride is None else stride
        super().__init__(kernel_size, stride=stride, padding=padding)
        self.window = Window("max pool", kernel_size, stride, padding)

    def output_shape(self, shape: CHW, *, name: str) -> CHW:
        return (shape[0], *self.window.output_hw(shape[1], shape[2], layer=name))


class AvgPool(nn.AvgPool2d):
    """Average pooling with a shape check (LeNet-5's subsampling); stride defaults to the window."""

    def __init__(self, kernel_size: int, *, stride: int | None = None, padding: int = 0) -> None:
        stride = kernel_size if stride is None else stride
        super().__init__(kernel_size, stride=stride, padding=padding)
        self.window = Window("avg pool", kernel_size, stride, padding)

    def output_shape(self, shape: CHW, *, name: str) -> CHW:
        return (shape[0], *self.window.output_hw(shape[1], shape[2], layer=name))


def make_pool(kind: PoolKind, kernel_size: int, *, stride: int | None = None) -> MaxPool | AvgPool:
    return (MaxPool if kind == "max" else AvgPool)(kernel_size, stride=stride)


def projection_shortcut(
    in_channels: int, out_channels: int, *, stride: int, batch_norm: bool, residual: bool
) -> Conv1x1 | None:
    """A residual block's shortcut: None for the identity (same shapes) or no shortcut
    (``residual=False``), else a projection (1×1 conv with the block's stride, + batch norm)."""
    if not residual or (stride == 1 and in_channels == out_channels):
        return None
    return Conv1x1(in_channels, out_channels, stride=stride, batch_norm=batch_norm, activation=None)


class ResidualBlock(nn.Module):
    """Two 3×3 convs whose input is added back before the last activation: a[l+2] = g(z + a[l]).

    The shortcut is the identity when the shapes match, and a projection (1×1 conv with the
    block's stride, + batch norm) when the channels or the stride change. ``residual=False``
    builds the same main path without any shortcut: the "plain" network of the comparison.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        stride: int = 1,
        batch_norm: bool = True,
        activation: Activation = "relu",
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.residual = residual
        self.conv1 = ConvBlock(
            in_channels,
            out_channels,
            3,
            stride=stride,
            batch_norm=batch_norm,
            activation=activation,
        )
        # No activation here: it comes after the addition of the shortcut.
        self.conv2 = ConvBlock(
            out_channels, out_channels, 3, batch_norm=batch_norm, activation=None
        )
        self.shortcut = projection_shortcut(
            in_channels, out_channels, stride=stride, batch_norm=batch_norm, residual=residual
        )
        self.act = make_activation(activation)

    @property
    def uses_projection(self) -> bool:
        return self.shortcut is not None

    def main_path(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))  # (B, C_out, H', W')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.main_path(x)
        if self.residual:
            # Same stride and "same" padding on both paths, so (H', W') agree.
            out = out + (self.shortcut(x) if self.shortcut is not None else x)
        return self.act(out)

    def output_shape(self, shape: CHW, *, name: str) -> CHW:
        mid = self.conv1.output_shape(shape, name=f"{name}.conv1")
        return self.conv2.output_shape(mid, name=f"{name}.conv2")


class InceptionModule(nn.Module):
    """Parallel 1×1, 1×1→3×3, 1×1→5×5 and 3×3 max pool→1×1 branches, concatenated on channels.

    Every branch keeps H×W ("same" padding, pooling at stride 1), so the output has
    ``c1 + c3 + c5 + pool_proj`` channels. The 1×1 "reduce" convs are the bottlenecks that
    make the 3×3 and 5×5 convs affordable.
    """

    def __init__(
        self,
        in_channels: int,
        *,
        c1: int,
        c3_reduce: int,
        c3: int,
        c5_reduce: int,
        c5: int,
        pool_proj: int,
        batch_norm: bool = True,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        kw = {"batch_norm": batch_norm, "activation": activation}
        self.in_channels = in_channels
        self.out_channels = c1 + c3 + c5 + pool_proj
        self.branch1 = Conv1x1(in_channels, c1, **kw)
        self.branch3 = nn.Sequential()
        self.branch3.add_module("reduce", Conv1x1(in_channels, c3_reduce, **kw))
        self.branch3.add_module("conv", ConvBlock(c3_reduce, c3, 3, **kw))
        self.branch5 = nn.Sequential()
        self.branch5.add_module("reduce", Conv1x1(in_channels, c5_reduce, **kw))
        self.branch5.add_module("conv", ConvBlock(c5_reduce, c5, 5, **kw))
        self.branch_pool = nn.Sequential()
        self.branch_pool.add_module("pool", MaxPool(3, stride=1, padding=1))
        self.branch_pool.add_module("proj", Conv1x1(in_channels, pool_proj, **kw))

    def branches(self) -> list[nn.Module]:
        return [self.branch1, self.branch3, self.branch5, self.branch_pool]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, c1, H, W), (B, c3, H, W), (B, c5, H, W), (B, pool_proj, H, W) -> (B, C_out, H, W)
        return torch.cat([branch(x) for branch in self.branches()], dim=1)

    def output_shape(self, shape: CHW, *, name: str) -> CHW:
        _check_channels(shape, self.in_channels, name=name)
        sizes = []
        for branch_name, branch in zip(
            ("branch1", "branch3", "branch5", "branch_pool"), self.branches(), strict=True
        ):
            s = shape
            for sub_name, layer in (
                branch.named_children() if isinstance(branch, nn.Sequential) else [("", branch)]
            ):
                s = layer.output_shape(
                    s, name=".".join(filter(None, (name, branch_name, sub_name)))
                )
            sizes.append(s)
        assert len({s[1:] for s in sizes}) == 1, sizes  # every branch keeps H×W
        return self.out_channels, shape[1], shape[2]


def stack(shape: CHW, layers: Iterable[tuple[str, nn.Module]]) -> tuple[nn.Sequential, CHW]:
    """``nn.Sequential`` of named shaped layers, checking each one; returns it and its output shape."""
    seq = nn.Sequential()
    for name, layer in layers:
        shape = layer.output_shape(shape, name=name)  # type: ignore[operator]
        seq.add_module(name, layer)
    return seq, shape


def keep_prob_field(where: str) -> Any:
    """The ``keep_prob`` argument of a model: inverted dropout ``where``, 1 = none."""
    return Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description=f"Inverted dropout {where}: probability of keeping a unit, in (0, 1]; "
        "1 means no dropout (kept units are scaled by 1/keep_prob in training).",
    )


def dense_head(
    in_features: int,
    hidden: Sequence[int],
    num_outputs: int,
    *,
    activation: Activation = "relu",
    dropout: float = 0.0,
) -> nn.Sequential:
    """Fully connected layers ``fc1 … fcK`` (activation, dropout) and a linear ``out`` layer."""
    head = nn.Sequential()
    n = in_features
    for i, units in enumerate(hidden, start=1):
        head.add_module(f"fc{i}", nn.Linear(n, units))
        head.add_module(f"act{i}", make_activation(activation))
        if dropout > 0:
            head.add_module(f"drop{i}", nn.Dropout(dropout))
        n = units
    head.add_module("out", nn.Linear(n, num_outputs))  # logits
    return head
