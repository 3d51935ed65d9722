"""Localization, landmarks and the YOLO grid detector: losses, decoding, and that they learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sweeplab.analysis._boxes import assign_anchors, box_iou
from sweeplab.data._generated import (
    SHAPE_CLASSES,
    identities,
    shapes_detection,
    shapes_landmarks,
)
from sweeplab.models._detection import (
    DetectorArgs,
    GridDetector,
    Localizer,
    LocalizerArgs,
    decode_grid,
    decode_landmarks,
    decode_localization,
)
from sweeplab.models._shapes import ShapeError
from sweeplab.training import TrainConfig, seed_everything
from sweeplab.training._tasks import (
    detection_map,
    localization_loss,
    train_detector,
    train_landmarks,
    train_localizer,
    yolo_loss,
)

# ------------------------------------------------------------------------ generated data


def test_shapes_are_seeded_and_boxes_fit_the_pixels() -> None:
    a, b = shapes_detection(20, seed=5), shapes_detection(20, seed=5)
    assert torch.equal(a.images, b.images)
    assert all(np.array_equal(x, y) for x, y in zip(a.boxes, b.boxes, strict=True))
    assert not torch.equal(a.images, shapes_detection(20, seed=6).images)
    assert a.images.shape == (20, 3, 32, 32) and 0 <= a.images.min() <= a.images.max() <= 1
    for boxes, classes in zip(a.boxes, a.classes, strict=True):
        assert 1 <= len(boxes) <= 3 and len(classes) == len(boxes)
        assert set(classes.tolist()) <= set(range(len(SHAPE_CLASSES)))
        corners = np.column_stack(
            [boxes[:, 0] - boxes[:, 3] / 2, boxes[:, 1] - boxes[:, 2] / 2]
            + [boxes[:, 0] + boxes[:, 3] / 2, boxes[:, 1] + boxes[:, 2] / 2]
        )
        assert (corners >= -1e-9).all() and (corners <= 1 + 1e-9).all()  # inside the image
        if len(boxes) > 1:
            overlap = box_iou(boxes, boxes)[~np.eye(len(boxes), dtype=bool)]
            assert overlap.max() <= 0.1 + 1e-9


def test_a_rectangle_fills_its_box() -> None:
    # One object, no noise: the bright pixels are exactly the shape, inside the box.
    d = shapes_detection(30, min_objects=1, max_objects=1, noise=0.0, seed=0)
    for img, box, cls in zip(d.images, d.boxes, d.classes, strict=True):
        if SHAPE_CLASSES[cls[0]] != "rectangle":
            continue
        fg = img.mean(0) >= 0.55 - 1e-6  # shape colours are >= 0.55, backgrounds <= 0.35
        rows, cols = np.nonzero(fg.numpy())
        bx, by, bh, bw = box[0]
        assert ((cols + 0.5) / 32).min() >= bx - bw / 2 - 1e-9
        assert ((rows + 0.5) / 32).max() <= by + bh / 2 + 1e-9
        assert abs(fg.float().mean() - bh * bw) < 0.1


def test_no_object_images_for_localization() -> None:
    d = shapes_detection(50, min_objects=0, max_objects=1, seed=0)
    counts = {len(b) for b in d.boxes}
    assert counts == {0, 1}


def test_generators_reject_meaningless_settings() -> None:
    with pytest.raises(ValueError, match="min_objects <= max_objects"):
        shapes_detection(5, min_objects=3, max_objects=1)
    with pytest.raises(ValueError, match="min_size <= max_size"):
        shapes_detection(5, min_size=0.6, max_size=0.3)
    with pytest.raises(ValueError, match="multiple of pattern_size"):
        identities(3, 2, image_size=18)
    with pytest.raises(ValueError, match="num_identities >= 1"):
        identities(0, 2)


def test_landmarks_are_the_triangle_vertices_in_a_fixed_order() -> None:
    d = shapes_landmarks(20, noise=0.0, seed=0)
    assert torch.equal(d.images, shapes_landmarks(20, noise=0.0, seed=0).images)
    pts = d.points  # (N, 3, 2): apex, lower-left, lower-right as (l_x, l_y)
    assert pts.shape == (20, 3, 2) and ((pts > 0) & (pts < 1)).all()
    assert (pts[:, 0, 1] < pts[:, 1:, 1].min(1).values).all()  # the apex is highest
    assert (pts[:, 1, 0] < pts[:, 2, 0]).all()  # lower-left is left of lower-right
    # The centroid's pixel belongs to the (bright) triangle.
    centre = (pts.mean(1) * 32).long()
    for img, (cx, cy) in zip(d.images, centre, strict=True):
        assert img[:, cy, cx].mean() >= 0.55 - 1e-6


# ----------------------------------------------------------------------------- losses


def test_localization_loss_uses_only_p_c_when_there_is_no_object() -> None:
    torch.manual_seed(0)
    raw = torch.randn(2, 5 + 3, requires_grad=True)
    present = torch.tensor([0.0, 1.0])
    boxes = torch.tensor([[0.9, 0.9, 0.9, 0.9], [0.5, 0.5, 0.2, 0.3]])
    loss = localization_loss(raw, present, boxes, torch.tensor([2, 1]))
    loss.backward()
    assert raw.grad[0, 1:].abs().sum() == 0  # box and classes: "don't care"
    assert raw.grad[0, 0] != 0
    assert (raw.grad[1] != 0).all()  # with an object every term counts
    # The absent example's box and class targets do not change the loss.
    other = localization_loss(
        raw, present, torch.tensor([[0.1] * 4, [0.5, 0.5, 0.2, 0.3]]), torch.tensor([0, 1])
    )
    assert other.item() == pytest.approx(loss.item())


def test_localization_loss_is_smallest_at_the_right_answer() -> None:
    box = torch.tensor([[0.4, 0.6, 0.3, 0.2]])
    logit = torch.log(box / (1 - box))  # σ(logit) = box
    perfect = torch.cat([torch.tensor([[20.0]]), logit, torch.tensor([[-20.0, 20.0, -20.0]])], 1)
    worse = perfect.clone()
    worse[0, 1] += 1.0
    args = (torch.tensor([1.0]), box, torch.tensor([1]))
    assert localization_loss(perfect, *args).item() < 1e-6
    assert localization_loss(worse, *args).item() > 0.01


def _perfect_grid_output(targets: np.ndarray, anchors: np.ndarray) -> torch.Tensor:
    """Raw outputs that decode to exactly the targets."""
    t = torch.from_numpy(targets)
    s = t.shape[0]
    raw = torch.full_like(t, -20.0)
    obj = t[..., 0] > 0
    raw[..., 0] = torch.where(obj, 20.0, -20.0)
    xy = t[..., 1:3].clamp(1e-4, 1 - 1e-4)
    raw[..., 1:3] = torch.log(xy / (1 - xy))
    anc = torch.from_numpy(anchors).float() * s
    raw[..., 3:5] = torch.log(t[..., 3:5].clamp_min(1e-6) / anc)
    raw[..., 5:] = torch.where(t[..., 5:] > 0, 20.0, -20.0)
    return raw[None]


ANCHORS = np.array([[0.4, 0.2], [0.2, 0.4]], dtype=np.float32)
BOXES = np.array([[0.5, 0.5, 0.5, 0.2], [0.45, 0.55, 0.2, 0.5], [0.15, 0.8, 0.2, 0.2]])
CLASSES = [0, 1, 2]


def test_yolo_loss_is_near_zero_for_outputs_that_match_the_targets() -> None:
    a = assign_anchors(BOXES, CLASSES, grid=3, anchors=ANCHORS, num_classes=3)
    raw = _perfect_grid_output(a.targets, ANCHORS)
    t = torch.from_numpy(a.targets)[None]
    assert yolo_loss(raw, t, torch.from_numpy(ANCHORS)).item() < 1e-4
    bad = raw.clone()
    bad[0, 1, 1, 0, 3] += 0.5  # wrong height of one object
    assert yolo_loss(bad, t, torch.from_numpy(ANCHORS)).item() == pytest.approx(
        5.0 * 0.25, rel=1e-3
    )


def test_decode_grid_recovers_boxes_and_suppresses_duplicates() -> None:
    a = assign_anchors(BOXES, CLASSES, grid=3, anchors=ANCHORS, num_classes=3)
    raw = _perfect_grid_output(a.targets, ANCHORS)
    (det,) = decode_grid(raw, torch.from_numpy(ANCHORS), score_threshold=0.5)
    order = np.argsort(det.classes)
    np.testing.assert_allclose(det.boxes[order], BOXES, atol=1e-3)
    assert det.classes[order].tolist() == CLASSES
    # A second, slightly worse copy of the first object in a neighbour cell: removed by NMS.
    # The wide car (class 1, anchor 1, centre x = 0.45) seen again from cell (1, 0) at
    # x ≈ 0.33: IoU ≈ 0.6 with the original.
    raw2 = raw.clone()
    raw2[0, 1, 0, 1] = raw[0, 1, 1, 1]
    raw2[0, 1, 0, 1, 0] = 3.0  # p_c ≈ 0.95, below the original's ≈ 1
    raw2[0, 1, 0, 1, 1] = 4.0  # σ(4) ≈ 0.98: the right edge of cell (1, 0)
    (kept,) = decode_grid(raw2, torch.from_numpy(ANCHORS), score_threshold=0.5)
    np.testing.assert_allclose(kept.boxes[np.argsort(kept.classes)], BOXES, atol=1e-3)
    (loose,) = decode_grid(raw2, torch.from_numpy(ANCHORS), score_threshold=0.5, iou_threshold=0.7)
    assert len(loose.boxes) == 4  # a looser NMS keeps the duplicate


# ----------------------------------------------------------------------------- models


def test_grid_detector_output_shape_and_checks() -> None:
    torch.manual_seed(0)
    net = GridDetector(DetectorArgs(filters=4, stages=3), input_shape=(3, 32, 32), num_classes=3)
    assert net.grid == 4 and net.num_anchors == 3
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 4, 4, 3, 8)  # (B, S, S, A, 5 + K)
    with pytest.raises(ShapeError, match="multiple of 2\\^stages = 8"):
        GridDetector(DetectorArgs(stages=3), input_shape=(3, 20, 20), num_classes=3)
    with pytest.raises(ValueError, match="h > 0 and w > 0"):
        DetectorArgs(anchors=((0.2, 0.0),))


def test_localizer_heads() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16)
    box_net = Localizer(LocalizerArgs(filters=4, stages=2), input_shape=(3, 16, 16), num_classes=3)
    p, boxes, probs = decode_localization(box_net(x))
    assert p.shape == (4,) and boxes.shape == (4, 4) and probs.shape == (4, 3)
    assert ((boxes > 0) & (boxes < 1)).all()
    lm_net = Localizer(LocalizerArgs(filters=4, stages=2), input_shape=(3, 16, 16), num_landmarks=5)
    p, pts = decode_landmarks(lm_net(x))
    assert pts.shape == (4, 5, 2)
    with pytest.raises(ShapeError, match="exactly one"):
        Localizer(LocalizerArgs(), input_shape=(3, 16, 16), num_classes=3, num_landmarks=2)


# ---------------------------------------------------------------------------- learning


def test_localizer_learns_presence_class_and_box() -> None:
    kw = {"image_size": 16, "min_objects": 0, "max_objects": 1, "min_size": 0.3, "max_size": 0.6}
    train, dev = shapes_detection(300, seed=0, **kw), shapes_detection(100, seed=1, **kw)
    seed_everything(0)
    net = Localizer(LocalizerArgs(filters=8, stages=2), input_shape=(3, 16, 16), num_classes=3)
    cfg = TrainConfig(epochs=8, batch_size=16, learning_rate=5e-3, device="cpu")
    result = train_localizer(net, train, cfg, dev=dev)
    # An error is a wrong presence, class or a box with IoU < 0.5: chance is far above 0.5.
    assert result.final["dev_error"] < 0.5, result.history


def test_landmark_head_learns_the_vertices() -> None:
    train, dev = (
        shapes_landmarks(300, image_size=16, seed=0),
        shapes_landmarks(100, image_size=16, seed=1),
    )
    seed_everything(0)
    net = Localizer(LocalizerArgs(filters=8, stages=2), input_shape=(3, 16, 16), num_landmarks=3)
    cfg = TrainConfig(epochs=8, batch_size=16, learning_rate=5e-3, device="cpu")
    result = train_landmarks(net, train, cfg, dev=dev)
    # Predicting each landmark's mean position misses by ~0.13 of the image on average.
    mean_guess = float((dev.points - train.points.mean(0)).norm(dim=-1).mean())
    assert result.final["dev_error"] < 0.6 * mean_guess, (mean_guess, result.history)


def test_grid_detector_learns_generated_shapes() -> None:
    kw = {"image_size": 16, "max_objects": 2, "min_size": 0.3, "max_size": 0.6}
    train, dev = shapes_detection(240, seed=0, **kw), shapes_detection(80, seed=1, **kw)
    seed_everything(0)
    net = GridDetector(DetectorArgs(filters=8, stages=2), input_shape=(3, 16, 16), num_classes=3)
    before = detection_map(net, dev)
    seen: list[int] = []
    cfg = TrainConfig(epochs=8, batch_size=16, learning_rate=1e-2, device="cpu", seed=0)
    result = train_detector(net, train, cfg, dev=dev, on_epoch=lambda e: seen.append(e.epoch))
    assert seen == list(range(1, 9))
    final = result.final
    assert final["dev_error"] == pytest.approx(1 - final["dev_map"])
    # Untrained (and random) detections score an mAP@0.5 near 0.
    assert before < 0.1
    assert final["dev_map"] > 0.3, result.history
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]


def test_localization_outcomes_and_error_table_on_hand_made_answers() -> None:
    from sweeplab.analysis import (
        landmark_distance_table,
        localization_error_table,
        localization_outcomes,
    )

    box = np.array([0.5, 0.5, 0.4, 0.4])
    far = np.array([0.1, 0.1, 0.1, 0.1])  # IoU 0 with box
    said = np.array([True, False, True, True, True, False])
    pred_boxes = np.stack([box, box, box, far, box, box])
    pred_classes = np.array([0, 0, 2, 1, 0, 0])
    present = np.array([True, True, True, True, False, False])
    classes = np.array([0, 1, 1, 1, -1, -1])
    out, ious = localization_outcomes(
        said, pred_boxes, pred_classes, present, np.stack([box] * 6), classes
    )
    assert out.tolist() == [
        "correct", "missed", "wrong_class", "bad_box", "false_alarm", "correct"
    ]  # fmt: skip
    assert ious[:4].tolist() == [1.0, 1.0, 1.0, 0.0] and np.isnan(ious[4:]).all()
    t = localization_error_table(out, present, classes, ("rectangle", "ellipse")).set_index("class")
    assert t.loc["ellipse", ["images", "missed", "wrong_class", "bad_box", "errors"]].tolist() == [
        3, 1, 1, 1, 3
    ]  # fmt: skip
    assert t.loc["empty", "false_alarm"] == 1 and t.loc["rectangle", "errors"] == 0
    assert t["pct_of_errors"].sum() == pytest.approx(1.0)
    pred = np.zeros((2, 2, 2))
    truth = np.array([[[0.3, 0.4], [0.0, 0.1]], [[0.6, 0.8], [0.0, 0.3]]])
    lt = landmark_distance_table(pred, truth, ("a", "b"))
    assert lt["mean_distance"].tolist() == pytest.approx([0.75, 0.2])
    assert lt["name"].tolist() == ["a", "b"] and lt["ceiling"].tolist() == pytest.approx(
        [0.375, 0.1]
    )
