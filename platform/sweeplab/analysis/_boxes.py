"""Boxes and masks: IoU, non-max suppression, anchor assignment, mAP, mean IoU of masks.

Boxes follow the course's convention: ``(b_x, b_y, b_h, b_w)``, the box's centre and its
height and width, all relative to the image, whose upper-left corner is (0, 0) and lower-right
corner (1, 1); ``b_x`` runs along the width (columns), ``b_y`` along the height (rows). Arrays
of boxes are ``(N, 4)`` NumPy arrays in that order.

Everything here is pure NumPy over numbers: nothing trains, logs or reads files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "AnchorAssignment",
    "Detections",
    "MAPResult",
    "assign_anchors",
    "average_precision",
    "box_iou",
    "iou",
    "mean_average_precision",
    "mean_iou",
    "non_max_suppression",
    "to_corners",
]


def _as_boxes(boxes: object, *, name: str) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(
            f"{name} must have shape (N, 4) as (b_x, b_y, b_h, b_w), but got {arr.shape}"
        )
    if (arr[:, 2:] < 0).any():
        raise ValueError(
            f"{name}: b_h >= 0 and b_w >= 0 must hold, but got {arr[arr[:, 2:].min(1) < 0][0]}"
        )
    return arr


def to_corners(boxes: object) -> np.ndarray:
    """``(b_x, b_y, b_h, b_w)`` -> ``(x1, y1, x2, y2)``: upper-left and lower-right corners."""
    b = _as_boxes(boxes, name="boxes")
    x, y, h, w = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    return np.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], axis=1)


def box_iou(a: object, b: object) -> np.ndarray:
    """Intersection over union of every pair: ``(N, 4)``, ``(M, 4)`` -> ``(N, M)`` in [0, 1].

    IoU = area(A ∩ B) / area(A ∪ B); 0 for disjoint boxes (or two empty ones), 1 for identical
    boxes of positive area.
    """
    ca, cb = to_corners(a), to_corners(b)  # (N, 4), (M, 4)
    x1 = np.maximum(ca[:, None, 0], cb[None, :, 0])
    y1 = np.maximum(ca[:, None, 1], cb[None, :, 1])
    x2 = np.minimum(ca[:, None, 2], cb[None, :, 2])
    y2 = np.minimum(ca[:, None, 3], cb[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)  # (N, M)
    area_a = (ca[:, 2] - ca[:, 0]) * (ca[:, 3] - ca[:, 1])
    area_b = (cb[:, 2] - cb[:, 0]) * (cb[:, 3] - cb[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two single boxes ``(b_x, b_y, b_h, b_w)``."""
    return float(box_iou(a, b)[0, 0])


def non_max_suppression(
    boxes: object,
    scores: object,
    classes: object | None = None,
    *,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
) -> np.ndarray:
    """Indices of the boxes kept, highest score first; suppression is per class.

    The course's algorithm: drop boxes with ``score < score_threshold``; then repeatedly take
    the remaining box with the highest score, keep it, and discard the remaining boxes of the
    same class whose IoU with it is ``>= iou_threshold`` (they are the same object). Boxes of
    different classes never suppress each other. Ties in score keep the lower index first.
    """
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(
            f"0 <= iou_threshold <= 1 must hold, but got iou_threshold={iou_threshold}"
        )
    b = _as_boxes(boxes, name="boxes")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    c = np.zeros(len(b), dtype=np.int64) if classes is None else np.asarray(classes).reshape(-1)
    if not len(b) == len(s) == len(c):
        raise ValueError(
            f"boxes, scores and classes must have the same length, but got {len(b)}, {len(s)}, {len(c)}"
        )
    order = [i for i in np.argsort(-s, kind="stable") if s[i] >= score_threshold]
    ious = box_iou(b, b)
    kept: list[int] = []
    alive = np.ones(len(b), dtype=bool)
    for i in order:
        if not alive[i]:
            continue
        kept.append(int(i))
        alive &= ~((c == c[i]) & (ious[i] >= iou_threshold))
    return np.asarray(kept, dtype=np.int64)


@dataclass(frozen=True)
class AnchorAssignment:
    """YOLO targets of one image: ``targets`` is ``(S, S, A, 5 + K)``.

    Per grid cell ``(row, col)`` and anchor ``a``: ``[p_c, t_x, t_y, t_h, t_w, c_1 … c_K]``,
    where ``t_x, t_y`` in [0, 1) are the centre's offset inside the cell and ``t_h, t_w`` the
    box size in cell units (greater than 1 when the box is larger than a cell), as in the
    course. ``cells[i] = (row, col, anchor)`` says where object ``i`` went, or ``None`` when
    every anchor of its cell was already taken (``dropped`` counts those).
    """

    targets: np.ndarray
    cells: tuple[tuple[int, int, int] | None, ...]

    @property
    def dropped(self) -> int:
        return sum(c is None for c in self.cells)


def _shape_iou(hw: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """IoU of boxes and anchors by shape only (both centred at the same point): (N, A)."""
    inter = np.minimum(hw[:, None, 0], anchors[None, :, 0]) * np.minimum(
        hw[:, None, 1], anchors[None, :, 1]
    )
    union = (hw[:, 0] * hw[:, 1])[:, None] + (anchors[:, 0] * anchors[:, 1])[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def assign_anchors(
    boxes: object,
    classes: Sequence[int],
    *,
    grid: int,
    anchors: object,
    num_classes: int,
) -> AnchorAssignment:
    """Assign each object to the cell holding its centre and to the anchor of highest IoU.

    ``anchors`` is ``(A, 2)``: each anchor's ``(h, w)`` relative to the image. The IoU between
    an object and an anchor compares shapes only (both centred at the object's centre). When
    two objects in one cell want the same anchor, the one with the higher IoU gets it and the
    other takes its next best free anchor (the course's car and pedestrian: one portrait, one
    landscape anchor); an object finding no free anchor is dropped (``cells[i] is None``).
    """
    if grid < 1:
        raise ValueError(f"grid >= 1 must hold, but got grid={grid}")
    b = _as_boxes(boxes, name="boxes")
    anc = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    cls = np.asarray(classes, dtype=np.int64).reshape(-1)
    if len(cls) != len(b):
        raise ValueError(
            f"boxes and classes must have the same length, but got {len(b)} and {len(cls)}"
        )
    if len(cls) and (cls.min() < 0 or cls.max() >= num_classes):
        raise ValueError(
            f"classes must lie in [0, {num_classes}), but got {sorted(set(cls.tolist()))}"
        )
    targets = np.zeros((grid, grid, len(anc), 5 + num_classes), dtype=np.float32)
    shape_iou = _shape_iou(b[:, 2:], anc)  # (N, A)
    # Clip so that a centre on the lower or right border (b = 1.0) falls in the last cell.
    cols = np.clip(np.floor(b[:, 0] * grid).astype(int), 0, grid - 1)
    rows = np.clip(np.floor(b[:, 1] * grid).astype(int), 0, grid - 1)
    cells: list[tuple[int, int, int] | None] = [None] * len(b)
    # Best-matching objects choose first, so a contested anchor goes to the better fit.
    for i in sorted(range(len(b)), key=lambda i: -shape_iou[i].max() if len(anc) else 0.0):
        r, c = rows[i], cols[i]
        for a in np.argsort(-shape_iou[i], kind="stable"):
            if targets[r, c, a, 0] == 0:
                targets[r, c, a, :5] = (
                    1.0,
                    b[i, 0] * grid - c,
                    b[i, 1] * grid - r,
                    b[i, 2] * grid,
                    b[i, 3] * grid,
                )
                targets[r, c, a, 5 + cls[i]] = 1.0
                cells[i] = (int(r), int(c), int(a))
                break
    return AnchorAssignment(targets=targets, cells=tuple(cells))


@dataclass(frozen=True)
class Detections:
    """Detections (or ground truth) of one image: boxes ``(N, 4)``, scores, classes."""

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray | None = None  # None for ground truth

    @classmethod
    def of(cls, boxes: object, classes: object, scores: object | None = None) -> Detections:
        b = _as_boxes(boxes, name="boxes")
        c = np.asarray(classes, dtype=np.int64).reshape(-1)
        s = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(c) != len(b) or (s is not None and len(s) != len(b)):
            raise ValueError("boxes, classes and scores must have the same length")
        return cls(boxes=b, classes=c, scores=s)


@dataclass(frozen=True)
class MAPResult:
    """Mean average precision; ``per_class[k]`` is AP of class k (NaN: no ground truth)."""

    map: float
    per_class: tuple[float, ...]
    iou_threshold: float


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision-recall curve with the precision envelope (VOC 2010+).

    ``recall`` and ``precision`` are the values after each detection, in score order. The
    envelope replaces each precision by the highest precision at any higher recall, and the
    area is summed over the points where recall changes (all-point interpolation).
    """
    r = np.concatenate([[0.0], np.asarray(recall, dtype=np.float64), [1.0]])
    p = np.concatenate([[0.0], np.asarray(precision, dtype=np.float64), [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # envelope: max precision to the right
    steps = np.nonzero(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def mean_average_precision(
    predictions: Sequence[Detections],
    ground_truth: Sequence[Detections],
    *,
    num_classes: int,
    iou_threshold: float = 0.5,
) -> MAPResult:
    """mAP at ``iou_threshold`` over images; AP per class, mean over classes with objects.

    Detections of a class are taken in decreasing score over all images; each is a true
    positive when its best-IoU ground-truth box of the same class in its image has IoU
    ``>= iou_threshold`` and has not already been matched, otherwise a false positive (so a
    duplicate detection of one object counts against precision). ``dev_error = 1 − map``.
    """
    if len(predictions) != len(ground_truth):
        raise ValueError(
            f"predictions and ground_truth must cover the same images, but got "
            f"{len(predictions)} and {len(ground_truth)}"
        )
    # IoU of every detection with every ground-truth box of its image, -1 across classes.
    overlaps = []
    for det, gt in zip(predictions, ground_truth, strict=True):
        o = (
            box_iou(det.boxes, gt.boxes)
            if len(det.boxes) and len(gt.boxes)
            else np.zeros((len(det.boxes), len(gt.boxes)))
        )
        overlaps.append(np.where(det.classes[:, None] == gt.classes[None, :], o, -1.0))
    aps: list[float] = []
    for k in range(num_classes):
        n_gt = sum(int((g.classes == k).sum()) for g in ground_truth)
        if n_gt == 0:
            aps.append(float("nan"))
            continue
        img_idx, det_idx, scores = [], [], []
        for img, det in enumerate(predictions):
            js = np.nonzero(det.classes == k)[0]
            img_idx.append(np.full(len(js), img))
            det_idx.append(js)
            scores.append(det.scores[js] if det.scores is not None else np.ones(len(js)))
        imgs, dets, score = (
            np.concatenate(a) if a else np.zeros(0) for a in (img_idx, det_idx, scores)
        )
        order = np.argsort(-score, kind="stable")  # ties keep image order
        matched = [np.zeros(len(g.boxes), dtype=bool) for g in ground_truth]
        tp = np.zeros(len(order))
        for t, e in enumerate(order):
            img, j = int(imgs[e]), int(dets[e])
            row = overlaps[img][j]
            if row.size == 0:
                continue
            best = int(np.argmax(row))
            if row[best] >= iou_threshold and not matched[img][best]:
                matched[img][best] = True
                tp[t] = 1.0
        cum_tp = np.cumsum(tp)
        recall = cum_tp / n_gt
        precision = cum_tp / np.arange(1, len(order) + 1)
        aps.append(average_precision(recall, precision) if len(order) else 0.0)
    valid = [a for a in aps if not np.isnan(a)]
    return MAPResult(
        map=float(np.mean(valid)) if valid else float("nan"),
        per_class=tuple(aps),
        iou_threshold=iou_threshold,
    )


def mean_iou(pred: object, target: object, *, num_classes: int) -> tuple[float, np.ndarray]:
    """Mean over classes of the pixel IoU |P ∩ T| / |P ∪ T| of label masks of any shape.

    Returns the mean and the per-class IoU; a class absent from both prediction and target
    has IoU NaN and is left out of the mean.
    """
    p = np.asarray(pred).reshape(-1)
    t = np.asarray(target).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same size, but got {p.size} and {t.size}")
    per = np.full(num_classes, np.nan)
    for k in range(num_classes):
        union = np.sum((p == k) | (t == k))
        if union:
            per[k] = np.sum((p == k) & (t == k)) / union
    return float(np.nanmean(per)) if np.isfinite(per).any() else float("nan"), per
