"""Error analysis of the vision tasks: pure functions on predictions -> tables.

* :func:`detection_error_table` -- per shape class and size bucket: objects, found, missed,
  and per class the false positives and AP@0.5 (the course's "which mistakes are worth
  fixing": e.g. small triangles are missed most).
* :func:`segmentation_iou_table` -- per class: pixel IoU, true and predicted pixel counts.
* :func:`verification_confusion` -- same / different at the threshold τ.
* :func:`localization_outcomes` / :func:`localization_error_table` -- classification with
  localization (zero or one object per image): each image's outcome (correct, missed, wrong
  class, bad box, false alarm) and their counts by true class, ``empty`` for no object.
* :func:`landmark_distance_table` -- per landmark: mean and median distance to the truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sweeplab.analysis._boxes import Detections, box_iou, mean_average_precision, mean_iou

__all__ = [
    "LOCALIZATION_OUTCOMES",
    "SIZE_BUCKETS",
    "detection_error_table",
    "landmark_distance_table",
    "localization_error_table",
    "localization_outcomes",
    "segmentation_iou_table",
    "size_bucket",
    "verification_confusion",
]

# Object size = sqrt(h · w) relative to the image; edges between small | medium | large.
SIZE_BUCKETS = ("small", "medium", "large")


def size_bucket(boxes: np.ndarray, edges: tuple[float, float] = (0.3, 0.4)) -> np.ndarray:
    """``small`` / ``medium`` / ``large`` of every ``(b_x, b_y, b_h, b_w)`` box."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    size = np.sqrt(b[:, 2] * b[:, 3])
    return np.asarray(SIZE_BUCKETS, dtype=object)[np.searchsorted(edges, size, side="right")]


def _match(det: Detections, gt: Detections, iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy by score within each class: (ground-truth found?, detection correct?)."""
    found = np.zeros(len(gt.boxes), dtype=bool)
    correct = np.zeros(len(det.boxes), dtype=bool)
    if not len(det.boxes) or not len(gt.boxes):
        return found, correct
    iou = box_iou(det.boxes, gt.boxes)
    iou = np.where(det.classes[:, None] == gt.classes[None, :], iou, -1.0)
    scores = det.scores if det.scores is not None else np.ones(len(det.boxes))
    for i in np.argsort(-scores, kind="stable"):
        row = np.where(found, -1.0, iou[i])
        j = int(np.argmax(row))
        if row[j] >= iou_threshold:
            found[j], correct[i] = True, True
    return found, correct


def detection_error_table(
    predictions: Sequence[Detections],
    ground_truth: Sequence[Detections],
    class_names: Sequence[str],
    *,
    iou_threshold: float = 0.5,
    min_score: float = 0.5,
    size_edges: tuple[float, float] = (0.3, 0.4),
) -> pd.DataFrame:
    """One row per (class, size bucket) and one ``all`` row per class.

    Detections scoring below ``min_score`` are not counted as answers (the operating point of
    a deployed detector); ``ap`` is over every detection, as mAP is. Columns: ``objects``,
    ``found``, ``missed``, ``miss_rate``, ``false_positives`` (``all`` rows only: a false
    positive has no true size), ``ap``.
    """
    k = len(class_names)
    rows: dict[tuple[int, str], dict[str, float]] = {}
    fp = np.zeros(k, dtype=np.int64)
    for det, gt in zip(predictions, ground_truth, strict=True):
        keep = det.scores >= min_score if det.scores is not None else np.ones(len(det.boxes), bool)
        shown = Detections.of(
            det.boxes[keep], det.classes[keep], None if det.scores is None else det.scores[keep]
        )
        found, correct = _match(shown, gt, iou_threshold)
        np.add.at(fp, shown.classes[~correct], 1)
        for c, bucket, f in zip(gt.classes, size_bucket(gt.boxes, size_edges), found, strict=True):
            r = rows.setdefault((int(c), str(bucket)), {"objects": 0, "found": 0})
            r["objects"] += 1
            r["found"] += int(f)
    ap = mean_average_precision(
        predictions, ground_truth, num_classes=k, iou_threshold=iou_threshold
    ).per_class
    out = []
    for c, name in enumerate(class_names):
        total = {"objects": 0, "found": 0}
        for bucket in SIZE_BUCKETS:
            r = rows.get((c, bucket), {"objects": 0, "found": 0})
            total = {key: total[key] + r[key] for key in total}
            out.append({"class": name, "size": bucket, **r})
        out.append(
            {"class": name, "size": "all", **total, "false_positives": int(fp[c]), "ap": ap[c]}
        )
    table = pd.DataFrame(
        out, columns=["class", "size", "objects", "found", "false_positives", "ap"]
    )
    table["missed"] = table["objects"] - table["found"]
    table["miss_rate"] = table["missed"] / table["objects"].where(table["objects"] > 0)
    return table[
        ["class", "size", "objects", "found", "missed", "miss_rate", "false_positives", "ap"]
    ]


def segmentation_iou_table(
    pred: np.ndarray, target: np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """Per class: ``iou`` (NaN when absent from both), ``true_pixels``, ``predicted_pixels``."""
    p, t = np.asarray(pred).reshape(-1), np.asarray(target).reshape(-1)
    _, per = mean_iou(p, t, num_classes=len(class_names))
    return pd.DataFrame(
        {
            "class": list(class_names),
            "iou": per,
            "true_pixels": [int((t == k).sum()) for k in range(len(class_names))],
            "predicted_pixels": [int((p == k).sum()) for k in range(len(class_names))],
        }
    )


def verification_confusion(d: np.ndarray, same: np.ndarray, tau: float) -> dict[str, float]:
    """Counts and rates of "same when d <= τ" against the truth.

    ``false_accept_rate`` = different pairs called same / different pairs;
    ``false_reject_rate`` = same pairs called different / same pairs.
    """
    d, same = np.asarray(d, dtype=np.float64), np.asarray(same, dtype=bool)
    said = d <= tau
    tp, fp = int((said & same).sum()), int((said & ~same).sum())
    fn, tn = int((~said & same).sum()), int((~said & ~same).sum())
    return {
        "same_called_same": tp,
        "different_called_same": fp,
        "same_called_different": fn,
        "different_called_different": tn,
        "accuracy": (tp + tn) / max(len(d), 1),
        "false_accept_rate": fp / max(fp + tn, 1),
        "false_reject_rate": fn / max(fn + tp, 1),
    }


# The outcome of one image of classification with localization; all but "correct" are errors.
LOCALIZATION_OUTCOMES = ("correct", "missed", "wrong_class", "bad_box", "false_alarm")


def localization_outcomes(
    said: np.ndarray,
    pred_boxes: np.ndarray,
    pred_classes: np.ndarray,
    present: np.ndarray,
    boxes: np.ndarray,
    classes: np.ndarray,
    *,
    iou_threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Each image's outcome (one of :data:`LOCALIZATION_OUTCOMES`) and its box IoU.

    ``said`` / ``present``: the predicted / true object presence ``(N,)``; ``pred_boxes``,
    ``boxes`` ``(N, 4)`` as ``(b_x, b_y, b_h, b_w)``; ``pred_classes``, ``classes`` ``(N,)``
    (the truth's box and class are ignored where ``present`` is false). An object is
    ``missed`` when presence is said false, ``wrong_class`` before ``bad_box`` (IoU below
    ``iou_threshold``); an empty image called present is a ``false_alarm``.
    """
    said, present = np.asarray(said, dtype=bool), np.asarray(present, dtype=bool)
    pb = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 4)
    tb = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ious = np.array([box_iou(pb[i : i + 1], tb[i : i + 1])[0, 0] for i in range(len(tb))])
    right_class = np.asarray(pred_classes) == np.asarray(classes)
    out = np.full(len(said), "correct", dtype=object)
    out[present & said & ~right_class] = "wrong_class"
    out[present & said & right_class & (ious < iou_threshold)] = "bad_box"
    out[present & ~said] = "missed"
    out[~present & said] = "false_alarm"
    return out, np.where(present, ious, np.nan)


def localization_error_table(
    outcomes: np.ndarray, present: np.ndarray, classes: np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """One row per true class and one ``empty`` row (images without an object).

    Columns: ``images``, one count per outcome, ``errors``, ``error_rate`` (within the row)
    and ``pct_of_errors`` (the row's share of every error: which mistakes are worth fixing).
    """
    outcomes = np.asarray(outcomes, dtype=object)
    present, classes = np.asarray(present, dtype=bool), np.asarray(classes)
    groups = [(name, present & (classes == k)) for k, name in enumerate(class_names)]
    groups.append(("empty", ~present))
    total = int((outcomes != "correct").sum())
    rows = []
    for name, rows_of in groups:
        got = outcomes[rows_of]
        row: dict[str, object] = {"class": name, "images": int(rows_of.sum())}
        row.update({o: int((got == o).sum()) for o in LOCALIZATION_OUTCOMES})
        row["errors"] = row["images"] - row["correct"]
        rows.append(row)
    table = pd.DataFrame(rows, columns=["class", "images", *LOCALIZATION_OUTCOMES, "errors"])
    table["error_rate"] = table["errors"] / table["images"].where(table["images"] > 0)
    table["pct_of_errors"] = table["errors"] / total if total else 0.0
    return table


def landmark_distance_table(
    pred: np.ndarray, truth: np.ndarray, names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per landmark (``(N, L, 2)`` points relative to the image): ``mean_distance``,
    ``median_distance`` and ``ceiling`` = mean / L (how much the mean distance over every
    landmark, ``dev_error``, would fall if this landmark were perfect)."""
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(truth, np.float64), axis=-1)
    n_points = d.shape[1]
    names = list(names) if names is not None and len(names) == n_points else None
    mean = d.mean(0) if len(d) else np.full(n_points, np.nan)
    return pd.DataFrame(
        {
            "landmark": list(range(n_points)),
            "name": names or [str(i) for i in range(n_points)],
            "mean_distance": mean,
            "median_distance": np.median(d, 0) if len(d) else np.full(n_points, np.nan),
            "ceiling": mean / n_points,
        }
    )
