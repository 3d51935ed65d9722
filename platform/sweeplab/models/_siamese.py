"""Siamese networks for verification: an encoder f(x) and a binary head on a pair.

:class:`Encoder` maps an image to an ``embedding_dim``-vector (128 by default, as in the
course); the same weights encode both images of a pair, which is what makes the network
"Siamese". The distance ``d(x_i, x_j) = ‖f(x_i) − f(x_j)‖²`` is learned with the triplet loss
(``training.triplet_loss``), or :class:`PairClassifier` learns the decision itself: logistic
regression on the element-wise ``|f(x_i) − f(x_j)|``, 1 = same identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._blocks import Activation, dense_head, keep_prob_field
from sweeplab.models._detection import backbone
from sweeplab.models._shapes import image_shape

__all__ = ["Encoder", "EncoderArgs", "PairClassifier", "squared_distances"]


class EncoderArgs(Schema):
    """Arguments of :class:`Encoder`."""

    filters: int = Field(
        default=16, ge=1, description="Filters of the first stage; doubled per stage."
    )
    stages: int = Field(default=2, ge=1, description="Conv-conv-pool stages (each halves H and W).")
    hidden: int = Field(default=128, ge=1, description="Units of the fully connected hidden layer.")
    embedding_dim: int = Field(default=128, ge=1, description="Size of the encoding f(x).")
    normalize: bool = Field(
        default=True,
        description="Scale every encoding to unit length, so ‖f(A) − f(N)‖² <= 4 and the "
        "margin α has a fixed scale (FaceNet's choice).",
    )
    batch_norm: bool = Field(default=True, description="Batch norm after every conv.")
    activation: Activation = Field(default="relu", description="Activation of the hidden layers.")
    keep_prob: float = keep_prob_field("after the fully connected hidden layer")


class Encoder(nn.Module):
    """``(B, C, H, W) -> (B, embedding_dim)``: conv stages, one hidden fc layer, the encoding."""

    def __init__(self, args: EncoderArgs, *, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.normalize = args.normalize
        self.embedding_dim = args.embedding_dim
        self.features, out = backbone(
            image_shape(input_shape, model="encoder"),
            filters=args.filters,
            stages=args.stages,
            batch_norm=args.batch_norm,
            activation=args.activation,
        )
        self.head = dense_head(
            math.prod(out),
            [args.hidden],
            args.embedding_dim,
            activation=args.activation,
            dropout=1.0 - args.keep_prob,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.head(self.features(x).flatten(1))  # (B, embedding_dim)
        return F.normalize(z, dim=1) if self.normalize else z


class PairClassifier(nn.Module):
    """``ŷ = σ(w · |f(x_i) − f(x_j)| + b)``: the course's binary head; returns the logit ``(B,)``."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.out = nn.Linear(encoder.embedding_dim, 1)

    def forward(self, xi: torch.Tensor, xj: torch.Tensor) -> torch.Tensor:
        return self.logit(self.encoder(xi), self.encoder(xj))

    def logit(self, ei: torch.Tensor, ej: torch.Tensor) -> torch.Tensor:
        """The logit from two precomputed encodings ``(B, d)`` (a deployed system stores them)."""
        return self.out((ei - ej).abs()).squeeze(1)


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``‖a_i − b_j‖²`` for every pair: ``(N, d)``, ``(M, d)`` -> ``(N, M)``, never negative."""
    d = (a * a).sum(1, keepdim=True) - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return d.clamp_min(0.0)
