"""Split tensors: the data every trial of a sweep trains on, prepared once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sweeplab.data._dataset import Dataset
from sweeplab.data._manifest import SplitManifest
from sweeplab.data._normalize import Normalizer

if TYPE_CHECKING:
    import torch

__all__ = ["SplitTensors", "prepare_tensors"]


@dataclass(frozen=True, eq=False)
class SplitTensors:
    """``splits[name] = (X, y)``: X float32 ``(n, *input_shape)``, y int64 ``(n,)``.

    Multi-label data: y float32 ``(n, T)`` with NaN where unlabeled; ``classes`` (and
    ``num_classes``) are then the T labels.
    """

    splits: dict[str, tuple[torch.Tensor, torch.Tensor]]
    normalizer: Normalizer
    input_shape: tuple[int, ...]
    num_classes: int
    classes: list[str]

    def sizes(self) -> dict[str, int]:
        return {k: len(y) for k, (_, y) in self.splits.items()}

    @property
    def multilabel(self) -> bool:
        return next(iter(self.splits.values()))[1].ndim == 2


def prepare_tensors(
    ds: Dataset,
    manifest: SplitManifest,
    *,
    normalize: bool = True,
    device: str | torch.device = "cpu",
    image: bool = False,
) -> SplitTensors:
    """Normalize with train statistics, cut the splits and move them to ``device``, once.

    ``image=True`` shapes rows as ``(C, H, W)`` (``ds.image_shape``) for convolutional models.
    """
    import torch  # here, not at import: `sweeplab --help` and config loading stay fast

    manifest.verify(ds)
    d = int(np.prod(ds.X.shape[1:]))
    if image and ds.image_shape is None and ds.X.ndim != 4:
        raise ValueError(
            f"{ds.name} is a table (no image_shape); a model that needs images cannot use it"
        )
    normalizer = (
        Normalizer.fit(ds.X[manifest.splits["train"]]) if normalize else Normalizer.identity(d)
    )
    shape = (ds.image_shape or tuple(ds.X.shape[1:])) if image else (d,)
    # one vectorized pass over all rows; the same arithmetic as Normalizer.transform at serve time
    X_all = (
        normalizer.transform(ds.X.reshape(len(ds), d)) if normalize else ds.X.reshape(len(ds), d)
    )
    y_all = torch.from_numpy(ds.y)
    splits = {}
    for name, idx in manifest.splits.items():
        X = torch.from_numpy(
            X_all[idx].reshape(len(idx), *shape)
        )  # fancy indexing copies: (n, *shape)
        splits[name] = (X.to(device), y_all[torch.from_numpy(idx)].to(device))
    return SplitTensors(
        splits=splits,
        normalizer=normalizer,
        input_shape=tuple(shape),
        num_classes=ds.num_classes,
        classes=list(ds.classes),
    )
