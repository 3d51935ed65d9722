"""AlexNet-style network (Krizhevsky et al., 2012): LeNet's plan, much bigger, ReLU and max pooling.

Layers (filters at ``width_multiplier = 1``)::

    conv1 f×f stride s (valid), 96 -> pool1 max 3×3/2 -> conv2 5×5 same, 256 -> pool2 max 3×3/2
    -> conv3, conv4, conv5 3×3 same, 384, 384, 256 -> pool3 max 3×3/2
    -> fc1 4096, dropout -> fc2 4096, dropout -> out

``stem_kernel=11, stem_stride=4, width_multiplier=1, keep_prob=0.5`` at 3×227×227 is the
original (55 -> 27 -> 13 -> 6, 256×6×6 -> 4096, about 62M parameters with 1000 classes).
The defaults (5×5 stride-1 stem, a quarter of the width) fit 1×32×32 (28 -> 13 -> 6 -> 2).
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._blocks import Activation, ConvBlock, MaxPool, dense_head, stack
from sweeplab.models._init import InitName, init_weights_
from sweeplab.models._registry import register_model
from sweeplab.models._shapes import CHW, check_num_outputs, image_shape

__all__ = ["AlexNet", "AlexNetArgs", "build_alexnet"]

_FILTERS = (96, 256, 384, 384, 256)  # conv1 … conv5 of the original
_FC_UNITS = 4096


class AlexNetArgs(Schema):
    """Arguments of ``alexnet``."""

    width_multiplier: float = Field(
        default=0.25,
        gt=0.0,
        le=4.0,
        description="Scales every filter count (96, 256, 384, 384, 256) and fc width (4096); 1 is the original.",
    )
    stem_kernel: int = Field(
        default=5, ge=1, description="Filter size of conv1 (valid padding); 11 in the original."
    )
    stem_stride: int = Field(
        default=1, ge=1, description="Stride of conv1; 4 in the original (for 227×227 inputs)."
    )
    keep_prob: float = Field(
        default=0.5,
        gt=0.0,
        le=1.0,
        description="Inverted dropout after each hidden fc layer: probability of keeping a unit, in (0, 1]; 1 means no dropout.",
    )
    batch_norm: bool = Field(
        default=False, description="Batch normalization after every conv (the original had none)."
    )
    activation: Activation = Field(
        default="relu", description="Activation of conv and hidden fc layers."
    )
    init: InitName = Field(
        default="he",
        description="Weight initialization of conv and fc layers: zeros, small_random, xavier, he (√(2/n_in), for ReLU) or glorot.",
    )


class AlexNet(nn.Module):
    """Five convs, three max pools, two wide fc layers: ``(B, C, H, W) -> (B, num_outputs)``."""

    def __init__(self, args: AlexNetArgs, input_shape: CHW, num_outputs: int) -> None:
        super().__init__()
        c1, c2, c3, c4, c5 = (max(1, round(f * args.width_multiplier)) for f in _FILTERS)
        kw = {"batch_norm": args.batch_norm, "activation": args.activation}
        self.features, out_shape = stack(
            input_shape,
            [
                (
                    "conv1",
                    ConvBlock(
                        input_shape[0],
                        c1,
                        args.stem_kernel,
                        stride=args.stem_stride,
                        padding="valid",
                        **kw,
                    ),
                ),
                ("pool1", MaxPool(3, stride=2)),
                ("conv2", ConvBlock(c1, c2, 5, **kw)),
                ("pool2", MaxPool(3, stride=2)),
                ("conv3", ConvBlock(c2, c3, 3, **kw)),
                ("conv4", ConvBlock(c3, c4, 3, **kw)),
                ("conv5", ConvBlock(c4, c5, 3, **kw)),
                ("pool3", MaxPool(3, stride=2)),
            ],
        )
        self.flatten = nn.Flatten()
        fc = max(1, round(_FC_UNITS * args.width_multiplier))
        self.head = dense_head(
            math.prod(out_shape),  # 256 * 6 * 6 = 9216 in the original
            [fc, fc],
            num_outputs,
            activation=args.activation,
            dropout=1.0 - args.keep_prob,
        )
        init_weights_(self, args.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, H, W) -> (B, c5, H', W')
        return self.head(self.flatten(x))  # (B, c5 * H' * W') -> (B, num_outputs)


@register_model(
    "alexnet",
    args=AlexNetArgs,
    tasks=("binary", "multiclass", "multilabel"),
    input_kind="image",
    example_input=(1, 32, 32),
    example_outputs=10,
)
def build_alexnet(args: AlexNetArgs, *, input_shape: tuple[int, ...], num_outputs: int) -> AlexNet:
    """AlexNet-style: 5 convs (ReLU, max pooling), 2 wide fc layers, dropout; width multiplier."""
    check_num_outputs(num_outputs)
    return AlexNet(args, image_shape(input_shape, model="alexnet"), num_outputs)
