"""Weight initializations of the course: small random, Xavier, He and Glorot.

Every scheme draws weights from N(0, std²) and sets biases to zero; they differ in ``std``:

=============  ==========================  ===================================
scheme         std                         use
=============  ==========================  ===================================
zeros          0 (weights are all zero)    linear models only (no symmetry to break)
small_random   0.01                        the course's first network
xavier         √(1 / n_in)                 tanh
he             √(2 / n_in)                 ReLU / leaky ReLU
glorot         √(2 / (n_in + n_out))       tanh / sigmoid (Glorot & Bengio)
=============  ==========================  ===================================

``n_in`` / ``n_out`` are the fan-in / fan-out of the layer: the number of inputs (outputs)
of one unit, i.e. ``in_features`` for a Linear layer and ``in_channels/groups · kh · kw`` for
a convolution. The course's notes call √(1/n) "Xavier"; the √(2/(n_in+n_out)) form is the
one of Glorot & Bengio, so both are offered under their own names.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import nn

__all__ = ["INITS", "InitName", "fans", "init_std", "init_weights_"]

InitName = Literal["zeros", "small_random", "xavier", "he", "glorot"]
INITS: tuple[str, ...] = get_args(InitName)


def init_std(scheme: str, *, fan_in: int, fan_out: int) -> float:
    """The standard deviation of ``scheme`` for a layer with ``fan_in`` inputs, ``fan_out`` outputs."""
    if scheme == "zeros":
        return 0.0
    if scheme == "small_random":
        return 0.01
    if scheme == "xavier":
        return math.sqrt(1.0 / fan_in)
    if scheme == "he":
        return math.sqrt(2.0 / fan_in)
    if scheme == "glorot":
        return math.sqrt(2.0 / (fan_in + fan_out))
    raise ValueError(f"`init` must be one of {', '.join(INITS)}, but got {scheme!r}")


def fans(layer: nn.Module) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear or convolution layer."""
    if isinstance(layer, nn.Linear):
        return layer.in_features, layer.out_features
    if isinstance(layer, nn.modules.conv._ConvNd):
        receptive = math.prod(layer.kernel_size)
        return (
            layer.in_channels // layer.groups * receptive,
            layer.out_channels // layer.groups * receptive,
        )
    raise TypeError(
        f"fans() supports Linear and convolution layers, but got {type(layer).__name__}"
    )


@torch.no_grad()
def init_weights_(module: nn.Module, scheme: str) -> nn.Module:
    """Initialize every Linear / convolution layer in ``module`` in place; biases become zero.

    Normalization layers keep PyTorch's γ = 1, β = 0. Returns ``module`` for chaining.
    """
    init_std(scheme, fan_in=1, fan_out=1)  # validates the name even when no layer matches
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.modules.conv._ConvNd):
            fan_in, fan_out = fans(layer)
            std = init_std(scheme, fan_in=fan_in, fan_out=fan_out)
            if std == 0.0:
                layer.weight.zero_()
            else:
                layer.weight.normal_(0.0, std)
            if layer.bias is not None:
                layer.bias.zero_()
    return module
