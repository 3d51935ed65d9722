"""Input normalization with statistics of the training split only (the course's μ and σ)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Normalizer"]


@dataclass(frozen=True, eq=False)
class Normalizer:
    """Per-feature ``(x - mean) / std``; ``std = sqrt(mean((x - mean)**2))``, 1 where it is 0.

    Fit it on the training split and apply the same ``mean`` / ``std`` to every split, so
    train-dev, dev and test are scaled exactly as the examples the model learned from.
    """

    mean: np.ndarray  # (d,) float64
    std: np.ndarray  # (d,) float64, no zeros

    @classmethod
    def fit(cls, X_train: np.ndarray) -> Normalizer:
        X = np.asarray(X_train, dtype=np.float64).reshape(len(X_train), -1)
        if len(X) == 0:
            raise ValueError("cannot fit a Normalizer on an empty training split")
        mean = X.mean(axis=0)
        std = np.sqrt(((X - mean) ** 2).mean(axis=0))  # variance after subtracting the mean
        std[std == 0] = 1.0  # constant columns (e.g. always-blank pixels) stay finite
        return cls(mean=mean, std=std)

    @classmethod
    def identity(cls, d: int) -> Normalizer:
        return cls(mean=np.zeros(d), std=np.ones(d))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """float32, same shape as ``X`` (rows may be images; they are scaled pixel by pixel)."""
        flat = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        return ((flat - self.mean) / self.std).astype(np.float32).reshape(X.shape)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, doc: dict[str, list[float]]) -> Normalizer:
        return cls(
            mean=np.asarray(doc["mean"], dtype=np.float64),
            std=np.asarray(doc["std"], dtype=np.float64),
        )
