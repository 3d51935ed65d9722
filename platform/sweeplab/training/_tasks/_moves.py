"""Targets that move with an augmented image: boxes, landmarks and masks.

The vision loops draw one batch's augmentation (:func:`~sweeplab.training._augment.draw`),
apply it to the images and, with the functions here, to what the images are labelled with:

* a mirror maps ``x`` to ``1 - x`` (relative coordinates, pixel centres) and swaps the
  landmarks of each left/right pair (:func:`mirror_pairs`);
* a crop's shift adds ``(dx, dy)``; a box is clipped to the image and dropped when nothing
  of it is left inside (localization: the image then has no object);
* rotation and shear move landmarks by the inverse of the sampling map and masks by
  nearest-neighbour resampling; boxes cannot follow them (a rotated box is not the object's
  tight box), so box tasks refuse ``augment_rotate`` and ``augment_shear``.
"""

from __future__ import annotations

import torch

from sweeplab.training._augment import Draws, apply_draws

__all__ = [
    "BOX_TASKS",
    "augment_boxes",
    "augment_masks",
    "augment_points",
    "mirror_pairs",
    "move_boxes",
    "move_points",
]

BOX_TASKS = frozenset({"localization", "detection"})


def mirror_pairs(names: tuple[str, ...]) -> torch.Tensor:
    """``(L,)`` the landmark each one becomes in a mirrored image: ``left`` ↔ ``right`` in
    its name (``lower_left`` ↔ ``lower_right``); a landmark without a partner stays."""
    order = []
    for name in names:
        twin = name.replace("left", "\0").replace("right", "left").replace("\0", "right")
        order.append(names.index(twin) if twin in names else names.index(name))
    return torch.tensor(order, dtype=torch.long)


def _mirrored(d: Draws, device: torch.device) -> torch.Tensor | None:
    return d.mirror.to(device) if d.mirror is not None else None


def move_points(
    pts: torch.Tensor, d: Draws, *, pairs: torch.Tensor, h: int, w: int
) -> torch.Tensor:
    """``(B, L, 2)`` landmarks ``(x, y)`` in [0, 1] moved as the images were (clamped to
    [0, 1]: the model's points are σ outputs)."""
    dev = pts.device
    mirror = _mirrored(d, dev)
    if mirror is not None:
        flipped = pts[:, pairs.to(dev)] * torch.tensor([-1.0, 1.0], device=dev)
        flipped = flipped + torch.tensor([1.0, 0.0], device=dev)
        pts = torch.where(mirror[:, None, None], flipped, pts)
    if d.offset is not None:
        pts = pts + d.shift(h, w).to(dev, pts.dtype)[:, None, :]
    if d.theta is not None:
        # grid_sample reads input point A·o at output point o: a point u lands at A⁻¹·u.
        inv = torch.linalg.inv(d.theta[:, :, :2].double()).to(dev, pts.dtype)  # (B, 2, 2)
        u = pts * 2.0 - 1.0
        pts = (torch.einsum("bij,blj->bli", inv, u) + 1.0) / 2.0
    return pts.clamp(0.0, 1.0)


def move_boxes(
    boxes: torch.Tensor, valid: torch.Tensor, d: Draws, *, h: int, w: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, M, 4)`` boxes ``(cx, cy, h, w)`` in [0, 1] moved as the images were, clipped
    to the image; ``valid`` ``(B, M)`` becomes False for a box wholly outside."""
    if d.theta is not None:
        raise ValueError("boxes cannot follow a rotation or shear")
    dev = boxes.device
    cx, cy, bh, bw = boxes.unbind(-1)
    mirror = _mirrored(d, dev)
    if mirror is not None:
        cx = torch.where(mirror[:, None], 1.0 - cx, cx)
    if d.offset is not None:
        shift = d.shift(h, w).to(dev, boxes.dtype)
        cx, cy = cx + shift[:, 0:1], cy + shift[:, 1:2]
    x0, x1 = (cx - bw / 2).clamp(0, 1), (cx + bw / 2).clamp(0, 1)
    y0, y1 = (cy - bh / 2).clamp(0, 1), (cy + bh / 2).clamp(0, 1)
    inside = valid & (x1 - x0 > 1e-6) & (y1 - y0 > 1e-6)
    moved = torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, y1 - y0, x1 - x0], dim=-1)
    return torch.where(inside[..., None], moved, boxes), inside


def augment_points(
    x: torch.Tensor, pts: torch.Tensor, d: Draws | None, *, pairs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(B, C, H, W)`` and their landmarks ``(B, L, 2)``, augmented by ``d``."""
    if d is None:
        return x, pts
    h, w = x.shape[-2:]
    return apply_draws(x, d), move_points(pts, d, pairs=pairs, h=h, w=w)


def augment_boxes(
    x: torch.Tensor, boxes: torch.Tensor, valid: torch.Tensor, d: Draws | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images ``(B, C, H, W)``, their boxes ``(B, M, 4)`` and which are objects ``(B, M)``,
    augmented by ``d``."""
    if d is None:
        return x, boxes, valid
    h, w = x.shape[-2:]
    return (apply_draws(x, d), *move_boxes(boxes, valid, d, h=h, w=w))


def augment_masks(
    x: torch.Tensor, masks: torch.Tensor, d: Draws | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(B, C, H, W)`` and their label masks ``(B, H, W)``, augmented by ``d``."""
    if d is None:
        return x, masks
    return apply_draws(x, d), apply_draws(masks[:, None], d, labels=True)[:, 0]
