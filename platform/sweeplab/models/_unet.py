"""U-Net for semantic segmentation, and the transpose convolution it upsamples with.

The course's transpose convolution, for one input and one filter (:func:`transpose_conv2d`):
each input value multiplies the whole filter, which is added into the output at
``(i·s, j·s)``; the border of ``padding`` on each side is then cut off (``output_padding``
extra rows / columns are kept at the lower and right border). With a 2×2 input, a 3×3
filter, stride 2, padding 1 and output padding 1, the output is 4×4:
``(n − 1)·s − 2p + f + output_padding = 1·2 − 2 + 3 + 1 = 4``, which is what PyTorch's
``nn.ConvTranspose2d(…, stride=2, padding=1, output_padding=1)`` computes.

:class:`UNet`::

    down path   depth × (conv 3×3 -> conv 3×3 ["same"] -> max pool 2×2), filters f, 2f, 4f …
    bridge      conv 3×3 -> conv 3×3 at f·2^depth filters, H/2^depth × W/2^depth
    up path     depth × (transpose conv 3×3 stride 2 [doubles H, W] -> concatenate the skip
                connection of the same size from the down path -> conv 3×3 -> conv 3×3)
    output      1×1 conv to one logit per class and pixel: (B, K, H, W)
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._blocks import Activation, ConvBlock, MaxPool, keep_prob_field
from sweeplab.models._shapes import ShapeError, image_shape

__all__ = ["UNet", "UNetArgs", "transpose_conv2d"]


def transpose_conv2d(
    x: np.ndarray, w: np.ndarray, *, stride: int = 1, padding: int = 0, output_padding: int = 0
) -> np.ndarray:
    """The course's scatter-and-add transpose convolution of a 2-D input by a 2-D filter."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    (n_h, n_w), (f_h, f_w) = x.shape, w.shape
    if output_padding >= stride and output_padding > 0:
        raise ValueError(
            f"output_padding < stride must hold, but got output_padding={output_padding}, stride={stride}"
        )
    full = np.zeros(
        ((n_h - 1) * stride + f_h + output_padding, (n_w - 1) * stride + f_w + output_padding)
    )
    for i in range(n_h):
        for j in range(n_w):
            full[i * stride : i * stride + f_h, j * stride : j * stride + f_w] += x[i, j] * w
    h, wd = full.shape
    return full[padding : h - padding, padding : wd - padding]


class UNetArgs(Schema):
    """Arguments of :class:`UNet`."""

    filters: int = Field(
        default=16, ge=1, description="Filters of the first stage; doubled per stage."
    )
    depth: int = Field(
        default=2, ge=1, description="Down (and up) steps; H and W must divide by 2^depth."
    )
    batch_norm: bool = Field(default=True, description="Batch norm after every 3×3 conv.")
    activation: Activation = Field(default="relu", description="Activation after every 3×3 conv.")
    keep_prob: float = keep_prob_field("at the bottom of the U (the bridge's output)")


class _DoubleConv(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, *, batch_norm: bool, activation: Activation) -> None:
        kw = {"batch_norm": batch_norm, "activation": activation}
        super().__init__(ConvBlock(c_in, c_out, 3, **kw), ConvBlock(c_out, c_out, 3, **kw))


class UNet(nn.Module):
    """``(B, C, H, W) -> (B, num_classes, H, W)`` per-pixel class logits."""

    output_layer = "head"  # the 1×1 conv head: what transfer learning replaces

    def __init__(self, args: UNetArgs, *, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        c, h, w = image_shape(input_shape, model="unet")
        step = 2**args.depth
        if h % step or w % step:
            raise ShapeError(
                f"the U-Net halves H and W {args.depth} times, so both must be multiples of "
                f"2^depth = {step}, but got {h}×{w}; use a smaller depth or resize the images"
            )
        if num_classes < 2:
            raise ShapeError(
                f"num_classes >= 2 must hold (background included), but got {num_classes}"
            )
        kw = {"batch_norm": args.batch_norm, "activation": args.activation}
        widths = [args.filters * 2**i for i in range(args.depth + 1)]  # f, 2f, …, f·2^depth
        self.down = nn.ModuleList()
        for width in widths[:-1]:
            self.down.append(_DoubleConv(c, width, **kw))
            c = width
        self.pool = MaxPool(2)
        self.bridge = _DoubleConv(c, widths[-1], **kw)
        self.up = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for width, below in zip(reversed(widths[:-1]), reversed(widths[1:]), strict=True):
            # Doubles H and W: (n − 1)·2 − 2 + 3 + 1 = 2n.
            self.up.append(
                nn.ConvTranspose2d(below, width, 3, stride=2, padding=1, output_padding=1)
            )
            self.up_conv.append(_DoubleConv(2 * width, width, **kw))  # skip + upsampled
        self.head = nn.Conv2d(widths[0], num_classes, 1)  # 1×1 conv: logits per pixel
        self.drop = nn.Dropout(1.0 - args.keep_prob) if args.keep_prob < 1 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)  # (B, f·2^i, H/2^i, W/2^i)
            skips.append(x)
            x = self.pool(x)
        x = self.drop(self.bridge(x))  # (B, f·2^depth, H/2^depth, W/2^depth)
        for up, conv, skip in zip(self.up, self.up_conv, reversed(skips), strict=True):
            x = conv(torch.cat([skip, up(x)], dim=1))  # (B, f·2^i, H/2^i, W/2^i)
        return self.head(x)  # (B, K, H, W)
