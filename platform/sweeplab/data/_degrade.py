"""Seeded degradations, and a target domain derived from a source with them.

The course's web-photos-versus-phone-photos example, made from any image data set: the
target examples are blurred, noisy, low-resolution or low-contrast copies. Each function takes
images ``(n, C, H, W)`` scaled to [0, 1], a strength (1 = the default) and a generator, and
returns new images in [0, 1]. Parameters at strength 1 are chosen so that a model trained
mostly on clean 8x8 digits errs clearly more on the target than on train-dev.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from sweeplab.config.data import DeriveConfig
from sweeplab.data._allocate import allocate
from sweeplab.data._dataset import Dataset
from sweeplab.errors import UserError
from sweeplab.registry import Registry

__all__ = [
    "DEGRADATIONS",
    "Degradation",
    "degrade",
    "degrade_all",
    "derive_target",
    "value_range_of",
]


@dataclass(frozen=True)
class Degradation:
    fn: Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
    needs_image: bool
    description: str


DEGRADATIONS: Registry[Degradation] = Registry("degradation")


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _convolve_axis(images: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    r = len(kernel) // 2
    pad = [(0, 0)] * images.ndim
    pad[axis] = (r, r)
    padded = np.pad(images, pad, mode="reflect" if images.shape[axis] > r else "edge")
    out = np.zeros_like(images)
    length = images.shape[axis]
    for i, w in enumerate(kernel):
        out += w * np.take(padded, np.arange(i, i + length), axis=axis)
    return out


def blur(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, sigma = strength pixels (separable, reflected borders)."""
    kernel = _gaussian_kernel(1.0 * strength)
    return _convolve_axis(_convolve_axis(images, kernel, 2), kernel, 3)


def noise(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian noise, std = 0.25 * strength of the value range, clipped."""
    return np.clip(images + rng.normal(0.0, 0.25 * strength, size=images.shape), 0.0, 1.0)


def downscale(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Average blocks of f x f pixels (f = round(2 * strength), at least 2), then scale back up."""
    f = max(2, int(round(2 * strength)))
    n, c, h, w = images.shape
    hp, wp = -(-h // f) * f, -(-w // f) * f
    padded = np.pad(images, [(0, 0), (0, 0), (0, hp - h), (0, wp - w)], mode="edge")
    small = padded.reshape(n, c, hp // f, f, wp // f, f).mean(axis=(3, 5))
    return small.repeat(f, axis=2).repeat(f, axis=3)[
        :, :, :h, :w
    ]  # nearest: blocky, like a low-res camera


def low_contrast(images: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Wash out towards mid-gray: ``0.5 + c * (x - 0.5)``, c = max(0.1, 1 - 0.7 * strength).

    (Pulling towards mid-gray, not the image's mean, also lifts the background, as a hazy
    photo does; a contrast change around the mean alone barely troubles a linear model.)
    """
    c = max(0.1, 1.0 - 0.7 * strength)
    return 0.5 + c * (images - 0.5)


DEGRADATIONS.add("blur", Degradation(blur, True, "Gaussian blur, sigma = strength px"))
DEGRADATIONS.add(
    "noise",
    Degradation(noise, False, "additive Gaussian noise, std = 0.25 x strength of the range"),
)
DEGRADATIONS.add(
    "downscale", Degradation(downscale, True, "downscale by 2 x strength, upscale back")
)
DEGRADATIONS.add(
    "low_contrast",
    Degradation(low_contrast, False, "washed out: contrast x (1 - 0.7 x strength) around mid-gray"),
)


def degrade(
    images: np.ndarray,
    cfg: DeriveConfig,
    *,
    value_range: tuple[float | np.ndarray, float | np.ndarray],
) -> np.ndarray:
    """Apply ``cfg.degradations`` in order to ``images`` ``(n, C, H, W)``; seeded by ``cfg.seed``.

    ``value_range`` is (lo, hi) of the data: scalars for images, per-column arrays (broadcast
    over the last axis) for tables.
    """
    lo, hi = (np.asarray(v, dtype=np.float64) for v in value_range)
    scale = np.where(hi > lo, hi - lo, 1.0)
    x = (np.asarray(images, dtype=np.float64) - lo) / scale
    rng = np.random.default_rng(cfg.seed)
    for name in cfg.degradations:
        x = DEGRADATIONS.get(name).fn(x, cfg.strength_of(name), rng)
    return (x * scale + lo).astype(np.float32)


def derive_target(
    ds: Dataset, cfg: DeriveConfig, *, size: int | float, seed: int, synthesize: float = 0.0
) -> Dataset:
    """Make ``size`` examples (stratified by class, seeded by ``seed``) degraded target copies.

    The examples keep their place and id; ``domain`` says which are which. The clean originals
    of target examples are not kept, so no split can hold both an image and its degraded copy.

    ``synthesize`` (artificial data synthesis, the course's car-noise example): that share of
    the *source* examples (stratified, own seeded stream) are degraded the same way, with
    other random draws, and stay in the source domain, i.e. in the training pool: training
    data made more like the target without taking a single target example.
    """
    _check_images(ds, cfg, key="data.target.derive.degradations")
    n = len(ds)
    count = size if isinstance(size, int) else int(round(size * n))
    if not 1 <= count < n:
        raise UserError(
            f"target.size must leave at least one example on each side, but got {size} of {n} examples",
            key="data.target.size",
        )
    pick = (
        allocate(ds.y, [count], np.random.default_rng([seed, 0x7A46])) == 0
    )  # own stream, not build_splits'
    images = _as_images(ds)
    X = ds.X.copy()
    lo_hi = value_range_of(ds)
    X[pick] = degrade(images[pick], cfg, value_range=lo_hi).reshape(X[pick].shape)
    if synthesize > 0:
        source = np.flatnonzero(~pick)
        n_syn = int(round(synthesize * len(source)))
        rng = np.random.default_rng([seed, 0x5E17])
        chosen = source[allocate(ds.y[source], [n_syn], rng) == 0] if n_syn else source[:0]
        other_draws = cfg.model_copy(update={"seed": cfg.seed + 1})
        X[chosen] = degrade(images[chosen], other_draws, value_range=lo_hi).reshape(X[chosen].shape)
    return replace(
        ds,
        X=X,
        name=f"{ds.name}+target({','.join(cfg.degradations)})",
        domain=np.where(pick, "target", "source"),
    )


def degrade_all(
    ds: Dataset,
    cfg: DeriveConfig,
    *,
    value_range: tuple[float | np.ndarray, float | np.ndarray] | None = None,
) -> Dataset:
    """``data.degrade``: every example of ``ds`` degraded (seeded by ``cfg.seed``), in place.

    Ids, labels and order are kept; the clean originals are not. ``value_range`` (default:
    :func:`value_range_of` ``ds``) should be the whole source's, so that a part of a source
    is scaled as the source is.
    """
    _check_images(ds, cfg, key="data.degrade.degradations")
    X = degrade(_as_images(ds), cfg, value_range=value_range or value_range_of(ds))
    return replace(ds, X=X.reshape(ds.X.shape), name=f"{ds.name}+{'+'.join(cfg.degradations)}")


def value_range_of(ds: Dataset) -> tuple[float | np.ndarray, float | np.ndarray]:
    """(lo, hi) the degradations scale by: scalars for images, per column for a table."""
    if ds.image_shape is not None or ds.X.ndim == 4:
        return float(ds.X.min()), float(ds.X.max())
    return ds.X.min(axis=0), ds.X.max(axis=0)


def _as_images(ds: Dataset) -> np.ndarray:
    """``(n, C, H, W)``; a table's rows become 1 x 1 x d "images" (each column its own range)."""
    if ds.image_shape is not None or ds.X.ndim == 4:
        return ds.as_images()
    return ds.X.reshape(len(ds), 1, 1, -1)


def _check_images(ds: Dataset, cfg: DeriveConfig, *, key: str) -> None:
    needs = [n for n in cfg.degradations if DEGRADATIONS.get(n).needs_image]
    if needs and ds.image_shape is None and ds.X.ndim != 4:
        raise UserError(
            f"degradation(s) {', '.join(needs)} need images, but {ds.name} is a table; "
            "use noise or low_contrast, or an image source such as sklearn:digits",
            key=key,
        )
