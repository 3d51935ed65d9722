"""Augmentation of the vision tasks moves the targets with the image: a mirror mirrors boxes,
masks and landmarks (and swaps the left/right landmarks), a crop's shift moves them (boxes
clipped, dropped when wholly outside), rotation moves masks and landmarks; box tasks refuse
rotation. Each check draws the targets' pixels and compares them with the augmented image."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sweeplab.data._generated import (
    TRIANGLE_LANDMARKS,
    _grid,
    _in_triangle,
    identities,
    shapes_detection,
    shapes_landmarks,
    shapes_segmentation,
)
from sweeplab.errors import UserError
from sweeplab.models import build_model, save_checkpoint
from sweeplab.tasks import load_project, prepare_context, run_trial
from sweeplab.training import TrainConfig, seed_everything
from sweeplab.training._augment import Augmenter, AugmentSpec
from sweeplab.training._tasks import (
    train_detector,
    train_landmarks,
    train_localizer,
    train_segmenter,
    train_siamese,
)
from sweeplab.training._tasks._detection import padded_boxes
from sweeplab.training._tasks._moves import (
    augment_boxes,
    augment_masks,
    augment_points,
    mirror_pairs,
)

SIZE = 16


def _box_pixels(box: torch.Tensor, size: int) -> np.ndarray:
    """``(H, W)`` the pixels whose centre lies inside the box ``(cx, cy, h, w)``."""
    x, y = _grid(size)
    cx, cy, h, w = box.tolist()
    return (np.abs(x - cx) < w / 2) & (np.abs(y - cy) < h / 2)


def _rectangles(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images with one filled rectangle on whole pixels (some at the border) and its box."""
    rng = np.random.default_rng(seed)
    images, boxes = torch.zeros(n, 3, SIZE, SIZE), torch.zeros(n, 4)
    for i in range(n):
        h, w = rng.integers(2, 7, size=2)
        r, c = rng.integers(0, SIZE - h + 1), rng.integers(0, SIZE - w + 1)
        images[i, :, r : r + h, c : c + w] = 1.0
        boxes[i] = torch.tensor([(c + w / 2) / SIZE, (r + h / 2) / SIZE, h / SIZE, w / SIZE])
    return images, boxes


def test_flipped_and_shifted_boxes_enclose_exactly_the_drawn_pixels() -> None:
    images, boxes = _rectangles(64, seed=0)
    aug = Augmenter(AugmentSpec(flip=True, crop=5), seed=0)
    d = aug.draw(images)
    x, moved, inside = augment_boxes(images, boxes[:, None], torch.ones(64, 1, dtype=bool), d)
    assert 10 < int(d.mirror.sum()) < 54  # both mirrored and unmirrored images
    dropped = 0
    for i in range(64):
        drawn = x[i, 0].numpy() > 0.5
        if not inside[i, 0]:  # the crop moved the whole rectangle out of the image
            assert not drawn.any()
            dropped += 1
            continue
        assert (_box_pixels(moved[i, 0], SIZE) == drawn).all(), i
    # the clipped boxes shrink to what is left of the rectangle
    assert (moved[inside][:, 2:] < boxes[inside[:, 0]][:, 2:] - 1e-6).any()
    assert dropped < 64


def test_detection_batches_move_every_object_of_a_scene() -> None:
    data = shapes_detection(24, image_size=SIZE, max_objects=3, noise=0.0, seed=1)
    boxes, _, valid = padded_boxes(data)
    d = Augmenter(AugmentSpec(flip=True, crop=3), seed=2).draw(data.images)
    x, moved, keep = augment_boxes(data.images, boxes, valid, d)
    checked = 0
    for i in range(len(data)):
        bright = x[i].amax(0).numpy() > 0.5  # objects are bright on a dark background
        covered = np.zeros_like(bright)
        for b in moved[i][keep[i]]:
            covered |= _box_pixels(b + torch.tensor([0, 0, 1e-3, 1e-3]), SIZE)  # <= edges
            checked += 1
        assert not (bright & ~covered).any(), i  # every drawn pixel is inside a moved box
    assert checked >= len(data)


def test_mirrored_landmarks_swap_left_and_right_and_follow_the_triangle() -> None:
    data = shapes_landmarks(32, image_size=24, noise=0.0, seed=0)
    pairs = mirror_pairs(data.point_names)
    assert data.point_names == TRIANGLE_LANDMARKS
    assert pairs.tolist() == [0, 2, 1]  # apex stays, lower_left <-> lower_right
    d = Augmenter(AugmentSpec(flip=True, crop=2), seed=3).draw(data.images)
    x, pts = augment_points(data.images, data.points, d, pairs=pairs)
    m = d.mirror
    assert 5 < int(m.sum()) < 27
    # the mirrored image's lower-left vertex is the original's lower-right one, mirrored
    shift = (2 - d.offset.flip(1)).float() / 24  # (dx, dy) relative
    want = torch.stack([1 - data.points[m][:, 2, 0], data.points[m][:, 2, 1]], 1) + shift[m]
    assert torch.allclose(pts[m][:, 1], want, atol=1e-6)
    # the generator's order holds after every augmentation: lower_left is left of lower_right
    assert (pts[:, 1, 0] < pts[:, 2, 0]).all()
    gx, gy = _grid(24)
    for i in range(len(x)):
        drawn = x[i, 0].numpy() > 0.45
        agree = (drawn == _in_triangle(pts[i].double().numpy(), gx, gy)).mean()
        assert agree > 0.98, (i, agree)


def test_rotated_landmarks_stay_on_the_rotated_triangle() -> None:
    data = shapes_landmarks(16, image_size=32, noise=0.0, seed=4)
    d = Augmenter(AugmentSpec(rotate=30.0), seed=5).draw(data.images)
    angles = torch.atan2(d.theta[:, 1, 0], d.theta[:, 0, 0]).abs()
    assert angles.max() > math.radians(15)
    x, pts = augment_points(data.images, data.points, d, pairs=mirror_pairs(data.point_names))
    gx, gy = _grid(32)
    for i in range(len(x)):
        if (pts[i] <= 0).any() or (pts[i] >= 1).any():
            continue  # a vertex rotated out of the image was clamped
        drawn = x[i, 0].numpy() > 0.45
        agree = (drawn == _in_triangle(pts[i].double().numpy(), gx, gy)).mean()
        assert agree > 0.97, (i, agree)


@pytest.mark.parametrize("spec", [AugmentSpec(flip=True, crop=3), AugmentSpec(rotate=25.0)])
def test_masks_move_with_the_image(spec: AugmentSpec) -> None:
    data = shapes_segmentation(16, image_size=SIZE, noise=0.0, seed=6)
    d = Augmenter(spec, seed=7).draw(data.images)
    x, masks = augment_masks(data.images, data.masks, d)
    assert masks.dtype == torch.long and set(masks.unique().tolist()) <= {0, 1, 2, 3}
    bright = x.amax(1) > 0.5
    agree = (bright == (masks > 0)).float().mean()
    # flip and shift are exact; bilinear and nearest resampling differ on some edge pixels
    assert agree == 1.0 if spec.rotate == 0 else agree > 0.95, float(agree)


def test_box_tasks_refuse_rotation_in_one_line() -> None:
    data = shapes_detection(4, image_size=32, seed=0)
    net = build_model("grid_detector", {"filters": 4}, input_shape=(3, 32, 32), num_outputs=3)
    with pytest.raises(UserError, match="cannot rotate") as info:
        train_detector(net, data, TrainConfig(epochs=1, device="cpu", augment_shear=5.0))
    assert info.value.key == "train.augment_shear" and "\n" not in str(info.value)


AUGMENT = {"augment_flip": True, "augment_crop": 2, "augment_color": 0.1}


def test_every_vision_loop_trains_on_augmented_batches() -> None:
    cfg = TrainConfig(epochs=1, batch_size=8, device="cpu", **AUGMENT)
    seed_everything(0)
    det = shapes_detection(12, image_size=32, seed=0)
    net = build_model("grid_detector", {"filters": 4}, input_shape=(3, 32, 32), num_outputs=3)
    runs = [train_detector(net, det, cfg)]
    loc = shapes_detection(12, image_size=SIZE, min_objects=0, max_objects=1, seed=0)
    net = build_model("localizer", {"filters": 4}, input_shape=(3, SIZE, SIZE), num_outputs=3)
    runs.append(train_localizer(net, loc, cfg))
    lm = shapes_landmarks(12, image_size=SIZE, seed=0)
    net = build_model(
        "landmark_regressor", {"filters": 4}, input_shape=(3, SIZE, SIZE), num_outputs=3
    )
    runs.append(train_landmarks(net, lm, cfg.model_copy(update={"augment_rotate": 10.0})))
    seg = shapes_segmentation(12, image_size=SIZE, seed=0)
    net = build_model(
        "unet", {"filters": 2, "depth": 1}, input_shape=(3, SIZE, SIZE), num_outputs=4
    )
    runs.append(train_segmenter(net, seg, cfg.model_copy(update={"augment_rotate": 10.0})))
    ids = identities(4, 4, image_size=SIZE)
    net = build_model("siamese_encoder", {"filters": 4}, input_shape=(1, SIZE, SIZE), num_outputs=8)
    runs.append(train_siamese(net, ids, cfg))
    for run in runs:
        assert math.isfinite(run.final["train_loss"])


@pytest.mark.parametrize(
    ("task", "source", "model", "head"),
    [
        ("segmentation", "shapes_segmentation", "{name: unet, filters: 2, depth: 1}", "head."),
        ("detection", "shapes_detection", "{name: grid_detector, filters: 4}", "out."),
    ],
)
def test_vision_task_starts_from_a_checkpoint_with_a_new_frozen_head(
    tmp_path, task: str, source: str, model: str, head: str
) -> None:
    """``init_from`` + ``transfer: freeze_backbone``: every weight but the output layer's is
    the checkpoint's after training; the output layer is fresh and trained."""
    project = tmp_path / "project.yaml"
    text = (
        f"name: {task}_transfer\n"
        f"data: {{source: 'generated:{source}', generate: {{n: 24, image_size: 32}}, "
        "splits: {train: 0.75, dev: 0.25}}\n"
        f"task: {task}\nmodel: {model}\n"
        "train: {epochs: 1, batch_size: 8, device: cpu, augment_flip: true, "
        "init_from: start.pt, transfer: freeze_backbone}\n"
    )
    project.write_text(text.replace("init_from: start.pt, transfer: freeze_backbone", ""))
    ctx, _, _ = prepare_context(load_project(project))
    seed_everything(123)  # not the trial's seed: the checkpoint differs from a fresh start
    first = build_model(
        ctx.model_name,
        dict(ctx.model_args),
        input_shape=tuple(ctx.task_data["train"].images.shape[1:]),
        num_outputs=4 if task == "segmentation" else 3,
    )
    save_checkpoint(first, tmp_path / "start.pt")
    project.write_text(text)
    ctx, _, _ = prepare_context(load_project(project))  # reads start.pt once per sweep
    result = run_trial(ctx, {}, keep_model=True)
    trained = dict(result.model.named_parameters())
    saved = dict(first.named_parameters())
    assert trained.keys() == saved.keys()
    for k, v in saved.items():
        if k.startswith(head):  # the new output layer: neither the checkpoint's nor frozen
            assert not torch.equal(trained[k].detach(), v.detach()), k
            assert trained[k].requires_grad
        else:
            torch.testing.assert_close(trained[k].detach(), v.detach(), rtol=0, atol=0)
            assert not trained[k].requires_grad, k
