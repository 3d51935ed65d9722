"""IoU, non-max suppression, anchor assignment, mAP and mask IoU on hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweeplab.analysis._boxes import (
    Detections,
    assign_anchors,
    average_precision,
    box_iou,
    iou,
    mean_average_precision,
    mean_iou,
    non_max_suppression,
    to_corners,
)

# Boxes are (b_x, b_y, b_h, b_w): centre, height, width, relative to the image.


def test_corners_of_a_centre_box() -> None:
    np.testing.assert_allclose(to_corners([0.5, 0.4, 0.2, 0.6]), [[0.2, 0.3, 0.8, 0.5]])


def test_iou_identical_disjoint_nested_partial() -> None:
    a = [0.5, 0.5, 0.4, 0.4]
    assert iou(a, a) == pytest.approx(1.0)
    assert iou(a, [0.1, 0.1, 0.1, 0.1]) == 0.0  # disjoint
    assert iou(a, [0.5, 0.5, 0.2, 0.2]) == pytest.approx(0.04 / 0.16)  # nested: inner / outer
    # Partial: two 0.4×0.4 squares shifted by 0.2 along x overlap in 0.2×0.4 = 0.08;
    # union 0.16 + 0.16 − 0.08 = 0.24 -> 1/3 (intersection over union, not the reverse).
    assert iou(a, [0.7, 0.5, 0.4, 0.4]) == pytest.approx(1 / 3)
    # Touching edges: zero-area intersection.
    assert iou(a, [0.9, 0.5, 0.4, 0.4]) == 0.0


def test_box_iou_is_symmetric_and_bounded() -> None:
    rng = np.random.default_rng(0)
    a = np.column_stack([rng.uniform(0, 1, (20, 2)), rng.uniform(0.01, 0.5, (20, 2))])
    b = np.column_stack([rng.uniform(0, 1, (15, 2)), rng.uniform(0.01, 0.5, (15, 2))])
    m = box_iou(a, b)
    assert m.shape == (20, 15)
    assert (m >= 0).all() and (m <= 1).all()
    np.testing.assert_allclose(m, box_iou(b, a).T)
    np.testing.assert_allclose(np.diag(box_iou(a, a)), 1.0)


def test_box_iou_rejects_wrong_shapes_and_negative_sizes() -> None:
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        box_iou(np.zeros((2, 3)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="b_h >= 0"):
        box_iou([0.5, 0.5, -0.1, 0.2], [0.5, 0.5, 0.1, 0.1])


def test_nms_keeps_the_best_box_of_each_object() -> None:
    # Two objects; the course's picture: 0.9 and 0.8 survive, their overlapping twins do not.
    boxes = [
        [0.3, 0.3, 0.2, 0.2],  # object 1, p = 0.9
        [0.31, 0.3, 0.2, 0.2],  # object 1 again, p = 0.6
        [0.7, 0.7, 0.2, 0.2],  # object 2, p = 0.8 (IoU 0 with the 0.9 box: kept)
        [0.7, 0.72, 0.2, 0.2],  # object 2 again, p = 0.7
    ]
    kept = non_max_suppression(boxes, [0.9, 0.6, 0.8, 0.7], iou_threshold=0.5)
    assert kept.tolist() == [0, 2]


def test_nms_is_per_class_and_drops_low_scores() -> None:
    boxes = [[0.5, 0.5, 0.3, 0.3]] * 3
    kept = non_max_suppression(boxes, [0.9, 0.8, 0.1], [0, 1, 0], score_threshold=0.2)
    assert kept.tolist() == [0, 1]  # same place, different classes: both kept; 0.1 dropped
    assert non_max_suppression(np.zeros((0, 4)), []).tolist() == []


def test_nms_threshold_decides_between_overlapping_boxes() -> None:
    boxes = [[0.5, 0.5, 0.4, 0.4], [0.7, 0.5, 0.4, 0.4]]  # IoU 1/3
    assert non_max_suppression(boxes, [0.9, 0.8], iou_threshold=0.3).tolist() == [0]
    assert non_max_suppression(boxes, [0.9, 0.8], iou_threshold=0.4).tolist() == [0, 1]


ANCHORS = [[0.4, 0.2], [0.2, 0.4]]  # (h, w): portrait (pedestrian), landscape (car)


def test_object_goes_to_the_cell_of_its_centre_and_its_best_anchor() -> None:
    a = assign_anchors([[0.6, 0.2, 0.3, 0.15]], [1], grid=3, anchors=ANCHORS, num_classes=2)
    assert a.targets.shape == (3, 3, 2, 7)
    assert a.cells == ((0, 1, 0),)  # row of y = 0.2, column of x = 0.6, portrait anchor
    p_c, tx, ty, th, tw, *cls = a.targets[0, 1, 0]
    assert p_c == 1.0
    assert (tx, ty) == pytest.approx((0.6 * 3 - 1, 0.2 * 3 - 0))  # offset inside the cell
    assert (th, tw) == pytest.approx((0.9, 0.45))  # size in cell units
    assert cls == [0.0, 1.0]
    assert a.targets[..., 0].sum() == 1.0  # every other anchor of every cell: no object


def test_two_objects_in_one_cell_go_to_different_anchors() -> None:
    # A pedestrian (portrait) and a car (landscape) centred in the same middle cell.
    boxes = [[0.5, 0.5, 0.5, 0.2], [0.45, 0.55, 0.2, 0.5]]
    a = assign_anchors(boxes, [0, 1], grid=3, anchors=ANCHORS, num_classes=2)
    assert a.cells == ((1, 1, 0), (1, 1, 1))
    assert a.targets[1, 1, :, 0].tolist() == [1.0, 1.0]
    assert a.targets[1, 1, 0, 5:].tolist() == [1.0, 0.0]
    assert a.targets[1, 1, 1, 5:].tolist() == [0.0, 1.0]


def test_contested_anchor_goes_to_the_better_fit_and_the_other_takes_the_next() -> None:
    # Both portrait; the second fits the portrait anchor exactly, so it wins it.
    boxes = [[0.5, 0.5, 0.5, 0.2], [0.5, 0.5, 0.4, 0.2]]
    a = assign_anchors(boxes, [0, 0], grid=3, anchors=ANCHORS, num_classes=1)
    assert a.cells == ((1, 1, 1), (1, 1, 0))
    # A third object in the same cell finds no free anchor and is dropped, not overwritten.
    a3 = assign_anchors(
        boxes + [[0.5, 0.5, 0.3, 0.3]], [0, 0, 0], grid=3, anchors=ANCHORS, num_classes=1
    )
    assert a3.dropped == 1 and a3.targets[..., 0].sum() == 2


def test_centre_on_the_border_falls_in_the_last_cell() -> None:
    a = assign_anchors([[1.0, 1.0, 0.2, 0.2]], [0], grid=4, anchors=ANCHORS, num_classes=1)
    assert a.cells[0][:2] == (3, 3)


def test_average_precision_of_a_known_curve() -> None:
    # Detections: TP, FP, TP over 2 objects -> recall 0.5, 0.5, 1; precision 1, 0.5, 2/3.
    # Envelope: 1 up to recall 0.5, then 2/3: AP = 0.5 + 0.5 · 2/3.
    assert average_precision(
        np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])
    ) == pytest.approx(0.5 + 1 / 3)


def test_map_on_a_hand_made_case() -> None:
    gt = [
        Detections.of([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]], [0, 1]),
        Detections.of([[0.5, 0.5, 0.4, 0.4]], [0]),
    ]
    pred = [
        Detections.of(
            [
                [0.3, 0.3, 0.2, 0.2],  # class 0, 0.9: TP
                [0.3, 0.31, 0.2, 0.2],  # class 0, 0.8: duplicate of a matched object -> FP
                [0.7, 0.7, 0.2, 0.2],  # class 1, 0.7: TP
            ],
            [0, 0, 1],
            [0.9, 0.8, 0.7],
        ),
        Detections.of([[0.5, 0.5, 0.4, 0.4], [0.1, 0.1, 0.1, 0.1]], [0, 1], [0.6, 0.95]),
    ]
    # Class 0 in score order: TP (0.9), FP (0.8), TP (0.6) over 2 objects -> AP = 0.5 + 1/3.
    # Class 1: FP (0.95), TP (0.7) over 1 object -> precision 1/2 at recall 1 -> AP = 0.5.
    r = mean_average_precision(pred, gt, num_classes=2)
    assert r.per_class == pytest.approx((0.5 + 1 / 3, 0.5))
    assert r.map == pytest.approx((0.5 + 1 / 3 + 0.5) / 2)


def test_map_is_one_for_perfect_detections_and_zero_for_wrong_class() -> None:
    gt = [Detections.of([[0.3, 0.3, 0.2, 0.2]], [0]), Detections.of([[0.6, 0.6, 0.3, 0.2]], [1])]
    perfect = [Detections.of(g.boxes, g.classes, [0.9]) for g in gt]
    assert mean_average_precision(perfect, gt, num_classes=3).map == pytest.approx(1.0)
    assert math.isnan(mean_average_precision(perfect, gt, num_classes=3).per_class[2])
    wrong = [Detections.of(g.boxes, 1 - g.classes, [0.9]) for g in gt]
    assert mean_average_precision(wrong, gt, num_classes=2).map == 0.0
    # A box that misses (IoU < 0.5) counts as a false positive at 0.5, a hit at 0.1.
    shifted = [Detections.of([[0.4, 0.3, 0.2, 0.2]], [0], [0.9]), perfect[1]]
    assert mean_average_precision(shifted, gt, num_classes=2).per_class[0] == 0.0
    assert mean_average_precision(shifted, gt, num_classes=2, iou_threshold=0.1).per_class[0] == 1.0


def test_mean_iou_of_masks() -> None:
    target = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 0, 0, 1], [0, 0, 1, 1]])
    m, per = mean_iou(pred, target, num_classes=3)
    # class 0: |{4}| ∩ / |{5}| ∪ = 4/5; class 1: 3/4; class 2 absent from both: NaN, left out.
    np.testing.assert_allclose(per[:2], [4 / 5, 3 / 4])
    assert math.isnan(per[2])
    assert m == pytest.approx((4 / 5 + 3 / 4) / 2)
    assert mean_iou(target, target, num_classes=2)[0] == 1.0
