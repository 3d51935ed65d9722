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

__all__ = ["AugmentSpec", "Augmenter", "Draws", "apply_draws", "augment_batch", "draw"]


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


@dataclass(frozen=True)
class Draws:
    """One batch's random draws (CPU tensors; None where the setting is off).

    ``mirror`` ``(B,)`` bool; ``offset`` ``(B, 2)`` the crop's ``(row, col)`` start in the
    image padded by ``pad`` pixels, so the content moves by ``pad - offset`` pixels;
    ``theta`` ``(B, 2, 3)`` the affine map from output to input coordinates in
    ``affine_grid``'s [-1, 1]² units; ``color`` ``(B, C)`` the per-channel shift.
    """

    mirror: torch.Tensor | None = None
    offset: torch.Tensor | None = None
    pad: int = 0
    theta: torch.Tensor | None = None
    color: torch.Tensor | None = None

    def shift(self, h: int, w: int) -> torch.Tensor:
        """``(B, 2)`` how far the content moves as ``(dx, dy)`` relative to the image."""
        assert self.offset is not None
        moved = (self.pad - self.offset).float()  # (B, 2) rows, cols in pixels
        return torch.stack([moved[:, 1] / w, moved[:, 0] / h], dim=1)


def draw(spec: AugmentSpec, b: int, c: int, h: int, w: int, gen: torch.Generator) -> Draws:
    """The random draws of one batch of ``b`` images ``(C, H, W)``."""
    mirror = (torch.rand(b, generator=gen) < 0.5) if spec.flip else None
    offset = None
    if spec.crop > 0:
        oy = torch.randint(0, 2 * spec.crop + 1, (b,), generator=gen)
        ox = torch.randint(0, 2 * spec.crop + 1, (b,), generator=gen)
        offset = torch.stack([oy, ox], dim=1)
    theta = None
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
    color = (torch.rand(b, c, generator=gen) * 2.0 - 1.0) * spec.color if spec.color > 0 else None
    return Draws(mirror=mirror, offset=offset, pad=spec.crop, theta=theta, color=color)


def apply_draws(x: torch.Tensor, d: Draws, *, labels: bool = False) -> torch.Tensor:
    """``x`` ``(B, C, H, W)`` moved by the draws ``d``; ``labels``: ``x`` holds class
    labels (a mask), so it is resampled by nearest neighbour and gets no colour shift."""
    b, c, h, w = x.shape
    dev = x.device
    if d.mirror is not None:
        x = torch.where(d.mirror.to(dev)[:, None, None, None], x.flip(-1), x)
    if d.offset is not None:
        p = d.pad
        padded = F.pad(x, (p, p, p, p))  # (B, C, H + 2p, W + 2p)
        oy, ox = d.offset[:, 0].to(dev), d.offset[:, 1].to(dev)
        rows = oy[:, None] + torch.arange(h, device=dev)  # (B, H)
        cols = ox[:, None] + torch.arange(w, device=dev)  # (B, W)
        batch = torch.arange(b, device=dev)[:, None, None]
        # advanced indexing puts the indexed dims first: (B, H, W, C) -> (B, C, H, W)
        x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        x = x.permute(0, 3, 1, 2).contiguous()
    if d.theta is not None:
        dtype = torch.float32 if labels else x.dtype
        grid = F.affine_grid(d.theta.to(dev, dtype), [b, c, h, w], align_corners=False)
        mode = "nearest" if labels else "bilinear"
        moved = F.grid_sample(
            x.to(dtype), grid, mode=mode, padding_mode="zeros", align_corners=False
        )
        x = moved.round().to(x.dtype) if labels else moved
    if d.color is not None and not labels:
        x = x + d.color.to(dev, x.dtype)[:, :, None, None]
    return x


def augment_batch(x: torch.Tensor, spec: AugmentSpec, gen: torch.Generator) -> torch.Tensor:
    """An augmented copy of ``x``, ``(B, C, H, W)``; ``x`` itself is not modified."""
    if x.ndim != 4:
        raise ValueError(f"augmentation needs images (B, C, H, W), but got shape {tuple(x.shape)}")
    return apply_draws(x, draw(spec, *x.shape, gen))


class Augmenter:
    """Augments training batches with its own seeded generator: same seed, same batches."""

    def __init__(self, spec: AugmentSpec, *, seed: int) -> None:
        self.spec = spec
        # offset so the draws are not the shuffle's random numbers over again
        self.generator = torch.Generator().manual_seed(seed + 0x5EED)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return augment_batch(x, self.spec, self.generator) if self.spec.active else x

    def draw(self, x: torch.Tensor) -> Draws | None:
        """The next batch's draws for images ``x`` ``(B, C, H, W)``; None when inactive."""
        return draw(self.spec, *x.shape, self.generator) if self.spec.active else None
