"""The in-memory data set every split, normalizer and tensor is made from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

__all__ = ["Dataset", "fingerprint", "row_hashes"]


@dataclass(frozen=True, eq=False)
class Dataset:
    """Examples, labels and what is known about them.

    ``X`` is float32, ``(n, d)`` for tables (and for flattened images, with ``image_shape``
    telling how to unflatten them) or ``(n, C, H, W)``; ``y`` holds int64 class ids
    ``0..K-1`` naming ``classes[y]`` or, for multi-label data, float32 ``(n, T)`` with 1 / 0
    per label and NaN where the example is not labeled for that label, ``classes`` then
    naming the T labels (the columns); ``domain`` is ``"source"`` / ``"target"`` per example
    when the project has a target domain, and ``domain_names`` what the user calls the two
    (``{"source": "lab", "target": "field"}`` from a domain column) for display; ``ids`` are
    stable example ids (``digits:123``, or the row index of a file as a string).
    """

    X: np.ndarray
    y: np.ndarray
    classes: list[str]
    feature_names: list[str]
    name: str
    ids: np.ndarray
    domain: np.ndarray | None = None
    image_shape: tuple[int, ...] | None = None
    domain_names: dict[str, str] | None = None

    def display_domain(self, domain: str) -> str:
        """The user's name of ``"source"`` / ``"target"`` (themselves when it has none)."""
        return (self.domain_names or {}).get(domain, domain)

    def __post_init__(self) -> None:
        n = len(self.X)
        if self.y.ndim == 2:
            self._check_multilabel()
        elif self.X.dtype != np.float32 or self.y.dtype != np.int64:
            raise TypeError(
                f"X must be float32 and y int64, but got {self.X.dtype} and {self.y.dtype}"
            )
        if self.y.shape[:1] != (n,) or self.ids.shape != (n,):
            raise ValueError(
                f"X, y and ids must have {n} rows, but got y{self.y.shape}, ids{self.ids.shape}"
            )
        if self.domain is not None and self.domain.shape != (n,):
            raise ValueError(f"domain must have {n} rows, but got {self.domain.shape}")
        if self.y.ndim == 1 and n and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
            raise ValueError(f"y must be class ids in 0..{len(self.classes) - 1}")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != int(
            np.prod(self.X.shape[1:])
        ):
            raise ValueError(
                f"image_shape {self.image_shape} does not fit rows of shape {self.X.shape[1:]}"
            )

    def _check_multilabel(self) -> None:
        if self.X.dtype != np.float32 or self.y.dtype != np.float32:
            raise TypeError(
                f"multi-label X and y must be float32, but got {self.X.dtype} and {self.y.dtype}"
            )
        if self.y.shape[1] != len(self.classes):
            raise ValueError(
                f"multi-label y must have one column per label ({len(self.classes)}), "
                f"but got y{self.y.shape}"
            )
        known = self.y[~np.isnan(self.y)]
        if not np.isin(known, (0.0, 1.0)).all():
            raise ValueError("multi-label y must hold 1, 0 or NaN (unlabeled)")

    def __len__(self) -> int:
        return len(self.X)

    @property
    def multilabel(self) -> bool:
        """Whether ``y`` is ``(n, T)``: several labels per example, ``classes`` naming them."""
        return self.y.ndim == 2

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def as_images(self) -> np.ndarray:
        """``X`` as ``(n, C, H, W)``; a view, no copy."""
        if self.X.ndim == 4:
            return self.X
        if self.image_shape is None:
            raise ValueError(f"{self.name} is a table, not images (it has no image_shape)")
        return self.X.reshape(len(self.X), *self.image_shape)

    def fingerprint(self) -> str:
        return fingerprint(self.X, self.y, self.domain)


def fingerprint(X: np.ndarray, y: np.ndarray, domain: np.ndarray | None = None) -> str:
    """sha256 of the bytes (and shapes) of X, y and, when present, the domain of each example.

    Class ids hash as int64; multi-label targets (float, NaN where unlabeled) as float32.
    """
    h = hashlib.sha256()
    y_dtype = np.float32 if np.issubdtype(np.asarray(y).dtype, np.floating) else np.int64
    for arr in (np.ascontiguousarray(X, dtype=np.float32), np.ascontiguousarray(y, dtype=y_dtype)):
        h.update(repr((arr.dtype.str, arr.shape)).encode())
        h.update(arr.data)
    if domain is not None:
        h.update("\x00".join(map(str, domain)).encode())
    return h.hexdigest()


def row_hashes(X: np.ndarray) -> np.ndarray:
    """A content hash per example (16 hex digits of blake2b over the row's float32 bytes)."""
    rows = np.ascontiguousarray(X.reshape(len(X), -1), dtype=np.float32)
    rows = rows + np.float32(0.0)  # -0.0 and 0.0 hash alike
    return np.array([hashlib.blake2b(r.tobytes(), digest_size=8).hexdigest() for r in rows])
