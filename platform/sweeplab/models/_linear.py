"""Linear models: logistic regression (binary) and softmax regression (multiclass).

Both flatten their input, so images ``(N, C, H, W)`` work as well as vectors ``(N, D)``, and
both return logits: the sigmoid / softmax lives in the loss (``BCEWithLogitsLoss`` /
``cross_entropy``), which is numerically stabler than applying it in ``forward``.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from sweeplab.config import Schema
from sweeplab.errors import UserError
from sweeplab.models._init import InitName, init_weights_
from sweeplab.models._registry import register_model

__all__ = ["LinearArgs", "LinearClassifier", "build_logreg", "build_softmax"]


class LinearArgs(Schema):
    """Arguments of ``logreg`` and ``softmax``."""

    init: InitName = Field(
        default="zeros",
        description=(
            "Weight initialization: zeros (the course's choice for a convex model), "
            "small_random (N(0,1)·0.01), xavier (std √(1/n_in)), he (√(2/n_in)) or "
            "glorot (√(2/(n_in+n_out))). The bias starts at zero."
        ),
    )


class LinearClassifier(nn.Module):
    """``logits = flatten(x) @ W.T + b``: ``(N, *input_shape) -> (N, num_outputs)``."""

    def __init__(self, in_features: int, num_outputs: int, *, init: str) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, num_outputs)
        init_weights_(self, init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))  # (N, D) -> (N, num_outputs)


@register_model(
    "logreg",
    args=LinearArgs,
    tasks=("binary",),
    input_kind="vector",
    example_input=(30,),
    example_outputs=1,
)
def build_logreg(
    args: LinearArgs, *, input_shape: tuple[int, ...], num_outputs: int
) -> LinearClassifier:
    """Logistic regression: one logit, P(y=1|x) = σ(wᵀx + b)."""
    if num_outputs != 1:
        raise UserError(
            "logistic regression has one output logit (binary task): `num_outputs == 1` must "
            f"hold, but got num_outputs={num_outputs}; use model 'softmax' for more classes",
            key="model",
        )
    return LinearClassifier(math.prod(input_shape), 1, init=args.init)


@register_model(
    "softmax",
    args=LinearArgs,
    tasks=("multiclass",),
    input_kind="vector",
    example_input=(64,),
    example_outputs=10,
)
def build_softmax(
    args: LinearArgs, *, input_shape: tuple[int, ...], num_outputs: int
) -> LinearClassifier:
    """Softmax regression: one logit per class, P(y=k|x) = softmax(Wx + b)_k."""
    if num_outputs < 2:
        raise UserError(
            "softmax regression needs one logit per class: `num_outputs >= 2` must hold, "
            f"but got num_outputs={num_outputs}; use model 'logreg' for a binary task",
            key="model",
        )
    return LinearClassifier(math.prod(input_shape), num_outputs, init=args.init)
