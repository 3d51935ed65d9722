"""Sliding-window detection: a window classifier and its two ways over a bigger image.

The course's example: a classifier of 14×14×3 windows (conv 5×5, 16 filters -> max pool 2×2
-> fc 400 -> fc 400 -> softmax over 4 classes) with its fully connected layers written as
convolutions (fc 400 = 400 filters of 5×5×16, the next ones 1×1). On a window it gives
``(B, 4)``; on a bigger image the same weights give a map of every window's scores in one
pass (:meth:`WindowClassifier.score_map`): 16×16×3 -> 2×2×4, 28×28×3 -> 8×8×4, windows at
a stride of 2 (the max pool's). :func:`naive_windows` is the other way: crop every window
and classify each, the same outputs at many times the cost (``benchmarks/bench_sliding_windows.py``).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._blocks import Activation, ConvBlock, MaxPool, make_activation
from sweeplab.models._registry import register_model
from sweeplab.models._shapes import check_num_outputs, image_shape

__all__ = ["WindowClassifier", "WindowClassifierArgs", "batched_windows", "naive_windows"]


class WindowClassifierArgs(Schema):
    """Arguments of ``window_classifier`` (the notes' network by default)."""

    filters: int = Field(default=16, ge=1, description="Filters of the 5×5 conv.")
    hidden: int = Field(
        default=400, ge=1, description="Units of the two fully connected layers (as convs)."
    )
    activation: Activation = Field(default="relu", description="Activation of the hidden layers.")
    keep_prob: float = Field(
        default=1.0,
        gt=0.0,
        le=1.0,
        description="Inverted dropout after each fully connected layer (2-D, per unit); 1 = none.",
    )


class WindowClassifier(nn.Module):
    """``(B, C, w, w) -> (B, K)`` on a window; :meth:`score_map` on bigger images."""

    #: The output layer transfer learning replaces: the last 1×1 conv (the softmax layer).
    output_layer = "fc.6"

    def __init__(
        self, args: WindowClassifierArgs, *, input_shape: tuple[int, ...], num_outputs: int
    ) -> None:
        super().__init__()
        c, h, w = image_shape(input_shape, model="window_classifier")
        if h != w or h < 6 or (h - 4) % 2:
            raise ValueError(
                f"window_classifier needs a square window of an even side >= 6 (conv 5×5 then "
                f"pool 2×2), but got {h}×{w}"
            )
        self.window = h
        side = (h - 4) // 2  # after conv 5×5 (valid) and pool 2×2: 14 -> 10 -> 5
        drop = 1.0 - args.keep_prob
        self.features = nn.Sequential(
            ConvBlock(c, args.filters, 5, padding=0, activation=args.activation), MaxPool(2)
        )
        # The fully connected layers as convolutions: fc1 sees the whole 5×5×16 window.
        self.fc = nn.Sequential(
            nn.Conv2d(args.filters, args.hidden, side),
            make_activation(args.activation),
            nn.Dropout2d(drop) if drop else nn.Identity(),
            nn.Conv2d(args.hidden, args.hidden, 1),
            make_activation(args.activation),
            nn.Dropout2d(drop) if drop else nn.Identity(),
            nn.Conv2d(args.hidden, num_outputs, 1),
        )
        self.flatten = nn.Flatten()  # (B, K, 1, 1) -> (B, K) on a window
        self.stride = 2  # windows of score_map are this far apart (the pool's stride)

    def score_map(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every window in one pass: ``(B, C, H, W) -> (B, K, (H−w)/2+1, (W−w)/2+1)``."""
        return self.fc(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.flatten(self.score_map(x))  # (B, K, 1, 1) -> (B, K) on a window


def naive_windows(model: WindowClassifier, image: torch.Tensor, *, stride: int = 2) -> torch.Tensor:
    """Crop every ``w``×``w`` window at ``stride`` and classify each, one by one (a Python
    loop, the notes' naive sliding windows): ``(C, H, W) -> (K, rows, cols)``."""
    w = model.window
    rows = (image.shape[1] - w) // stride + 1
    cols = (image.shape[2] - w) // stride + 1
    out = torch.empty(0)
    scores = []
    for r in range(rows):
        for c in range(cols):
            crop = image[:, r * stride : r * stride + w, c * stride : c * stride + w]
            scores.append(model(crop.unsqueeze(0))[0])
    out = torch.stack(scores)  # (rows·cols, K)
    return out.T.reshape(-1, rows, cols)


def batched_windows(
    model: WindowClassifier, image: torch.Tensor, *, stride: int = 2
) -> torch.Tensor:
    """The same crops as :func:`naive_windows`, classified as one batch: ``(K, rows, cols)``."""
    w = model.window
    crops = image.unfold(1, w, stride).unfold(2, w, stride)  # (C, rows, cols, w, w)
    c, rows, cols = crops.shape[:3]
    batch = crops.permute(1, 2, 0, 3, 4).reshape(rows * cols, c, w, w)
    return model(batch).T.reshape(-1, rows, cols)


@register_model(
    "window_classifier",
    args=WindowClassifierArgs,
    tasks=("binary", "multiclass", "sliding_window"),
    input_kind="image",
    example_input=(3, 14, 14),
    example_outputs=4,
)
def build_window_classifier(
    args: WindowClassifierArgs, *, input_shape: tuple[int, ...], num_outputs: int
) -> WindowClassifier:
    """The notes' sliding-window classifier, fully connected layers as convolutions."""
    check_num_outputs(num_outputs)
    return WindowClassifier(args, input_shape=input_shape, num_outputs=num_outputs)
