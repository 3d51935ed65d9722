"""Image quality tags for the error-analysis table (pure numpy; no training, no files)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["quality_tags"]


def quality_tags(
    X_images: np.ndarray,
    *,
    value_range: tuple[float, float] | None = None,
    blurry_below: float = 1.5,
    dark_below: float = 0.15,
    low_contrast_below: float = 0.15,
) -> pd.DataFrame:
    """One row per image: ``sharpness``, ``brightness``, ``contrast`` and boolean tags.

    ``X_images`` is ``(n, C, H, W)`` or ``(n, H, W)``; channels are averaged to gray, and
    values are scaled to [0, 1] by ``value_range`` (default: the batch's min and max; pass
    the source's range to compare batches). ``sharpness`` is the variance of the 4-neighbour
    Laplacian over the variance of the pixels (so it does not depend on contrast), ``brightness`` the mean and ``contrast`` the standard deviation of the pixels;
    an image is ``blurry`` / ``dark`` / ``low_contrast`` when the value is below the threshold.
    The defaults separate clean 8x8 digits (sharpness >= 2.4, contrast >= 0.3 for 99% of them)
    from the strength-1 ``blur`` (sharpness <= 1.2) and ``low_contrast`` (contrast <= 0.13).
    """
    import pandas as pd

    x = np.asarray(X_images, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[2] < 3 or x.shape[3] < 3:
        raise ValueError(
            f"X_images must be (n, C, H, W) or (n, H, W) with H, W >= 3, but got shape {x.shape}"
        )
    lo, hi = (
        value_range
        if value_range is not None
        else (float(x.min(initial=0.0)), float(x.max(initial=1.0)))
    )
    gray = (x.mean(axis=1) - lo) / ((hi - lo) or 1.0)  # (n, H, W)
    lap = (
        gray[:, :-2, 1:-1]
        + gray[:, 2:, 1:-1]
        + gray[:, 1:-1, :-2]
        + gray[:, 1:-1, 2:]
        - 4 * gray[:, 1:-1, 1:-1]
    )  # (n, H-2, W-2)
    brightness = gray.reshape(len(x), -1).mean(axis=1)
    contrast = gray.reshape(len(x), -1).std(axis=1)
    # relative to the pixel variance, so a faint but crisp image does not count as blurry
    sharpness = lap.reshape(len(x), -1).var(axis=1) / np.maximum(contrast**2, 1e-12)
    return pd.DataFrame(
        {
            "sharpness": sharpness,
            "brightness": brightness,
            "contrast": contrast,
            "blurry": sharpness < blurry_below,
            "dark": brightness < dark_below,
            "low_contrast": contrast < low_contrast_below,
        }
    )
