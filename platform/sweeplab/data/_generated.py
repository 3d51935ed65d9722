"""Data the project generates: shapes for detection and segmentation, identities, landmarks.

Every generator is seeded (same seed -> same tensors) and returns in-memory tensors, so the
vision tasks need no downloaded data. Images are float32 ``(N, C, H, W)`` in [0, 1].

* :func:`shapes_detection` -- scenes of rectangles, ellipses and triangles (``SHAPE_CLASSES``)
  with random position, size, colour and background noise; one box per object as
  ``(b_x, b_y, b_h, b_w)``, centre and size relative to the image (upper-left (0, 0)).
  ``min_objects=0, max_objects=1`` gives the course's classification-with-localization data.
* :func:`shapes_segmentation` -- the same scenes with a per-pixel label mask
  (0 = background, k + 1 = shape class k; a later shape covers an earlier one).
* :func:`shapes_landmarks` -- one triangle per image and its three vertices as landmarks
  ``(l_x, l_y)``, always in the same order (apex, lower-left, lower-right).
* :func:`identities` -- a stand-in for faces: each identity is a random coarse pattern, each
  example of it is shifted, re-lit and noisy; labels are identity ids, for verification and
  one-shot recognition on identities never seen in training.
* :func:`stripes` -- a texture of coloured diagonal stripes: a style image for style transfer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sweeplab.analysis import box_iou

__all__ = [
    "SHAPE_CLASSES",
    "TRIANGLE_LANDMARKS",
    "DetectionSet",
    "IdentitySet",
    "LandmarkSet",
    "SegmentationSet",
    "identities",
    "shapes_detection",
    "shapes_landmarks",
    "shapes_segmentation",
    "stripes",
]

SHAPE_CLASSES = ("rectangle", "ellipse", "triangle")
TRIANGLE_LANDMARKS = ("apex", "lower_left", "lower_right")  # shapes_landmarks' point order


@dataclass(frozen=True)
class DetectionSet:
    """``images`` ``(N, 3, H, W)``; per image ``boxes[i]`` ``(M_i, 4)`` and ``classes[i]`` ``(M_i,)``."""

    images: torch.Tensor
    boxes: tuple[np.ndarray, ...]
    classes: tuple[np.ndarray, ...]
    class_names: tuple[str, ...] = SHAPE_CLASSES

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class SegmentationSet:
    """``images`` ``(N, 3, H, W)`` and ``masks`` ``(N, H, W)`` int64 in [0, num_classes)."""

    images: torch.Tensor
    masks: torch.Tensor
    class_names: tuple[str, ...] = ("background", *SHAPE_CLASSES)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class LandmarkSet:
    """``images`` ``(N, 3, H, W)`` and ``points`` ``(N, L, 2)`` as ``(l_x, l_y)`` in [0, 1];
    ``point_names``: one per landmark (the generator's order)."""

    images: torch.Tensor
    points: torch.Tensor
    point_names: tuple[str, ...] = TRIANGLE_LANDMARKS

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class IdentitySet:
    """``images`` ``(N, 1, H, W)`` and ``labels`` ``(N,)``: the identity of each image."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, identities: object) -> IdentitySet:
        """The examples whose identity is in ``identities`` (e.g. ``range(20)``)."""
        keep = torch.isin(self.labels, torch.as_tensor(list(identities), dtype=self.labels.dtype))
        return IdentitySet(images=self.images[keep], labels=self.labels[keep])


def _check(n: int, image_size: int, *, min_size: int = 8, name: str = "n") -> None:
    if n < 1:
        raise ValueError(f"{name} >= 1 must hold, but got {name}={n}")
    if image_size < min_size:
        raise ValueError(f"image_size >= {min_size} must hold, but got image_size={image_size}")


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates relative to the image: x along columns, y along rows."""
    c = (np.arange(size) + 0.5) / size
    return np.meshgrid(c, c, indexing="xy")  # (H, W) each


def _shape_mask(kind: int, x: np.ndarray, y: np.ndarray, box: np.ndarray) -> np.ndarray:
    cx, cy, h, w = box
    if SHAPE_CLASSES[kind] == "rectangle":
        return (np.abs(x - cx) <= w / 2) & (np.abs(y - cy) <= h / 2)
    if SHAPE_CLASSES[kind] == "ellipse":
        return ((x - cx) / (w / 2)) ** 2 + ((y - cy) / (h / 2)) ** 2 <= 1.0
    # Triangle: apex at the top centre, base along the bottom edge of the box.
    top = cy - h / 2
    depth = (y - top) / h  # 0 at the apex, 1 at the base
    return (depth >= 0) & (depth <= 1) & (np.abs(x - cx) <= depth * w / 2)


def _background(rng: np.random.Generator, size: int, noise: float) -> np.ndarray:
    base = rng.uniform(0.0, 0.35, size=(3, 1, 1))  # a dark colour
    return base + noise * rng.standard_normal((3, size, size))


def _scene(
    rng: np.random.Generator,
    *,
    size: int,
    n_objects: int,
    min_size: float,
    max_size: float,
    noise: float,
    max_overlap: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One image ``(3, H, W)``, its boxes ``(M, 4)``, classes ``(M,)`` and mask ``(H, W)``."""
    x, y = _grid(size)
    img = _background(rng, size, noise)
    mask = np.zeros((size, size), dtype=np.int64)
    boxes: list[np.ndarray] = []
    classes: list[int] = []
    for _ in range(n_objects):
        for _attempt in range(20):
            kind = int(rng.integers(len(SHAPE_CLASSES)))
            h, w = rng.uniform(min_size, max_size, size=2)
            cx = rng.uniform(w / 2, 1 - w / 2)
            cy = rng.uniform(h / 2, 1 - h / 2)
            box = np.array([cx, cy, h, w])
            if not boxes or box_iou(box, np.stack(boxes)).max() <= max_overlap:
                break
        else:
            continue  # no room left: fewer objects in this image
        inside = _shape_mask(kind, x, y, box)
        colour = rng.uniform(0.55, 1.0, size=(3, 1, 1))  # bright on a dark background
        img = np.where(inside[None], colour + noise * rng.standard_normal((3, size, size)), img)
        mask[inside] = kind + 1
        boxes.append(box)
        classes.append(kind)
    return (
        np.clip(img, 0.0, 1.0).astype(np.float32),
        np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        np.asarray(classes, dtype=np.int64),
        mask,
    )


def _scenes(
    n: int,
    *,
    image_size: int,
    min_objects: int,
    max_objects: int,
    min_size: float,
    max_size: float,
    noise: float,
    max_overlap: float,
    seed: int,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    _check(n, image_size)
    if not 0 <= min_objects <= max_objects:
        raise ValueError(
            f"0 <= min_objects <= max_objects must hold, but got min_objects={min_objects}, "
            f"max_objects={max_objects}"
        )
    if not 0 < min_size <= max_size <= 1:
        raise ValueError(
            f"0 < min_size <= max_size <= 1 must hold, but got min_size={min_size}, max_size={max_size}"
        )
    rng = np.random.default_rng(seed)
    return [
        _scene(
            rng,
            size=image_size,
            n_objects=int(rng.integers(min_objects, max_objects + 1)),
            min_size=min_size,
            max_size=max_size,
            noise=noise,
            max_overlap=max_overlap,
        )
        for _ in range(n)
    ]


def shapes_detection(
    n: int,
    *,
    image_size: int = 32,
    min_objects: int = 1,
    max_objects: int = 3,
    min_size: float = 0.2,
    max_size: float = 0.5,
    noise: float = 0.05,
    max_overlap: float = 0.1,
    seed: int = 0,
) -> DetectionSet:
    """``n`` scenes of 0..``max_objects`` shapes with their boxes and classes.

    Box sides are drawn independently in ``[min_size, max_size]`` (relative to the image), so
    shapes come tall, wide and square; two boxes of one image overlap with IoU <=
    ``max_overlap``.
    """
    scenes = _scenes(
        n,
        image_size=image_size,
        min_objects=min_objects,
        max_objects=max_objects,
        min_size=min_size,
        max_size=max_size,
        noise=noise,
        max_overlap=max_overlap,
        seed=seed,
    )
    return DetectionSet(
        images=torch.from_numpy(np.stack([s[0] for s in scenes])),
        boxes=tuple(s[1] for s in scenes),
        classes=tuple(s[2] for s in scenes),
    )


def shapes_segmentation(
    n: int,
    *,
    image_size: int = 32,
    min_objects: int = 1,
    max_objects: int = 3,
    min_size: float = 0.2,
    max_size: float = 0.5,
    noise: float = 0.05,
    seed: int = 0,
) -> SegmentationSet:
    """``n`` scenes and their masks: 0 = background, ``k + 1`` = ``SHAPE_CLASSES[k]``."""
    scenes = _scenes(
        n,
        image_size=image_size,
        min_objects=min_objects,
        max_objects=max_objects,
        min_size=min_size,
        max_size=max_size,
        noise=noise,
        max_overlap=0.3,
        seed=seed,
    )
    return SegmentationSet(
        images=torch.from_numpy(np.stack([s[0] for s in scenes])),
        masks=torch.from_numpy(np.stack([s[3] for s in scenes])),
    )


def _in_triangle(pts: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pixels on the same side of each edge as the triangle's third vertex."""
    inside = np.ones_like(x, dtype=bool)
    for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        ex, ey = pts[b] - pts[a]
        here = ex * (y - pts[a][1]) - ey * (x - pts[a][0])
        third = ex * (pts[c][1] - pts[a][1]) - ey * (pts[c][0] - pts[a][0])
        inside &= here * third >= 0
    return inside


def shapes_landmarks(
    n: int, *, image_size: int = 32, noise: float = 0.05, seed: int = 0
) -> LandmarkSet:
    """One triangle per image; landmarks are its vertices: apex, lower-left, lower-right."""
    _check(n, image_size)
    rng = np.random.default_rng(seed)
    x, y = _grid(image_size)
    images, points = [], []
    for _ in range(n):
        apex = (rng.uniform(0.25, 0.75), rng.uniform(0.1, 0.4))
        left = (rng.uniform(0.1, 0.4), rng.uniform(0.6, 0.9))
        right = (rng.uniform(0.6, 0.9), rng.uniform(0.6, 0.9))
        pts = np.array([apex, left, right])  # (3, 2) as (l_x, l_y)
        inside = _in_triangle(pts, x, y)
        img = _background(rng, image_size, noise)
        colour = rng.uniform(0.55, 1.0, size=(3, 1, 1))
        img = np.where(inside[None], colour + noise * rng.standard_normal(img.shape), img)
        images.append(np.clip(img, 0, 1).astype(np.float32))
        points.append(pts)
    return LandmarkSet(
        images=torch.from_numpy(np.stack(images)),
        points=torch.from_numpy(np.stack(points).astype(np.float32)),
    )


def identities(
    num_identities: int,
    per_identity: int,
    *,
    image_size: int = 16,
    pattern_size: int = 4,
    max_shift: int = 2,
    noise: float = 0.15,
    seed: int = 0,
) -> IdentitySet:
    """``num_identities × per_identity`` images ``(1, H, W)``; identity ids ``0 … num_identities-1``.

    An identity is a random ``pattern_size × pattern_size`` grey pattern blown up to the image
    size; each example of it is shifted by up to ``max_shift`` pixels, gets a random contrast
    and brightness, and Gaussian noise. Examples are grouped by identity, in id order.
    """
    _check(num_identities, image_size, name="num_identities")
    if per_identity < 1:
        raise ValueError(f"per_identity >= 1 must hold, but got per_identity={per_identity}")
    if image_size % pattern_size:
        raise ValueError(
            f"image_size must be a multiple of pattern_size, but got image_size={image_size}, "
            f"pattern_size={pattern_size}"
        )
    rng = np.random.default_rng(seed)
    scale = image_size // pattern_size
    patterns = rng.uniform(0.0, 1.0, size=(num_identities, pattern_size, pattern_size))
    big = np.kron(patterns, np.ones((scale, scale)))  # (I, H, W)
    images = np.empty((num_identities, per_identity, 1, image_size, image_size), np.float32)
    for i in range(num_identities):
        for j in range(per_identity):
            dy, dx = rng.integers(-max_shift, max_shift + 1, size=2)
            img = np.roll(big[i], (dy, dx), axis=(0, 1))
            img = rng.uniform(0.6, 1.2) * (img - 0.5) + 0.5 + rng.uniform(-0.15, 0.15)
            img = img + noise * rng.standard_normal(img.shape)
            images[i, j, 0] = np.clip(img, 0.0, 1.0)
    labels = np.repeat(np.arange(num_identities), per_identity)
    return IdentitySet(
        images=torch.from_numpy(images.reshape(-1, 1, image_size, image_size)),
        labels=torch.from_numpy(labels),
    )


def stripes(
    image_size: int = 32, *, period: float = 6.0, angle: float = 45.0, seed: int = 0
) -> torch.Tensor:
    """``(3, H, W)``: stripes of two random colours at ``angle`` degrees, ``period`` pixels wide."""
    _check(1, image_size)
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:image_size, 0:image_size]
    t = np.deg2rad(angle)
    phase = (cols * np.cos(t) + rows * np.sin(t)) / period
    band = (np.floor(phase) % 2).astype(bool)  # (H, W)
    a, b = rng.uniform(0, 1, size=(2, 3, 1, 1))
    img = np.where(band[None], a, b) + 0.03 * rng.standard_normal((3, image_size, image_size))
    return torch.from_numpy(np.clip(img, 0, 1).astype(np.float32))
