"""Sliding-window detection: train a window classifier on crops, detect in one conv pass.

The classifier (``window_classifier``: fully connected layers as convolutions) learns
``K + 1`` classes on ``w × w`` crops cut from the training scenes: a crop centred on each
object (and ``jitter`` crops shifted by a few pixels) labelled with its class, and
background crops (IoU < ``negative_iou`` with every object) labelled ``K`` ("no object").
Detection runs the same weights over a whole image once (:meth:`WindowClassifier.score_map`):
map cell ``(r, c)`` is the window at pixel ``(stride·r, stride·c)``; a cell whose best object
class scores ``>= score_threshold`` (softmax) becomes a ``w × w`` box of that class, and
per-class non-max suppression keeps one box per object.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

from sweeplab.analysis import Detections, box_iou, mean_average_precision, non_max_suppression
from sweeplab.config import Schema
from sweeplab.config.train import TrainConfig
from sweeplab.data import DetectionSet
from sweeplab.models import WindowClassifier
from sweeplab.training._device import resolve_device
from sweeplab.training._tasks._loop import (
    _EVAL_BATCH,
    OnEpoch,
    TaskResult,
    _batches,
    _loop,
    _outputs,
    _sampler,
)

__all__ = [
    "SlidingWindowArgs",
    "WindowCrops",
    "train_window_detector",
    "window_crops",
    "window_detect",
    "window_detections",
]


class SlidingWindowArgs(Schema):
    """Crops to train on and how the classifier's map becomes boxes (searchable by name)."""

    window: int = Field(
        default=14,
        ge=6,
        description="Side of the square window in pixels (even): the classifier's input and "
        "every detected box.",
    )
    jitter: int = Field(
        default=2,
        ge=0,
        description="Extra crops per object, each shifted by up to the map's stride (2 px) "
        "in x and y: the detection windows sit on that grid, not on object centres.",
    )
    negatives_per_image: int = Field(
        default=4, ge=0, description='Background ("no object") crops cut from each image.'
    )
    negative_iou: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="A background crop's IoU with every object is below this.",
    )
    score_threshold: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Map cells whose best object class scores lower (softmax) give no box.",
    )
    nms_iou: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="IoU at which NMS suppresses a box of the same class.",
    )


class WindowCrops:
    """``images`` ``(M, C, w, w)`` and ``labels`` ``(M,)``: class k, or K for no object."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)


def _window_boxes(
    tops: np.ndarray, lefts: np.ndarray, w: int, h_img: int, w_img: int
) -> np.ndarray:
    """``(b_x, b_y, b_h, b_w)`` of ``w × w`` windows with these upper-left pixels."""
    return np.stack(
        [(lefts + w / 2) / w_img, (tops + w / 2) / h_img, np.full(len(tops), w / h_img),
         np.full(len(tops), w / w_img)],
        axis=1,
    )  # fmt: skip


def window_crops(data: DetectionSet, args: SlidingWindowArgs, *, seed: int = 0) -> WindowCrops:
    """The training crops of ``data`` (positives, jittered positives, background)."""
    w, k = args.window, len(data.class_names)
    _, h_img, w_img = data.images.shape[1:]
    if w > min(h_img, w_img):
        raise ValueError(f"window {w} is larger than the {h_img}×{w_img} images")
    rng = np.random.default_rng(seed)
    crops: list[torch.Tensor] = []
    labels: list[int] = []
    for image, boxes, classes in zip(data.images, data.boxes, data.classes, strict=True):
        for (bx, by, _, _), cls in zip(boxes, classes, strict=True):
            top, left = round(by * h_img - w / 2), round(bx * w_img - w / 2)
            shifts = [(0, 0), *rng.integers(-2, 3, size=(args.jitter, 2)).tolist()]
            for dy, dx in shifts:
                t = int(np.clip(top + dy, 0, h_img - w))
                le = int(np.clip(left + dx, 0, w_img - w))
                crops.append(image[:, t : t + w, le : le + w])
                labels.append(int(cls))
        if args.negatives_per_image:
            tops = rng.integers(0, h_img - w + 1, size=20 * args.negatives_per_image)
            lefts = rng.integers(0, w_img - w + 1, size=len(tops))
            cand = _window_boxes(tops, lefts, w, h_img, w_img)
            ok = np.ones(len(cand), dtype=bool)
            if len(boxes):
                ok = box_iou(cand, boxes).max(axis=1) < args.negative_iou
            for i in np.flatnonzero(ok)[: args.negatives_per_image]:
                crops.append(image[:, tops[i] : tops[i] + w, lefts[i] : lefts[i] + w])
                labels.append(k)
    if not crops:
        raise ValueError("no training crops: the images hold no objects and no background")
    return WindowCrops(torch.stack(crops), torch.tensor(labels, dtype=torch.long))


def window_detections(
    score_map: torch.Tensor,
    *,
    window: int,
    stride: int,
    image_hw: tuple[int, int],
    score_threshold: float,
    nms_iou: float,
) -> list[Detections]:
    """Boxes of a ``(B, K + 1, R, C)`` map of window logits (class K: no object), after NMS."""
    probs = torch.softmax(score_map.float(), dim=1)[:, :-1]  # object classes only
    scores, classes = probs.max(dim=1)  # (B, R, C)
    out = []
    for s, c in zip(scores.cpu().numpy(), classes.cpu().numpy(), strict=True):
        rows, cols = np.nonzero(s >= score_threshold)
        boxes = _window_boxes(rows * stride, cols * stride, window, *image_hw)
        keep = non_max_suppression(boxes, s[rows, cols], c[rows, cols], iou_threshold=nms_iou)
        out.append(Detections.of(boxes[keep], c[rows, cols][keep], s[rows, cols][keep]))
    return out


@torch.no_grad()
def window_detect(
    model: WindowClassifier, data: DetectionSet, *, args: SlidingWindowArgs | None = None
) -> tuple[list[Detections], list[Detections]]:
    """Detections from one convolutional pass per image batch, and the ground truth."""
    args = args or SlidingWindowArgs()
    model.eval()
    device = next(model.parameters()).device
    maps = [
        model.score_map(data.images[i : i + _EVAL_BATCH].to(device))
        for i in range(0, len(data), _EVAL_BATCH)
    ]
    preds = window_detections(
        torch.cat(maps),
        window=model.window,
        stride=model.stride,
        image_hw=tuple(data.images.shape[2:]),
        score_threshold=args.score_threshold,
        nms_iou=args.nms_iou,
    )
    truth = [Detections.of(b, c) for b, c in zip(data.boxes, data.classes, strict=True)]
    return preds, truth


def _map(model: WindowClassifier, data: DetectionSet, args: SlidingWindowArgs) -> float:
    preds, truth = window_detect(model, data, args=args)
    k = len(data.class_names)
    return mean_average_precision(preds, truth, num_classes=k, iou_threshold=0.5).map


def train_window_detector(
    model: WindowClassifier,
    train: DetectionSet,
    cfg: TrainConfig,
    *,
    dev: DetectionSet | None = None,
    args: SlidingWindowArgs | None = None,
    on_epoch: OnEpoch = None,
) -> TaskResult:
    """Softmax training on crops; ``train_error`` / ``dev_error`` are 1 − mAP@0.5 of the
    sliding-window detections on the whole images, ``dev_window_error`` the dev crops'
    classification error."""
    args = args or SlidingWindowArgs()
    device = resolve_device(cfg.device)
    model.to(device)
    crops = window_crops(train, args, seed=cfg.seed)
    x, y = crops.images.to(device), crops.labels.to(device)
    dev_crops = window_crops(dev, args, seed=cfg.seed + 1) if dev is not None else None
    bs, steps = _batches(len(x), cfg.batch_size)
    sample = _sampler(len(x), bs, device)
    loss = nn.CrossEntropyLoss()

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        return loss(model(x[i]), y[i])

    def evaluate() -> dict[str, float]:
        out = {"train_error": 1.0 - _map(model, train, args)}
        if dev is not None and dev_crops is not None:
            dev_map = _map(model, dev, args)
            logits = _outputs(model, dev_crops.images.to(device))
            labels = dev_crops.labels.to(device)
            out.update(
                dev_error=1.0 - dev_map,
                dev_map=dev_map,
                dev_loss=float(loss(logits, labels)),
                dev_window_error=float((logits.argmax(1) != labels).float().mean()),
            )
        return out

    return _loop(
        model,
        cfg,
        task="sliding_window",
        n_steps=steps,
        step_loss=step,
        evaluate=evaluate,
        on_epoch=on_epoch,
        batch=bs,
    )
