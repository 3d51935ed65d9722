"""Image data: folders of the user's images, resizing to ``image_size``, class filters.

* :func:`load_image_folder` reads ``root/<class>/<image>`` (one folder per class, sorted by
  name) with Pillow: grayscale when every image is, else RGB; pixel values in [0, 1].
* :func:`resize_images` brings every image of a data set to ``(H, W)`` once (bilinear; with
  antialiasing when shrinking), e.g. the 8×8 digits to the 32×32 LeNet-5 was made for.
* :func:`filter_classes` keeps some classes and renumbers them ``0 … k-1`` in the order
  given: the transfer-learning example pre-trains on digits 0–4 and fine-tunes on 5–9.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from sweeplab.data._dataset import Dataset
from sweeplab.errors import UserError, close_matches
from sweeplab.files import open_image

__all__ = ["IMAGE_SUFFIXES", "filter_classes", "load_image_folder", "resize_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _pixel_names(shape: tuple[int, ...]) -> list[str]:
    c, h, w = shape
    if c == 1:
        return [f"pixel_{i}_{j}" for i in range(h) for j in range(w)]
    return [f"c{k}_pixel_{i}_{j}" for k in range(c) for i in range(h) for j in range(w)]


def resize_images(ds: Dataset, size: Sequence[int]) -> Dataset:
    """``ds`` with every image resized to ``size = (H, W)``; rows stay flat ``(n, C*H*W)``.

    Bilinear interpolation (``align_corners=False``); antialiased when an axis shrinks so
    that downscaling averages instead of skipping pixels. A table raises a :class:`UserError`.
    """
    import torch
    import torch.nn.functional as F

    h, w = (int(s) for s in size)
    if ds.image_shape is None and ds.X.ndim != 4:
        raise UserError(
            f"image_size needs image data, but {ds.name} is a table (it has no image shape); "
            "remove image_size",
            key="data.image_size",
        )
    images = torch.from_numpy(np.ascontiguousarray(ds.as_images()))  # (n, C, H0, W0)
    c, h0, w0 = images.shape[1:]
    if (h0, w0) == (h, w):
        return ds
    shrink = h < h0 or w < w0
    out = F.interpolate(images, size=(h, w), mode="bilinear", align_corners=False, antialias=shrink)
    X = out.reshape(len(ds), -1).numpy().astype(np.float32, copy=False)  # (n, C*H*W)
    shape = (int(c), h, w)
    return replace(ds, X=X, image_shape=shape, feature_names=_pixel_names(shape))


def filter_classes(ds: Dataset, classes: Sequence[str | int]) -> Dataset:
    """Keep the examples of ``classes`` (names as in ``ds.classes``); renumber them 0 … k-1.

    The order of ``classes`` is the new class order. An unknown name raises a
    :class:`UserError` with close matches.
    """
    wanted = [str(c) for c in classes]
    for name in wanted:
        if name not in ds.classes:
            raise UserError(
                f"{ds.name} has no class {name!r}; its classes are: {', '.join(ds.classes)}",
                key="data.classes",
                suggestions=close_matches(name, ds.classes),
            )
    old_ids = np.array([ds.classes.index(n) for n in wanted], dtype=np.int64)
    keep = np.isin(ds.y, old_ids)
    remap = np.full(len(ds.classes), -1, dtype=np.int64)
    remap[old_ids] = np.arange(len(old_ids))
    return replace(
        ds,
        X=np.ascontiguousarray(ds.X[keep]),
        y=remap[ds.y[keep]],
        classes=wanted,
        ids=ds.ids[keep],
        domain=None if ds.domain is None else ds.domain[keep],
    )


def _check_inside(path: Path, inside: Path, root: Path, what: str) -> None:
    """Refuse a link that leads out of the image folder (to files the project did not name)."""
    target = path.resolve()
    if target != inside and inside not in target.parents:
        raise UserError(
            f"{what} {path} is a link to {target}, outside the image folder {root}; "
            "copy it into the folder, or name the folder it is in",
            key="data.source",
        )


def load_image_folder(root: str | Path, *, image_size: Sequence[int] | None = None) -> Dataset:
    """Images under ``root/<class>/``, one sub-folder per class, as a :class:`Dataset`.

    Every image is resized to ``image_size = (H, W)`` (bilinear); without it, all images
    must already have the same size. Grayscale when every image is single-channel, else every
    image is converted to RGB. ``ids`` are the paths relative to ``root``.
    """
    from PIL import Image

    root = Path(root)
    if not root.is_dir():
        raise UserError(
            f"image folder {root} does not exist (or is not a folder); expected one sub-folder "
            "of images per class",
            key="data.source",
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise UserError(
            f"{root} must hold one sub-folder per class (at least 2), but found "
            f"{len(class_dirs)}: {', '.join(p.name for p in class_dirs) or 'none'}",
            key="data.source",
        )
    inside = root.resolve()
    files: list[tuple[Path, int]] = []
    for k, d in enumerate(class_dirs):
        _check_inside(d, inside, root, "class folder")
        found = sorted(
            p for p in d.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        for p in found:
            _check_inside(p, inside, root, "image")
        if not found:
            raise UserError(
                f"class folder {d} holds no images ({', '.join(IMAGE_SUFFIXES)})",
                key="data.source",
            )
        files += [(p, k) for p in found]

    headers = []  # Image.open reads the header only: mode and size, no pixels yet
    for path, _ in files:
        with open_image(path) as im:  # within the size and pixel limits
            headers.append((im.mode, im.size))
    gray = all(mode in _GRAY_MODES for mode, _ in headers)
    if image_size is None:
        sizes = sorted({size for _, size in headers})
        if len(sizes) > 1:
            raise UserError(
                f"the images under {root} have {len(sizes)} different sizes (e.g. "
                f"{' and '.join(f'{w}x{h}' for w, h in sizes[:2])} as WxH); set "
                "data.image_size: [H, W] to resize them all",
                key="data.image_size",
            )
        h, w = sizes[0][1], sizes[0][0]
    else:
        h, w = (int(s) for s in image_size)
    c = 1 if gray else 3
    X = np.empty((len(files), c * h * w), dtype=np.float32)
    for i, (path, _) in enumerate(files):
        with open_image(path) as im:
            im = im.convert("L" if gray else "RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 255.0  # (H, W) or (H, W, 3)
        X[i] = (a[None] if gray else a.transpose(2, 0, 1)).reshape(-1)  # (C, H, W) flat
    shape = (c, h, w)
    return Dataset(
        X=X,
        y=np.array([k for _, k in files], dtype=np.int64),
        classes=[d.name for d in class_dirs],
        feature_names=_pixel_names(shape),
        name=root.name,
        ids=np.array([p.relative_to(root).as_posix() for p, _ in files]),
        image_shape=shape,
    )
