"""Generated multi-label data: which shapes are in this image?

The course's multi-task example asks of one street photo four yes / no questions (a stop
sign? a car? a pedestrian? a traffic light?), and some photos were labelled for only some
of them. Here the photo is a generated scene of 0 … 3 shapes (``SHAPE_CLASSES``: rectangle,
ellipse, triangle; see :func:`~sweeplab.data.shapes_detection`) and label j is 1 when the
scene holds at least one shape of class j. A share of the entries is left unlabeled (NaN),
each independently, as if the labeller skipped that question for that image.

Seeded (same arguments -> same bytes), no download; ``X`` is the images flattened to
``(n, 3·H·W)`` float32 in [0, 1] with ``image_shape = (3, H, W)``, ``y`` is float32
``(n, 3)`` of 1 / 0 / NaN.
"""

from __future__ import annotations

import numpy as np

from sweeplab.data._dataset import Dataset
from sweeplab.data._generated import SHAPE_CLASSES, shapes_detection

__all__ = ["shapes_multilabel"]

NAME = "shapes_multilabel"


def shapes_multilabel(
    n: int = 1500,
    *,
    image_size: int = 16,
    max_objects: int = 3,
    unlabeled: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """``n`` scenes of 0 … ``max_objects`` shapes; one label per shape class, some unlabeled.

    ``unlabeled`` is the probability that an entry (one example, one label) is NaN.
    """
    if not 0.0 <= unlabeled < 1.0:
        raise ValueError(f"0 <= unlabeled < 1 must hold, but got unlabeled={unlabeled}")
    scenes = shapes_detection(
        n,
        image_size=image_size,
        min_objects=0,
        max_objects=max_objects,
        min_size=0.3,
        max_size=0.6,
        seed=seed,
    )
    t = len(SHAPE_CLASSES)
    y = np.zeros((n, t), dtype=np.float32)  # (n, T): 1 where the scene holds class j
    for i, classes in enumerate(scenes.classes):
        y[i, classes] = 1.0
    # A separate stream, so the scenes do not depend on the unlabeled share.
    rng = np.random.default_rng([seed, 1])
    y[rng.random((n, t)) < unlabeled] = np.nan
    X = scenes.images.numpy().reshape(n, -1)  # (n, 3·H·W)
    return Dataset(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=y,
        classes=list(SHAPE_CLASSES),
        feature_names=[f"pixel_{i}" for i in range(X.shape[1])],
        name=NAME,
        ids=np.array([f"{NAME}:{i}" for i in range(n)]),
        image_shape=(3, image_size, image_size),
    )
