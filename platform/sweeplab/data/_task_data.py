"""Data of the vision tasks: generated sets, their splits, and style-transfer images.

``data.source: generated:NAME`` with ``data.generate: {...}`` (the generator's keyword
arguments) makes the examples in memory, seeded, once per sweep:

* ``generated:shapes_detection`` -- scenes with boxes (task ``detection``);
* ``generated:shapes_localization`` -- one shape or none per image, its box and class (task
  ``localization``; ``min_objects: 1`` leaves out the empty images);
* ``generated:shapes_landmarks`` -- one triangle per image, its three vertices as landmarks
  (task ``landmarks``);
* ``generated:shapes_segmentation`` -- scenes with label masks (task ``segmentation``);
* ``generated:identities`` -- identities for verification (task ``verification``); split **by
  identity**: the split sizes count identities, so dev and test identities are never seen in
  training (one-shot);
* ``generated:shapes`` -- one shape per image, labelled by its class: an ordinary multiclass
  image data set (the style-transfer feature network trains on it).

Style transfer's content and style images (``data.style_images``) come from scikit-image's
bundled samples (``skimage:astronaut``; only files inside the wheel, never a download), a
generated texture (``generated:stripes``) or the user's image files.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sweeplab.config.data import SPLIT_ORDER
from sweeplab.data._allocate import split_sizes
from sweeplab.data._dataset import Dataset
from sweeplab.data._generated import (
    DetectionSet,
    IdentitySet,
    LandmarkSet,
    SegmentationSet,
    identities,
    shapes_detection,
    shapes_landmarks,
    shapes_segmentation,
    stripes,
)
from sweeplab.data._manifest import SplitManifest
from sweeplab.data._multilabel import shapes_multilabel
from sweeplab.errors import UserError, close_matches
from sweeplab.files import open_image

__all__ = [
    "GENERATED",
    "SKIMAGE_SAMPLES",
    "GeneratedSource",
    "TaskData",
    "generator_arguments",
    "load_style_image",
    "load_task_data",
    "split_task_data",
]


@dataclass(frozen=True)
class GeneratedSource:
    """A generator of the ``generated:`` scheme: the task it feeds and its default arguments."""

    task: str
    make: Callable[..., Any]
    defaults: dict[str, Any]
    description: str


def _shapes(n: int = 1000, **kwargs: Any) -> Any:
    return shapes_detection(n, min_objects=1, max_objects=1, **kwargs)


def _localization(n: int = 1000, min_objects: int = 0, **kwargs: Any) -> Any:
    return shapes_detection(n, min_objects=min_objects, max_objects=1, **kwargs)


GENERATED: dict[str, GeneratedSource] = {
    "shapes_detection": GeneratedSource(
        "detection", shapes_detection, {"n": 1000}, "scenes of shapes with boxes"
    ),
    "shapes_segmentation": GeneratedSource(
        "segmentation", shapes_segmentation, {"n": 1000}, "scenes and label masks"
    ),
    "identities": GeneratedSource(
        "verification",
        identities,
        {"num_identities": 200, "per_identity": 6},
        "identities to verify (split by identity)",
    ),
    "shapes_localization": GeneratedSource(
        "localization", _localization, {"n": 1000}, "one shape or none per image, with its box"
    ),
    "shapes_landmarks": GeneratedSource(
        "landmarks", shapes_landmarks, {"n": 1000}, "triangles and their 3 vertices"
    ),
    "shapes": GeneratedSource("multiclass", _shapes, {"n": 1000}, "one shape per image"),
    "shapes_multilabel": GeneratedSource(  # data/_multilabel.py: makes its Dataset itself
        "multilabel", shapes_multilabel, {}, "which shapes are in each image (some unlabeled)"
    ),
}

# scikit-image samples that ship inside the wheel (skimage/data/), loaded from the file.
SKIMAGE_SAMPLES = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "chelsea": "chelsea.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "horse": "horse.png",
    "moon": "moon.png",
    "rocket": "rocket.jpg",
    "retina": "retina.jpg",
    "text": "text.png",
}


def generator_arguments(name: str) -> list[str]:
    """The keyword arguments ``data.generate`` may set for ``generated:NAME``."""
    if name in ("shapes", "shapes_localization"):
        fn: Callable[..., Any] = shapes_detection
        skip = {"min_objects", "max_objects"} if name == "shapes" else {"max_objects"}
    else:
        fn, skip = GENERATED[name].make, set()
    return [p for p in inspect.signature(fn).parameters if p not in skip]


@dataclass(frozen=True)
class TaskData:
    """A generated set: ``dataset`` (for fingerprint and split manifest) and the full ``sets``."""

    dataset: Dataset
    full: Any  # DetectionSet | SegmentationSet | LandmarkSet | IdentitySet
    task: str


def _generate(name: str, generate: dict[str, Any] | None, seed: int) -> Any:
    src = GENERATED[name]
    known = generator_arguments(name)
    kwargs = {**src.defaults, **(generate or {})}
    for key in kwargs:
        if key not in known:
            raise UserError(
                f"unknown argument {key!r} of generated:{name}; expected one of: {', '.join(known)}",
                key=f"data.generate.{key}",
                suggestions=close_matches(key, known),
            )
    kwargs.setdefault("seed", seed)
    try:
        return src.make(**kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"generated:{name}: {exc}", key="data.generate") from None


def generated_dataset(name: str, generate: dict[str, Any] | None, seed: int) -> Dataset:
    """``generated:shapes``: a multiclass image :class:`Dataset` (label = the shape's class)."""
    full = _generate(name, generate, seed)
    if isinstance(full, Dataset):  # generated:shapes_multilabel
        return full
    labels = np.array([int(c[0]) for c in full.classes], dtype=np.int64)
    return Dataset(
        X=full.images.numpy(),
        y=labels,
        classes=list(full.class_names),
        feature_names=[],
        name=f"generated:{name}",
        ids=np.array([f"{name}:{i}" for i in range(len(labels))]),
        image_shape=tuple(full.images.shape[1:]),
    )


def load_task_data(source: str, generate: dict[str, Any] | None, *, seed: int) -> TaskData:
    """Generate ``generated:NAME`` once; ``dataset.y`` is what the splits stratify by."""
    name = source.partition(":")[2]
    full = _generate(name, generate, seed)
    n = len(full)
    if GENERATED[name].task == "detection":
        y = np.array([len(b) for b in full.boxes], dtype=np.int64)  # objects per image
        classes = [f"{k} objects" for k in range(int(y.max()) + 1)] if n else ["0 objects"]
    elif GENERATED[name].task == "localization":  # 0 = no object, k + 1 = class k
        y = np.array([int(c[0]) + 1 if len(c) else 0 for c in full.classes], dtype=np.int64)
        classes = ["no object", *full.class_names]
    elif GENERATED[name].task == "verification":
        y = full.labels.numpy().astype(np.int64)
        classes = [f"identity {k}" for k in range(int(y.max()) + 1)]
    else:
        y, classes = np.zeros(n, dtype=np.int64), ["scene"]
    ds = Dataset(
        X=full.images.numpy(),
        y=y,
        classes=classes,
        feature_names=[],
        name=source,
        ids=np.array([f"{name}:{i}" for i in range(n)]),
        image_shape=tuple(full.images.shape[1:]),
    )
    return TaskData(dataset=ds, full=full, task=GENERATED[name].task)


def identity_splits(ds: Dataset, cfg: Any) -> Any:
    """A split manifest by identity: split sizes count identities, not examples."""
    ids = np.unique(ds.y)
    sizes = split_sizes(len(ids), cfg.splits.sizes(), what="the identities", key="data.splits")
    perm = np.random.default_rng(cfg.seed).permutation(ids)
    splits, start = {}, 0
    for name in SPLIT_ORDER:
        if name in sizes:
            chosen = perm[start : start + sizes[name]]
            start += sizes[name]
            splits[name] = np.flatnonzero(np.isin(ds.y, chosen))
    return SplitManifest(
        splits=splits, dataset=ds.name, fingerprint=ds.fingerprint(), seed=cfg.seed, n=len(ds)
    )


def split_task_data(full: Any, manifest: Any) -> dict[str, Any]:
    """``{split name: the subset of the generated set}`` for every split of ``manifest``."""
    out = {}
    for name, idx in manifest.splits.items():
        ti = torch.as_tensor(idx, dtype=torch.long)
        if isinstance(full, DetectionSet):
            out[name] = replace(
                full,
                images=full.images[ti],
                boxes=tuple(full.boxes[i] for i in idx),
                classes=tuple(full.classes[i] for i in idx),
            )
        elif isinstance(full, SegmentationSet):
            out[name] = replace(full, images=full.images[ti], masks=full.masks[ti])
        elif isinstance(full, LandmarkSet):
            out[name] = replace(full, images=full.images[ti], points=full.points[ti])
        elif isinstance(full, IdentitySet):
            out[name] = IdentitySet(images=full.images[ti], labels=full.labels[ti])
        else:  # pragma: no cover - every generated task set is handled above
            raise TypeError(f"cannot split {type(full).__name__}")
    return out


def load_style_image(spec: str, *, size: int, base_dir: str | Path, key: str) -> Any:
    """``(3, size, size)`` float32 tensor in [0, 1] from ``skimage:NAME``, ``generated:stripes``
    or an image file (relative to ``base_dir``); centre-cropped to a square, then resized."""
    from PIL import Image

    scheme, sep, rest = spec.partition(":")
    if sep and scheme == "generated":
        if rest != "stripes":
            raise UserError(
                f"unknown generated image {rest!r}; expected generated:stripes",
                key=key,
                suggestions=[f"generated:{m}" for m in close_matches(rest, ["stripes"])],
            )
        return stripes(size, seed=1)
    if sep and scheme == "skimage":
        if rest not in SKIMAGE_SAMPLES:
            raise UserError(
                f"unknown scikit-image sample {rest!r}; expected one of: "
                + ", ".join(f"skimage:{s}" for s in SKIMAGE_SAMPLES),
                key=key,
                suggestions=[f"skimage:{m}" for m in close_matches(rest, SKIMAGE_SAMPLES)],
            )
        try:
            from skimage import data as skdata
        except ImportError:  # pragma: no cover - a declared dependency
            raise UserError(
                "skimage: samples need scikit-image (pip install scikit-image)"
            ) from None
        path = Path(skdata.data_dir) / SKIMAGE_SAMPLES[rest]
    else:
        path = Path(spec)
        if not path.is_absolute():
            path = Path(base_dir) / path
        if not path.is_file():
            raise UserError(
                f"image file {spec!r} not found (looked for {path}); use skimage:NAME, "
                "generated:stripes or a path relative to the project file",
                key=key,
            )
    try:
        with open_image(path) as im:  # within the size and pixel limits
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            arr = np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
    except OSError as exc:
        raise UserError(f"cannot read image {path}: {exc}", key=key) from None
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())  # (3, H, W)
