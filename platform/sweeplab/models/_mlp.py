"""The deep fully connected network of the course (``mlp``).

One hidden block is ``Linear -> [BatchNorm1d] -> activation -> [Dropout]``; the output layer
is a plain ``Linear`` that returns logits (one logit for a binary task, one per class for a
multiclass task). The input is flattened, so images ``(N, C, H, W)`` work too.

* Batch norm normalizes ``z`` before the activation, as in the course; its β replaces the
  Linear layer's bias, so a Linear followed by BatchNorm has ``bias=False``.
* Dropout is inverted dropout through ``nn.Dropout(p=1 - keep_prob)``: in training mode each
  unit is kept with probability ``keep_prob`` and the kept units are scaled by
  ``1 / keep_prob`` so the expected activation is unchanged; in eval mode it is the
  identity. With ``keep_prob == 1`` no dropout module is added at all.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._init import init_weights_
from sweeplab.models._registry import register_model

__all__ = ["MLP", "MLPArgs", "MLPBlock", "build_mlp"]

Activation = Literal["sigmoid", "tanh", "relu", "leaky_relu", "linear"]


class MLPArgs(Schema):
    """Arguments of ``mlp``."""

    num_layers: int = Field(
        default=2, ge=1, description="Number of hidden layers (ignored when hidden_sizes is set)."
    )
    hidden_units: int = Field(
        default=64, ge=1, description="Units in every hidden layer (unless hidden_sizes is set)."
    )
    hidden_sizes: list[int] | None = Field(
        default=None,
        min_length=1,
        description=(
            "Units of each hidden layer, e.g. [128, 64]; overrides num_layers and hidden_units "
            "(setting those too is an error unless they agree)."
        ),
    )
    activation: Activation = Field(
        default="relu",
        description=(
            "Hidden activation: sigmoid, tanh, relu, leaky_relu or linear (g(z) = z: the "
            "hidden layers then compute one linear map of the input, whatever their depth)."
        ),
    )
    leaky_slope: float = Field(
        default=0.01,
        ge=0.0,
        lt=1.0,
        description="Negative slope of leaky_relu, in [0, 1); only valid with leaky_relu.",
    )
    init: Literal["small_random", "xavier", "he", "glorot"] = Field(
        default="he",
        description=(
            "Weight initialization: small_random (N(0,1)·0.01), xavier (std √(1/n_in)), "
            "he (√(2/n_in), for ReLU), glorot (√(2/(n_in+n_out))). Biases start at zero."
        ),
    )
    keep_prob: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description=(
            "Inverted dropout after each hidden activation: probability of keeping a unit, "
            "in (0, 1]; 1 means no dropout. Kept units are scaled by 1/keep_prob in training."
        ),
    )
    batch_norm: bool = Field(
        default=False,
        description="Batch normalization of each hidden layer's z, before the activation.",
    )

    @model_validator(mode="after")
    def _check_consistent(self) -> MLPArgs:
        given = self.model_fields_set
        sizes = self.hidden_sizes
        if sizes is not None:
            if any(h < 1 for h in sizes):
                raise ValueError(f"`hidden_sizes` must all be >= 1, but got {sizes}")
            if "num_layers" in given and self.num_layers != len(sizes):
                raise ValueError(
                    "`num_layers == len(hidden_sizes)` must hold when both are set, but got "
                    f"num_layers={self.num_layers}, hidden_sizes={sizes}; set only hidden_sizes"
                )
            if "hidden_units" in given and any(h != self.hidden_units for h in sizes):
                raise ValueError(
                    "every hidden size must equal `hidden_units` when both are set, but got "
                    f"hidden_units={self.hidden_units}, hidden_sizes={sizes}; "
                    "set only hidden_sizes"
                )
        if "leaky_slope" in given and self.activation != "leaky_relu":
            raise ValueError(
                "`leaky_slope` is only used with activation 'leaky_relu', but got "
                f"activation={self.activation!r}, leaky_slope={self.leaky_slope}; remove "
                "leaky_slope or make it conditional (when: {activation: leaky_relu})"
            )
        return self

    @property
    def sizes(self) -> list[int]:
        """The resolved widths of the hidden layers."""
        if self.hidden_sizes is not None:
            return list(self.hidden_sizes)
        return [self.hidden_units] * self.num_layers


def _activation(name: str, leaky_slope: float) -> nn.Module:
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(leaky_slope)
    if name == "linear":
        return nn.Identity()
    raise ValueError(
        f"`activation` must be one of sigmoid, tanh, relu, leaky_relu, linear, got {name!r}"
    )


class MLPBlock(nn.Sequential):
    """``Linear -> [BatchNorm1d] -> activation -> [Dropout]``: ``(N, n_in) -> (N, n_out)``."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        *,
        activation: str,
        leaky_slope: float = 0.01,
        batch_norm: bool = False,
        keep_prob: float = 1.0,
    ) -> None:
        layers: list[nn.Module] = [nn.Linear(n_in, n_out, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(n_out))  # its β does the bias's job
        layers.append(_activation(activation, leaky_slope))
        if keep_prob < 1.0:
            layers.append(nn.Dropout(p=1.0 - keep_prob))  # inverted: scales by 1/keep_prob
        super().__init__(*layers)


class MLP(nn.Module):
    """Hidden blocks then an output Linear: ``(N, *input_shape) -> (N, num_outputs)`` logits."""

    def __init__(self, in_features: int, num_outputs: int, args: MLPArgs) -> None:
        super().__init__()
        widths = [in_features, *args.sizes]
        self.hidden = nn.Sequential(
            *(
                MLPBlock(
                    n_in,
                    n_out,
                    activation=args.activation,
                    leaky_slope=args.leaky_slope,
                    batch_norm=args.batch_norm,
                    keep_prob=args.keep_prob,
                )
                for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
            )
        )
        self.out = nn.Linear(widths[-1], num_outputs)
        init_weights_(self, args.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x.flatten(1)))  # (N, D) -> (N, H_L) -> (N, num_outputs)


@register_model(
    "mlp",
    args=MLPArgs,
    tasks=("binary", "multiclass", "multilabel"),
    input_kind="vector",
    example_input=(64,),
    example_outputs=10,
)
def build_mlp(args: MLPArgs, *, input_shape: tuple[int, ...], num_outputs: int) -> MLP:
    """Deep fully connected network: depth, widths, activation, init, dropout, batch norm."""
    if num_outputs < 1:
        raise ValueError(f"`num_outputs >= 1` must hold, but got num_outputs={num_outputs}")
    return MLP(math.prod(input_shape), num_outputs, args)
