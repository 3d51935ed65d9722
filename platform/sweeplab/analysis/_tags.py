"""Automatic tags for error analysis: classes, feature buckets, image quality.

Each function returns a DataFrame with one row per example, ready to pass as
``error_table(..., categories=...)``: bool columns become one category each, tag columns one
category per value.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from sweeplab.analysis._error_table import _as_1d, _check_same_length
from sweeplab.errors import UserError, close_matches

__all__ = ["bucketize", "class_tags", "image_quality", "quality_tags"]


def class_tags(
    y_true: Sequence[Hashable] | np.ndarray,
    y_pred: Sequence[Hashable] | np.ndarray,
    *,
    names: Mapping[Hashable, str] | None = None,
) -> pd.DataFrame:
    """Tags ``true_class`` and ``predicted_class`` (mapped through ``names`` when given)."""
    yt, yp = _as_1d("y_true", y_true), _as_1d("y_pred", y_pred)
    _check_same_length(y_true=yt, y_pred=yp)
    if names is not None:
        missing = sorted({v for v in [*yt.tolist(), *yp.tolist()] if v not in names}, key=str)
        if missing:
            raise UserError(f"no name for class {missing[0]!r}", key="names")
        yt = np.array([names[v] for v in yt.tolist()], dtype=object)
        yp = np.array([names[v] for v in yp.tolist()], dtype=object)
    return pd.DataFrame({"true_class": yt, "predicted_class": yp})


def bucketize(df: pd.DataFrame, columns: Sequence[str], *, q: int = 4) -> pd.DataFrame:
    """Quantile buckets of numeric feature columns, as tags for :func:`error_table`.

    Each column becomes labels ``"Q1 [lo, hi]"``… (equal-count buckets; duplicate edges of
    heavily repeated values are merged, so there may be fewer than ``q``). NaN stays NaN.
    """
    if isinstance(q, bool) or not isinstance(q, int) or q < 2:
        raise UserError(f"q must be an integer >= 2, but got {q!r}", key="q")
    if isinstance(columns, str):
        columns = [columns]
    out = {}
    for name in columns:
        if name not in df.columns:
            raise UserError(
                f"unknown column {name!r}; the table has: {', '.join(map(str, df.columns))}",
                key="columns",
                suggestions=close_matches(str(name), [str(c) for c in df.columns]),
            )
        col = df[name]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise UserError(f"column {name!r} must be numeric to bucketize, but is {col.dtype}")
        values = col.astype(float)
        if not np.isfinite(values.dropna()).all():
            raise UserError(f"column {name!r} holds infinite values")
        buckets = pd.qcut(values, q=q, duplicates="drop")
        labels = {
            iv: f"Q{i + 1} [{iv.left:.4g}, {iv.right:.4g}]"
            for i, iv in enumerate(buckets.cat.categories)
        }
        out[name] = pd.Categorical(
            buckets.map(labels).astype(object), categories=list(labels.values()), ordered=True
        )
    return pd.DataFrame(out, index=df.index)


def _gray01(images: object) -> np.ndarray:
    """(N, H, W) grayscale in [0, 1] from (N, H, W), (N, H, W, C) or (N, C, H, W) images."""
    arr = np.asarray(images)
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        x = arr.astype(float) / np.iinfo(arr.dtype).max
    elif np.issubdtype(arr.dtype, np.floating):
        x = arr.astype(float)
        if not np.isfinite(x).all() or x.min(initial=0.0) < 0 or x.max(initial=0.0) > 1:
            raise UserError(
                "float images must hold finite values in [0, 1] "
                f"(found [{np.nanmin(x):g}, {np.nanmax(x):g}]); divide 8-bit values by 255",
                key="images",
            )
    else:
        raise UserError(f"images must be uint8, uint16 or float, but got {arr.dtype}", key="images")
    if x.ndim == 4:
        # channels-first when dim 1 looks like channels and the last one does not
        channels_first = x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3, 4)
        x = x.mean(axis=1) if channels_first else x[..., :3].mean(axis=-1)
    if x.ndim != 3 or min(x.shape[1:], default=0) < 3:
        raise UserError(
            "images must be (N, H, W), (N, H, W, C) or (N, C, H, W) with H, W >= 3, "
            f"but got shape {arr.shape}",
            key="images",
        )
    return x  # (N, H, W)


def image_quality(images: object) -> pd.DataFrame:
    """Per-image ``brightness`` (mean, 0..1), ``contrast`` (std) and ``sharpness`` (variance of
    the 4-neighbour Laplacian over the image's variance: blur lowers it, scaling the
    intensities does not; 0 for a flat image)."""
    x = _gray01(images)  # (N, H, W)
    lap = (
        4 * x[:, 1:-1, 1:-1] - x[:, :-2, 1:-1] - x[:, 2:, 1:-1] - x[:, 1:-1, :-2] - x[:, 1:-1, 2:]
    )  # (N, H-2, W-2)
    return pd.DataFrame(
        {
            "brightness": x.mean(axis=(1, 2)),
            "contrast": x.std(axis=(1, 2)),
            # relative to the image's own variance, so brightness and contrast do not count
            "sharpness": lap.var(axis=(1, 2)) / np.maximum(x.var(axis=(1, 2)), 1e-12),
        }
    )


def quality_tags(
    images: object,
    *,
    dark_below: float = 0.25,
    low_contrast_below: float = 0.1,
    blurry_ratio: float = 0.25,
) -> pd.DataFrame:
    """Bool tags ``dark``, ``low_contrast`` and ``blurry`` per image.

    ``dark``: mean brightness below ``dark_below``; ``low_contrast``: std below
    ``low_contrast_below`` (both on a 0..1 scale). ``blurry`` is relative, because a
    Laplacian's variance depends on content and size: sharpness below ``blurry_ratio`` times
    the set's median sharpness.
    """
    for name, v in (
        ("dark_below", dark_below),
        ("low_contrast_below", low_contrast_below),
        ("blurry_ratio", blurry_ratio),
    ):
        if not (isinstance(v, int | float) and 0 < v <= 1):
            raise UserError(f"must be a number in (0, 1], but got {v!r}", key=name)
    q = image_quality(images)
    return pd.DataFrame(
        {
            "dark": q["brightness"] < dark_below,
            "low_contrast": q["contrast"] < low_contrast_below,
            "blurry": q["sharpness"] < blurry_ratio * q["sharpness"].median(),
        }
    )
