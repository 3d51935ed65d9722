"""Registry entries of the vision-task networks (localization, landmarks, detection,
segmentation, verification, style).

Their outputs are not the classification ``(B, num_outputs)``: the localizer gives
``(B, 1 + 4 + K)`` (p_c, box, class logits), the landmark regressor ``(B, 1 + 2L)`` (p_c and
L points; ``num_outputs`` = L), the grid detector ``(B, S, S, A, 5 + K)``, the U-Net ``(B, K, H, W)``, the Siamese encoder ``(B, d)`` and the
style feature network ``(B, K)`` logits (its activations are what style transfer uses).
``num_outputs`` is the number of classes (ignored by the encoder: ``embedding_dim`` sets it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from sweeplab.config import Schema
from sweeplab.models._detection import DetectorArgs, GridDetector, Localizer, LocalizerArgs
from sweeplab.models._registry import register_model
from sweeplab.models._shapes import image_shape
from sweeplab.models._siamese import Encoder, EncoderArgs
from sweeplab.models._unet import UNet, UNetArgs

__all__ = ["FeatureNet", "FeatureNetArgs"]


@register_model(
    "localizer",
    args=LocalizerArgs,
    tasks=("localization",),
    input_kind="image",
    example_input=(3, 32, 32),
    example_outputs=3,
)
def _localizer(args: LocalizerArgs, *, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """Classification with localization: (B, 1 + 4 + K) = p_c, box (b_x, b_y, b_h, b_w), classes."""
    return Localizer(args, input_shape=input_shape, num_classes=num_outputs)


@register_model(
    "landmark_regressor",
    args=LocalizerArgs,
    tasks=("landmarks",),
    input_kind="image",
    example_input=(3, 32, 32),
    example_outputs=3,
)
def _landmark_regressor(
    args: LocalizerArgs, *, input_shape: tuple[int, ...], num_outputs: int
) -> nn.Module:
    """Landmark head: (B, 1 + 2L) = p_c and L points (l_x, l_y); num_outputs = L."""
    return Localizer(args, input_shape=input_shape, num_landmarks=num_outputs)


@register_model(
    "grid_detector",
    args=DetectorArgs,
    tasks=("detection",),
    input_kind="image",
    example_input=(3, 32, 32),
    example_outputs=3,
)
def _grid_detector(
    args: DetectorArgs, *, input_shape: tuple[int, ...], num_outputs: int
) -> nn.Module:
    """YOLO-style grid detector with anchor boxes: (B, S, S, A, 5 + K)."""
    return GridDetector(args, input_shape=input_shape, num_classes=num_outputs)


@register_model(
    "unet",
    args=UNetArgs,
    tasks=("segmentation",),
    input_kind="image",
    example_input=(3, 32, 32),
    example_outputs=4,
)
def _unet(args: UNetArgs, *, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """U-Net: per-pixel class logits (B, K, H, W), background included in K."""
    return UNet(args, input_shape=input_shape, num_classes=num_outputs)


@register_model(
    "siamese_encoder",
    args=EncoderArgs,
    tasks=("verification",),
    input_kind="image",
    example_input=(1, 16, 16),
    example_outputs=128,
)
def _siamese_encoder(
    args: EncoderArgs, *, input_shape: tuple[int, ...], num_outputs: int
) -> nn.Module:
    """Siamese encoder f(x) -> (B, embedding_dim); task_args.head adds the binary head."""
    image_shape(input_shape, model="siamese_encoder")
    return Encoder(args, input_shape=input_shape)


class FeatureNetArgs(Schema):
    """Arguments of the style-transfer feature network (trained once per sweep)."""

    filters: int = Field(default=16, ge=1, description="Filters of conv1; conv2 and conv3 have 2×.")


class FeatureNet(nn.Module):
    """A small CNN whose activations define content and style; also a classifier to train it.

    ``conv1`` (3×3, f) -> ``conv2`` (3×3, 2f) -> pool -> ``conv3`` (3×3, 2f) -> pool ->
    global average -> ``num_classes`` logits. :meth:`features` returns the post-ReLU
    activations of the named layers.
    """

    LAYERS = ("conv1", "conv2", "conv3")

    def __init__(self, in_channels: int = 3, num_classes: int = 3, *, filters: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, filters, 3, padding=1)
        self.conv2 = nn.Conv2d(filters, 2 * filters, 3, padding=1)
        self.conv3 = nn.Conv2d(2 * filters, 2 * filters, 3, padding=1)
        self.out = nn.Linear(2 * filters, num_classes)

    def features(
        self, x: torch.Tensor, layers: tuple[str, ...] | None = None
    ) -> dict[str, torch.Tensor]:
        """Activations ``{name: (B, n_C, n_H, n_W)}`` of ``layers`` (all by default)."""
        out: dict[str, torch.Tensor] = {}
        a1 = F.relu(self.conv1(x))  # (B, f, H, W)
        a2 = F.relu(self.conv2(a1))  # (B, 2f, H, W)
        a3 = F.relu(self.conv3(F.max_pool2d(a2, 2)))  # (B, 2f, H/2, W/2)
        for name, a in zip(self.LAYERS, (a1, a2, a3), strict=True):
            if layers is None or name in layers:
                out[name] = a
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a3 = self.features(x, ("conv3",))["conv3"]
        return self.out(F.max_pool2d(a3, 2).mean(dim=(2, 3)))  # (B, num_classes)


@register_model(
    "feature_net",
    args=FeatureNetArgs,
    tasks=("style_transfer",),
    input_kind="image",
    example_input=(3, 32, 32),
    example_outputs=3,
)
def _feature_net(
    args: FeatureNetArgs, *, input_shape: tuple[int, ...], num_outputs: int
) -> nn.Module:
    """Small CNN (conv1..conv3) whose activations define content and style costs."""
    c, _, _ = image_shape(input_shape, model="feature_net")
    return FeatureNet(c, num_outputs, filters=args.filters)
