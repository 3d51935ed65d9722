"""ResNet (He et al., 2015): stages of residual blocks, global average pooling, one fc layer.

A residual block adds its input to the output of two 3×3 convs before the last ReLU,
``a[l+2] = g(z[l+2] + a[l])``; learning the identity is then easy, so adding blocks does not
hurt and very deep networks keep training. ``residual=False`` builds the *plain* network
with exactly the same convs (and no shortcuts), for the course's comparison: the plain
network's training error goes up with depth, the residual one's keeps going down.

Stage ``i`` (from 0) has ``base_width · 2^i`` filters; its first block halves H×W with
stride 2 (a 1×1 projection shortcut matches the shapes). ResNet-34 is
``blocks_per_stage=[3, 4, 6, 3], base_width=64, stem_kernel=7, stem_stride=2,
stem_pool=true`` at 3×224×224 (21.8M parameters with 1000 classes). The defaults are a small
ResNet for 8×8 … 32×32 inputs.

``block="bottleneck"`` uses the deeper networks' block: 1×1 (reduce to ``w``) -> 3×3 (``w``,
the stage's stride) -> 1×1 (expand to ``4w``), the shortcut added before the last ReLU.
ResNet-50 is ResNet-34's settings with ``block=bottleneck``: 25,557,032 parameters at
3×224×224 with 1000 classes, as torchvision's ``resnet50``.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, PositiveInt, field_validator
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._blocks import (
    Activation,
    Conv1x1,
    ConvBlock,
    MaxPool,
    ResidualBlock,
    make_activation,
    projection_shortcut,
    stack,
)
from sweeplab.models._init import InitName, init_weights_
from sweeplab.models._registry import register_model
from sweeplab.models._shapes import CHW, check_num_outputs, image_shape

__all__ = ["BottleneckBlock", "ResNet", "ResNetArgs", "build_resnet"]

EXPANSION = 4  # a bottleneck block's output channels per 3×3 filter


class BottleneckBlock(ResidualBlock):
    """1×1 reduce -> 3×3 (stride) -> 1×1 expand (×4), plus the shortcut, then the activation.

    ``(B, C_in, H, W) -> (B, 4·width, H/stride, W/stride)``; the shortcut and ``forward`` are
    :class:`ResidualBlock`'s (only the main path differs).
    """

    def __init__(self, in_channels: int, width: int, *, stride: int = 1, **options: Any) -> None:
        nn.Module.__init__(self)  # not ResidualBlock's two 3×3 convs
        batch_norm, activation = options["batch_norm"], options["activation"]
        residual = options.get("residual", True)
        out = width * EXPANSION
        kw = {"batch_norm": batch_norm, "activation": activation}
        self.in_channels, self.out_channels, self.residual = in_channels, out, residual
        self.reduce = Conv1x1(in_channels, width, **kw)
        self.conv = ConvBlock(width, width, 3, stride=stride, **kw)
        self.expand = Conv1x1(width, out, batch_norm=batch_norm, activation=None)
        self.shortcut = projection_shortcut(
            in_channels, out, stride=stride, batch_norm=batch_norm, residual=residual
        )
        self.act = make_activation(activation)

    def main_path(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.conv(self.reduce(x)))  # (B, 4w, H', W')

    def output_shape(self, shape: CHW, *, name: str) -> CHW:
        mid = self.reduce.output_shape(shape, name=f"{name}.reduce")
        mid = self.conv.output_shape(mid, name=f"{name}.conv")
        return self.expand.output_shape(mid, name=f"{name}.expand")


class ResNetArgs(Schema):
    """Arguments of ``resnet``."""

    blocks_per_stage: list[PositiveInt] = Field(
        default=[2, 2, 2],
        min_length=1,
        max_length=8,
        description="Residual blocks (two 3×3 convs each) in every stage; one entry per stage (ResNet-34: [3, 4, 6, 3]).",
    )
    base_width: int = Field(
        default=16,
        ge=1,
        description="Filters of the stem and first stage; doubled at every next stage (64 in ResNet-34).",
    )
    block: Literal["basic", "bottleneck"] = Field(
        default="basic",
        description="basic: two 3×3 convs per block (ResNet-18/34); bottleneck: 1×1 reduce, "
        "3×3, 1×1 expand to 4× the stage's filters (ResNet-50/101/152).",
    )
    residual: bool = Field(
        default=True,
        description="Add the shortcuts; false builds the plain network with the same convs, for comparison.",
    )
    batch_norm: bool = Field(default=True, description="Batch normalization after every conv.")
    stem_kernel: int = Field(
        default=3,
        ge=1,
        description="Filter size of the stem conv ('same' padding, so odd); 7 in ResNet-34.",
    )
    stem_stride: int = Field(
        default=1, ge=1, description="Stride of the stem conv; 2 in ResNet-34."
    )
    stem_pool: bool = Field(
        default=False, description="A 3×3 stride-2 max pool after the stem, as in ResNet-34."
    )
    activation: Activation = Field(
        default="relu", description="Activation of the stem and of every block."
    )
    init: InitName = Field(
        default="he",
        description="Weight initialization of conv and fc layers: zeros, small_random, xavier, he (√(2/n_in), for ReLU) or glorot.",
    )

    @field_validator("stem_kernel")
    @classmethod
    def _odd_stem(cls, f: int) -> int:
        if f % 2 == 0:
            raise ValueError(f"stem_kernel must be odd ('same' padding p = (f - 1)/2), but got {f}")
        return f


class ResNet(nn.Module):
    """stem -> stages of residual blocks -> global average pool -> fc: ``(B, C, H, W) -> (B, K)``."""

    def __init__(self, args: ResNetArgs, input_shape: CHW, num_outputs: int) -> None:
        super().__init__()
        kw = {"batch_norm": args.batch_norm, "activation": args.activation}
        w = args.base_width
        layers: list[tuple[str, nn.Module]] = [
            ("stem", ConvBlock(input_shape[0], w, args.stem_kernel, stride=args.stem_stride, **kw))
        ]
        if args.stem_pool:
            layers.append(("stem_pool", MaxPool(3, stride=2, padding=1)))
        c_in = w
        for s, n_blocks in enumerate(args.blocks_per_stage):
            c_out = w * 2**s
            for b in range(n_blocks):
                stride = 2 if s > 0 and b == 0 else 1  # downsample at the start of a stage
                block: nn.Module
                if args.block == "bottleneck":
                    block = BottleneckBlock(
                        c_in, c_out, stride=stride, residual=args.residual, **kw
                    )
                else:
                    block = ResidualBlock(c_in, c_out, stride=stride, residual=args.residual, **kw)
                layers.append((f"stage{s + 1}_block{b + 1}", block))
                c_in = block.out_channels
        self.features, _ = stack(input_shape, layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # (B, C, H', W') -> (B, C, 1, 1), any H', W'
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(c_in, num_outputs)
        init_weights_(self, args.init)

    def blocks(self) -> list[ResidualBlock]:
        return [m for m in self.modules() if isinstance(m, ResidualBlock)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, H, W) -> (B, C_last, H', W')
        return self.fc(self.flatten(self.pool(x)))  # (B, C_last) -> (B, num_outputs)


@register_model(
    "resnet",
    args=ResNetArgs,
    tasks=("binary", "multiclass", "multilabel"),
    input_kind="image",
    example_input=(1, 16, 16),
    example_outputs=10,
)
def build_resnet(args: ResNetArgs, *, input_shape: tuple[int, ...], num_outputs: int) -> ResNet:
    """ResNet: stages of residual blocks (or the plain twin, residual=false), configurable depth."""
    check_num_outputs(num_outputs)
    return ResNet(args, image_shape(input_shape, model="resnet"), num_outputs)
