"""LeNet-5 (LeCun et al., 1998): the course's first classic network, for 32×32×1 digits.

With the default arguments the layer shapes are the original ones::

    input 1@32×32 -> conv1 5×5: 6@28×28 -> pool1 2×2 avg: 6@14×14
                  -> conv2 5×5: 16@10×10 -> pool2 2×2 avg: 16@5×5
                  -> fc1 120 -> fc2 84 -> out 10             (61,706 parameters)

Average pooling and tanh, as at the time. ``fc1`` is the original C5 layer (120 filters of
5×5×16 over a 5×5 input, i.e. a fully connected layer). For the 8×8 digits of
scikit-learn use ``padding: same`` (8 -> 4 -> 2) or a smaller ``kernel_size``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._blocks import Activation, ConvBlock, dense_head, make_pool, stack
from sweeplab.models._init import InitName, init_weights_
from sweeplab.models._registry import register_model
from sweeplab.models._shapes import CHW, check_num_outputs, image_shape

__all__ = ["LeNet5", "LeNet5Args", "build_lenet5"]


class LeNet5Args(Schema):
    """Arguments of ``lenet5``; the defaults are the original network."""

    conv1_filters: int = Field(
        default=6, ge=1, description="Filters of the first conv layer (6 in the original)."
    )
    conv2_filters: int = Field(
        default=16, ge=1, description="Filters of the second conv layer (16 in the original)."
    )
    fc1_units: int = Field(
        default=120, ge=1, description="Units of the first fully connected layer (120)."
    )
    fc2_units: int = Field(
        default=84, ge=1, description="Units of the second fully connected layer (84)."
    )
    kernel_size: int = Field(
        default=5,
        ge=1,
        description="Filter size f of both conv layers (5); must be odd with 'same' padding.",
    )
    padding: Literal["valid", "same"] = Field(
        default="valid",
        description="Conv padding: valid (p = 0, the original: 32 -> 28) or same (p = (f-1)/2, keeps the size; for small inputs such as 8×8).",
    )
    pooling: Literal["avg", "max"] = Field(
        default="avg", description="2×2 stride-2 pooling: avg (the original) or max."
    )
    activation: Activation = Field(
        default="tanh",
        description="Activation after every conv and hidden fc layer (tanh in the original).",
    )
    init: InitName = Field(
        default="xavier",
        description="Weight initialization of conv and fc layers: zeros, small_random, xavier (√(1/n_in), for tanh), he (√(2/n_in), for ReLU) or glorot.",
    )

    @model_validator(mode="after")
    def _check_padding(self) -> LeNet5Args:
        if self.padding == "same" and self.kernel_size % 2 == 0:
            raise ValueError(
                "'same' padding needs an odd kernel_size so that p = (f - 1)/2 is whole, "
                f"but got kernel_size={self.kernel_size}"
            )
        return self


class LeNet5(nn.Module):
    """conv -> pool -> conv -> pool -> fc -> fc -> out: ``(B, C, H, W) -> (B, num_outputs)``."""

    def __init__(self, args: LeNet5Args, input_shape: CHW, num_outputs: int) -> None:
        super().__init__()
        c = input_shape[0]
        conv = {"padding": args.padding, "activation": args.activation}
        self.features, out_shape = stack(
            input_shape,
            [
                ("conv1", ConvBlock(c, args.conv1_filters, args.kernel_size, **conv)),
                ("pool1", make_pool(args.pooling, 2)),
                (
                    "conv2",
                    ConvBlock(args.conv1_filters, args.conv2_filters, args.kernel_size, **conv),
                ),
                ("pool2", make_pool(args.pooling, 2)),
            ],
        )
        self.flatten = nn.Flatten()
        self.head = dense_head(
            math.prod(out_shape),  # 16 * 5 * 5 = 400 in the original
            [args.fc1_units, args.fc2_units],
            num_outputs,
            activation=args.activation,
        )
        init_weights_(self, args.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, H, W) -> (B, conv2_filters, H', W')
        return self.head(self.flatten(x))  # (B, conv2_filters * H' * W') -> (B, num_outputs)


@register_model(
    "lenet5",
    args=LeNet5Args,
    tasks=("binary", "multiclass", "multilabel"),
    input_kind="image",
    example_input=(1, 32, 32),
    example_outputs=10,
)
def build_lenet5(args: LeNet5Args, *, input_shape: tuple[int, ...], num_outputs: int) -> LeNet5:
    """LeNet-5: two conv + average-pool stages and two fc layers (original sizes at 1×32×32)."""
    check_num_outputs(num_outputs)
    return LeNet5(args, image_shape(input_shape, model="lenet5"), num_outputs)
