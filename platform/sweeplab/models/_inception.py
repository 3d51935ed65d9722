"""Inception network (Szegedy et al., 2014): a stem, stages of inception modules, global pooling.

An inception module runs 1×1, 1×1→3×3, 1×1→5×5 and 3×3 max pool→1×1 branches side by side
and stacks their outputs on the channel axis, letting the network use every filter size
at once; the 1×1 bottlenecks keep the cost down. Module widths follow GoogLeNet's
inception (3a) (64, 96→128, 16→32, 32 for w = 32) scaled by ``base_width`` = w::

    c1 = 2w, c3_reduce = 3w, c3 = 4w, c5_reduce = w/2, c5 = w, pool_proj = w  -> 8w channels

and doubled at each next stage; a 3×3 stride-2 max pool separates stages.
"""

from __future__ import annotations

import torch
from pydantic import Field, PositiveInt, field_validator
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._blocks import Activation, ConvBlock, InceptionModule, MaxPool, stack
from sweeplab.models._init import InitName, init_weights_
from sweeplab.models._registry import register_model
from sweeplab.models._shapes import CHW, check_num_outputs, image_shape

__all__ = ["Inception", "InceptionArgs", "build_inception", "module_widths"]


class InceptionArgs(Schema):
    """Arguments of ``inception``."""

    stem_width: int = Field(
        default=16, ge=1, description="Filters of the stem conv (3×3 'same' by default)."
    )
    stem_kernel: int = Field(
        default=3, ge=1, description="Filter size of the stem conv ('same' padding, so odd)."
    )
    stem_stride: int = Field(default=1, ge=1, description="Stride of the stem conv.")
    modules_per_stage: list[PositiveInt] = Field(
        default=[2, 1],
        min_length=1,
        max_length=6,
        description="Inception modules in each stage; stages are separated by a 3×3 stride-2 max pool.",
    )
    base_width: int = Field(
        default=4,
        ge=2,
        description="Width w of the first stage's modules (1×1: 2w, 3×3: 3w→4w, 5×5: w/2→w, pool: w; 8w out); doubled per stage.",
    )
    keep_prob: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="Inverted dropout before the output layer: probability of keeping a unit, in (0, 1]; 1 means no dropout.",
    )
    batch_norm: bool = Field(default=True, description="Batch normalization after every conv.")
    activation: Activation = Field(default="relu", description="Activation of every conv.")
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


def module_widths(w: int) -> dict[str, int]:
    """Branch widths of an inception module of width ``w`` (GoogLeNet 3a for w = 32)."""
    return {
        "c1": 2 * w,
        "c3_reduce": 3 * w,
        "c3": 4 * w,
        "c5_reduce": max(1, w // 2),
        "c5": w,
        "pool_proj": w,
    }


class Inception(nn.Module):
    """stem -> inception modules (pools between stages) -> global average pool -> fc."""

    def __init__(self, args: InceptionArgs, input_shape: CHW, num_outputs: int) -> None:
        super().__init__()
        kw = {"batch_norm": args.batch_norm, "activation": args.activation}
        layers: list[tuple[str, nn.Module]] = [
            (
                "stem",
                ConvBlock(
                    input_shape[0], args.stem_width, args.stem_kernel, stride=args.stem_stride, **kw
                ),
            )
        ]
        c_in = args.stem_width
        for s, n_modules in enumerate(args.modules_per_stage):
            if s > 0:
                layers.append((f"pool{s}", MaxPool(3, stride=2, padding=1)))  # halves H×W
            for m in range(n_modules):
                module = InceptionModule(c_in, **module_widths(args.base_width * 2**s), **kw)
                layers.append((f"inception{s + 1}{'abcdefgh'[m]}", module))
                c_in = module.out_channels
        self.features, _ = stack(input_shape, layers)
        self.pool = nn.AdaptiveAvgPool2d(1)  # (B, C, H', W') -> (B, C, 1, 1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(1.0 - args.keep_prob) if args.keep_prob < 1.0 else None
        self.fc = nn.Linear(c_in, num_outputs)
        init_weights_(self, args.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.flatten(self.pool(self.features(x)))  # (B, C, H, W) -> (B, C_last)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc(x)  # (B, num_outputs)


@register_model(
    "inception",
    args=InceptionArgs,
    tasks=("binary", "multiclass", "multilabel"),
    input_kind="image",
    example_input=(1, 16, 16),
    example_outputs=10,
)
def build_inception(
    args: InceptionArgs, *, input_shape: tuple[int, ...], num_outputs: int
) -> Inception:
    """Inception: a stem, inception modules (parallel 1×1/3×3/5×5/pool branches), global pooling."""
    check_num_outputs(num_outputs)
    return Inception(args, image_shape(input_shape, model="inception"), num_outputs)
