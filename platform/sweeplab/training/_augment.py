"""Data augmentation of training mini-batches (the course's mirroring, random crops,
rotation, shearing and colour shifting), on the fly, batched on the batch's device.

The settings are fields of :class:`TrainConfig`, so a search space can tune them::

    augment_flip    mirror left-right with probability 1/2 (exact: a flip of the columns)
    augment_crop    pad by p pixels (zeros, i.e. the training mean after normalization) and
                    crop back at a random offset in [-p, p]² (an exact integer shift)
    augment_rotate  rotate by an angle uniform in [-r, r] degrees  } one affine_grid +
    augment_shear   shear x by an angle uniform in [-s, s] degrees } grid_sample (bilinear)
    augment_color   add a shift uniform in [-c, c] to every channel of an image (brightness
                    for grayscale, a colour shift for RGB), in normalized units (≈ std devs)

Only training batches are augmented; evaluation sets never are. The random draws come from
a CPU ``torch.Generator`` of the augmenter's own (seeded), small per-example tensors that
are moved to the device, so the same seed gives the same augmented batches on any device
and the mini-batch shuffling does not change when augmentation is switched on. With every
setting at 0 / false the batch is returned unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["AugmentSpec", "Augmenter", "augment_batch"]


@dataclass(frozen=True)
class AugmentSpec:
    """What to do to each training image; all zero / false is the identity."""

    flip: bool = False
    crop: int = 0
    rotate: float = 0.0
    shear: float = 0.0
    color: float = 0.0

    @classmethod
    def from_config(cls, cfg: object) -> AugmentSpec:
        return cls(
            flip=bool(cfg.augment_flip),  # type: ignore[attr-defined]
            crop=int(cfg.augment_crop),  # type: ignore[attr-defined]
            rotate=float(cfg.augment_rotate),  # type: ignore[attr-defined]
            shear=float(cfg.augment_shear),  # type: ignore[attr-defined]
            color=float(cfg.augment_color),  # type: ignore[attr-defined]
        )

    @property
    def active(self) -> bool:
        return self.flip or self.crop > 0 or self.rotate > 0 or self.shear > 0 or self.color > 0


def _uniform(n: int, bound: float, gen: torch.Generator) -> torch.Tensor:
    """``(n,)`` float32 uniform in [-bound, bound], drawn on the CPU."""
    return (torch.rand(n, generator=gen) * 2.0 - 1.0) * bound


def augment_batch(x: torch.Tensor, spec: AugmentSpec, gen: torch.Generator) -> torch.Tensor:
    """An augmented copy of ``x``, ``(B, C, H, W)``; ``x`` itself is not modified."""
    if x.ndim != 4:
        raise ValueError(f"augmentation needs images (B, C, H, W), but got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    dev = x.device
    if spec.flip:
        mirror = (torch.rand(b, generator=gen) < 0.5).to(dev)
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    if spec.crop > 0:
        p = spec.crop
        padded = F.pad(x, (p, p, p, p))  # (B, C, H + 2p, W + 2p)
        oy = torch.randint(0, 2 * p + 1, (b,), generator=gen).to(dev)
        ox = torch.randint(0, 2 * p + 1, (b,), generator=gen).to(dev)
        rows = oy[:, None] + torch.arange(h, device=dev)  # (B, H)
        cols = ox[:, None] + torch.arange(w, device=dev)  # (B, W)
        batch = torch.arange(b, device=dev)[:, None, None]
        # advanced indexing puts the indexed dims first: (B, H, W, C) -> (B, C, H, W)
        x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        x = x.permute(0, 3, 1, 2).contiguous()
    if spec.rotate > 0 or spec.shear > 0:
        angle = _uniform(b, math.radians(spec.rotate), gen)
        shear = torch.tan(_uniform(b, math.radians(spec.shear), gen))
        cos, sin = torch.cos(angle), torch.sin(angle)
        # theta = R @ S with S = [[1, shear], [0, 1]]: maps output coords to input coords
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = cos, cos * shear - sin
        theta[:, 1, 0], theta[:, 1, 1] = sin, sin * shear + cos
        # in pixels, not in [-1, 1]² coordinates: a non-square image rotates without stretching
        theta[:, 0, 1] *= h / w
        theta[:, 1, 0] *= w / h
        grid = F.affine_grid(theta.to(dev, x.dtype), [b, c, h, w], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if spec.color > 0:
        shift = (torch.rand(b, c, generator=gen) * 2.0 - 1.0) * spec.color  # (B, C)
        x = x + shift.to(dev, x.dtype)[:, :, None, None]
    return x


class Augmenter:
    """Augments training batches with its own seeded generator: same seed, same batches."""

    def __init__(self, spec: AugmentSpec, *, seed: int) -> None:
        self.spec = spec
        # offset so the draws are not the shuffle's random numbers over again
        self.generator = torch.Generator().manual_seed(seed + 0x5EED)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return augment_batch(x, self.spec, self.generator) if self.spec.active else x
