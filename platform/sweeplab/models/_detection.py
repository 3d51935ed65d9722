"""Localization, landmark and YOLO-style grid detection networks, and their output decoders.

All three share a backbone of ``stages`` × (3×3 "same" conv -> 3×3 conv -> 2×2 max pool), so
an ``H × W`` input becomes ``H/2^stages × W/2^stages``. Heads:

* :class:`Localizer` (classification with localization): ``(B, 1 + 4 + K)`` raw outputs
  ``[p_c logit, box logits (4), class logits (K)]``; :func:`decode_localization` turns them
  into ``p_c``, a box ``(b_x, b_y, b_h, b_w)`` in (0, 1) and class probabilities.
  ``num_landmarks=L`` instead gives ``(B, 1 + 2L)``: ``[p_c logit, (l_x, l_y) logits × L]``.
* :class:`GridDetector` (YOLO): a fully convolutional head, one pass for every cell of the
  ``S × S`` grid, ``(B, S, S, A, 5 + K)`` raw outputs per anchor:
  ``[p_c logit, t_x logit, t_y logit, log-scale of h, log-scale of w, class logits]``;
  :func:`decode_grid` gives boxes and scores and applies per-class non-max suppression.

These models do not fit the classification registry's ``(B, num_outputs)`` contract, so they
are built directly (``GridDetector(DetectorArgs(...), input_shape=..., num_classes=...)``).
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, field_validator
from torch import nn

from sweeplab.analysis import Detections, non_max_suppression
from sweeplab.config import Schema
from sweeplab.models._blocks import (
    Activation,
    ConvBlock,
    MaxPool,
    dense_head,
    keep_prob_field,
    stack,
)
from sweeplab.models._shapes import CHW, ShapeError, image_shape

__all__ = [
    "DetectorArgs",
    "GridDetector",
    "Localizer",
    "LocalizerArgs",
    "backbone",
    "decode_grid",
    "decode_landmarks",
    "decode_localization",
]


def backbone(
    shape: CHW, *, filters: int, stages: int, batch_norm: bool, activation: Activation
) -> tuple[nn.Sequential, CHW]:
    """``stages`` × (conv 3×3 -> conv 3×3 -> max pool 2×2); filters double every stage."""
    layers: list[tuple[str, nn.Module]] = []
    c = shape[0]
    for s in range(stages):
        f = filters * 2**s
        kw = {"batch_norm": batch_norm, "activation": activation}
        layers += [
            (f"conv{s + 1}a", ConvBlock(c, f, 3, **kw)),
            (f"conv{s + 1}b", ConvBlock(f, f, 3, **kw)),
            (f"pool{s + 1}", MaxPool(2)),
        ]
        c = f
    return stack(shape, layers)


class LocalizerArgs(Schema):
    """Arguments of :class:`Localizer`."""

    filters: int = Field(
        default=16, ge=1, description="Filters of the first stage; doubled per stage."
    )
    stages: int = Field(default=3, ge=1, description="Conv-conv-pool stages (each halves H and W).")
    hidden: int = Field(default=64, ge=1, description="Units of the fully connected hidden layer.")
    batch_norm: bool = Field(default=True, description="Batch norm after every conv.")
    activation: Activation = Field(default="relu", description="Activation of the hidden layers.")
    keep_prob: float = keep_prob_field("after the fully connected hidden layer")


class Localizer(nn.Module):
    """Classification with localization (or landmarks): ``(B, C, H, W) -> (B, 1 + 4 + K)``."""

    def __init__(
        self,
        args: LocalizerArgs,
        *,
        input_shape: tuple[int, ...],
        num_classes: int = 0,
        num_landmarks: int = 0,
    ) -> None:
        super().__init__()
        if (num_classes > 0) == (num_landmarks > 0):
            raise ShapeError(
                "exactly one of num_classes >= 1 (a box head) or num_landmarks >= 1 (a landmark "
                f"head) must be given, but got num_classes={num_classes}, num_landmarks={num_landmarks}"
            )
        self.num_classes, self.num_landmarks = num_classes, num_landmarks
        shape = image_shape(input_shape, model="localizer" if num_classes else "landmark_regressor")
        self.features, out = backbone(
            shape,
            filters=args.filters,
            stages=args.stages,
            batch_norm=args.batch_norm,
            activation=args.activation,
        )
        n_out = 1 + (4 + num_classes if num_classes else 2 * num_landmarks)
        self.head = dense_head(
            math.prod(out),
            [args.hidden],
            n_out,
            activation=args.activation,
            dropout=1.0 - args.keep_prob,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # (B, 1 + 4 + K) or (B, 1 + 2L)


def decode_localization(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(B, 5 + K)`` -> ``p_c`` ``(B,)``, boxes ``(B, 4)`` in (0, 1), class probs ``(B, K)``."""
    return torch.sigmoid(raw[:, 0]), torch.sigmoid(raw[:, 1:5]), torch.softmax(raw[:, 5:], dim=1)


def decode_landmarks(raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, 1 + 2L)`` -> ``p_c`` ``(B,)`` and points ``(B, L, 2)`` as ``(l_x, l_y)`` in (0, 1)."""
    return torch.sigmoid(raw[:, 0]), torch.sigmoid(raw[:, 1:]).reshape(len(raw), -1, 2)


class DetectorArgs(Schema):
    """Arguments of :class:`GridDetector`; ``anchors`` are ``(h, w)`` relative to the image."""

    filters: int = Field(
        default=16, ge=1, description="Filters of the first stage; doubled per stage."
    )
    stages: int = Field(
        default=3, ge=1, description="Conv-conv-pool stages; the grid is S = H / 2^stages."
    )
    batch_norm: bool = Field(default=True, description="Batch norm after every conv.")
    activation: Activation = Field(default="relu", description="Activation of the hidden layers.")
    keep_prob: float = keep_prob_field("before the 1×1 output conv, per feature of every cell")
    anchors: tuple[tuple[float, float], ...] = Field(
        default=((0.4, 0.25), (0.25, 0.4), (0.35, 0.35)),
        description="Anchor boxes (h, w) relative to the image: portrait, landscape, square.",
    )

    @field_validator("anchors")
    @classmethod
    def _positive(cls, v: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if not v or any(h <= 0 or w <= 0 for h, w in v):
            raise ValueError(f"at least one anchor with h > 0 and w > 0 is needed, but got {v}")
        return v


class GridDetector(nn.Module):
    """YOLO: ``(B, C, H, W) -> (B, S, S, A, 5 + K)`` in one pass; S = H / 2^stages."""

    output_layer = "out"  # the 1×1 conv head: what transfer learning replaces

    def __init__(
        self, args: DetectorArgs, *, input_shape: tuple[int, ...], num_classes: int
    ) -> None:
        super().__init__()
        c, h, w = image_shape(input_shape, model="grid_detector")
        if h != w or h % 2**args.stages:
            raise ShapeError(
                f"the grid detector needs square images whose side is a multiple of "
                f"2^stages = {2**args.stages}, but got {h}×{w}"
            )
        self.num_classes = num_classes
        self.grid = h // 2**args.stages
        self.register_buffer("anchors", torch.tensor(args.anchors, dtype=torch.float32))  # (A, 2)
        self.features, out = backbone(
            (c, h, w),
            filters=args.filters,
            stages=args.stages,
            batch_norm=args.batch_norm,
            activation=args.activation,
        )
        kw = {"batch_norm": args.batch_norm, "activation": args.activation}
        self.neck = ConvBlock(out[0], out[0], 3, **kw)
        self.drop = nn.Dropout(1.0 - args.keep_prob) if args.keep_prob < 1 else nn.Identity()
        # 1×1 conv: the "fully connected layer as a convolution", applied at every cell.
        self.out = nn.Conv2d(out[0], len(args.anchors) * (5 + num_classes), 1)

    @property
    def num_anchors(self) -> int:
        return self.anchors.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.out(self.drop(self.neck(self.features(x))))  # (B, A * (5 + K), S, S)
        b, _, s, _ = y.shape
        return y.view(b, self.num_anchors, 5 + self.num_classes, s, s).permute(0, 3, 4, 1, 2)


@torch.no_grad()
def decode_grid(
    raw: torch.Tensor,
    anchors: torch.Tensor,
    *,
    score_threshold: float = 0.3,
    iou_threshold: float = 0.5,
) -> list[Detections]:
    """Raw grid outputs ``(B, S, S, A, 5 + K)`` -> one :class:`Detections` per image.

    Box: ``b_x = (col + σ(t_x)) / S``, ``b_y = (row + σ(t_y)) / S``, ``b_h = anchor_h ·
    exp(t_h)``, ``b_w = anchor_w · exp(t_w)``; score = ``p_c · max_k P(class k)``. Boxes
    scoring below ``score_threshold`` are dropped, then per-class non-max suppression.
    """
    b, s = raw.shape[0], raw.shape[1]
    raw = raw.detach().float().cpu()
    anchors = anchors.detach().float().cpu()
    rows = torch.arange(s).view(1, s, 1, 1).float()
    cols = torch.arange(s).view(1, 1, s, 1).float()
    bx = (cols + torch.sigmoid(raw[..., 1])) / s  # (B, S, S, A)
    by = (rows + torch.sigmoid(raw[..., 2])) / s
    bh = anchors[:, 0] * torch.exp(raw[..., 3].clamp(max=6))
    bw = anchors[:, 1] * torch.exp(raw[..., 4].clamp(max=6))
    probs = torch.softmax(raw[..., 5:], dim=-1)
    cls_p, cls = probs.max(dim=-1)
    score = torch.sigmoid(raw[..., 0]) * cls_p
    boxes = torch.stack([bx, by, bh, bw], dim=-1).view(b, -1, 4).numpy()
    score, cls = score.view(b, -1).numpy(), cls.view(b, -1).numpy()
    out = []
    for i in range(b):
        keep = non_max_suppression(
            boxes[i], score[i], cls[i], iou_threshold=iou_threshold, score_threshold=score_threshold
        )
        out.append(Detections.of(boxes[i][keep], cls[i][keep], score[i][keep]))
    return out
