"""VGG (Simonyan & Zisserman, 2014): only 3×3 "same" convs and 2×2 stride-2 max pools.

Every stage is ``convs_per_stage`` convs then a pool that halves H×W, while the width doubles
from stage to stage (capped at ``max_width``); fc layers follow. VGG-16 is
``stages=5, convs_per_stage=[2, 2, 3, 3, 3], base_width=64, fc_units=4096, keep_prob=0.5`` at
3×224×224 (224 -> 7, 512×7×7 -> 4096 -> 4096 -> 1000; 138M parameters). The defaults (3
stages from 16 filters) fit 1×8×8 (-> 1×1) and 1×16×16 (-> 2×2).
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, PositiveInt, model_validator
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._blocks import Activation, ConvBlock, MaxPool, dense_head, stack
from sweeplab.models._init import InitName, init_weights_
from sweeplab.models._registry import register_model
from sweeplab.models._shapes import CHW, check_num_outputs, image_shape

__all__ = ["VGG", "VGGArgs", "build_vgg"]


class VGGArgs(Schema):
    """Arguments of ``vgg``."""

    stages: int = Field(
        default=3,
        ge=1,
        le=8,
        description="Number of stages (convs then a 2×2 max pool); each halves H×W.",
    )
    convs_per_stage: PositiveInt | list[PositiveInt] = Field(
        default=2,
        description="3×3 convs in each stage: one number for all stages, or a list with one entry per stage (VGG-16: [2, 2, 3, 3, 3]).",
    )
    base_width: int = Field(
        default=16,
        ge=1,
        description="Filters of the first stage; doubled at every next stage (64 in VGG-16).",
    )
    max_width: int = Field(
        default=512, ge=1, description="Cap on the filters of a stage (512 in VGG-16)."
    )
    fc_units: int = Field(
        default=128, ge=1, description="Units of each hidden fc layer (4096 in VGG-16)."
    )
    fc_layers: int = Field(
        default=2, ge=0, le=4, description="Hidden fc layers before the output layer (2 in VGG-16)."
    )
    keep_prob: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="Inverted dropout after each hidden fc layer: probability of keeping a unit, in (0, 1]; 1 means no dropout (VGG-16: 0.5).",
    )
    batch_norm: bool = Field(
        default=False, description="Batch normalization after every conv (VGG-BN)."
    )
    activation: Activation = Field(
        default="relu", description="Activation of conv and hidden fc layers."
    )
    init: InitName = Field(
        default="he",
        description="Weight initialization of conv and fc layers: zeros, small_random, xavier, he (√(2/n_in), for ReLU) or glorot.",
    )

    @model_validator(mode="after")
    def _check_convs(self) -> VGGArgs:
        convs = self.convs_per_stage
        if isinstance(convs, list) and len(convs) != self.stages:
            raise ValueError(
                "len(convs_per_stage) == stages must hold when convs_per_stage is a list, "
                f"but got convs_per_stage={convs}, stages={self.stages}"
            )
        return self

    @property
    def convs(self) -> list[int]:
        """Convs of each stage, resolved to a list."""
        c = self.convs_per_stage
        return list(c) if isinstance(c, list) else [c] * self.stages


class VGG(nn.Module):
    """Stages of 3×3 convs and 2×2 pools, then fc layers: ``(B, C, H, W) -> (B, num_outputs)``."""

    def __init__(self, args: VGGArgs, input_shape: CHW, num_outputs: int) -> None:
        super().__init__()
        layers: list[tuple[str, nn.Module]] = []
        c_in = input_shape[0]
        for s, n_convs in enumerate(args.convs, start=1):
            c_out = min(args.base_width * 2 ** (s - 1), args.max_width)
            for i in range(1, n_convs + 1):
                layers.append(
                    (
                        f"conv{s}_{i}",
                        ConvBlock(
                            c_in, c_out, 3, batch_norm=args.batch_norm, activation=args.activation
                        ),
                    )
                )
                c_in = c_out
            layers.append((f"pool{s}", MaxPool(2)))  # (B, c_out, H/2, W/2)
        self.features, out_shape = stack(input_shape, layers)
        self.flatten = nn.Flatten()
        self.head = dense_head(
            math.prod(out_shape),  # 512 * 7 * 7 in VGG-16
            [args.fc_units] * args.fc_layers,
            num_outputs,
            activation=args.activation,
            dropout=1.0 - args.keep_prob,
        )
        init_weights_(self, args.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, H, W) -> (B, C_last, H / 2^stages, W / 2^stages)
        return self.head(self.flatten(x))  # (B, C_last * H' * W') -> (B, num_outputs)


@register_model(
    "vgg",
    args=VGGArgs,
    tasks=("binary", "multiclass", "multilabel"),
    input_kind="image",
    example_input=(1, 16, 16),
    example_outputs=10,
)
def build_vgg(args: VGGArgs, *, input_shape: tuple[int, ...], num_outputs: int) -> VGG:
    """VGG: stages of 3×3 same convs and 2×2 max pools, doubling width, then fc layers."""
    check_num_outputs(num_outputs)
    return VGG(args, image_shape(input_shape, model="vgg"), num_outputs)
