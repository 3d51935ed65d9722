"""YOLO-style grid detection: training, mAP@0.5 on decoded, NMS-filtered detections."""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from sweeplab.analysis import Detections, assign_anchors, mean_average_precision
from sweeplab.config import Schema
from sweeplab.config.train import TrainConfig
from sweeplab.data import DetectionSet
from sweeplab.models import GridDetector, decode_grid
from sweeplab.training._augment import Augmenter, AugmentSpec
from sweeplab.training._device import resolve_device
from sweeplab.training._tasks._loop import OnEpoch, TaskResult, _batches, _loop, _outputs, _sampler
from sweeplab.training._tasks._losses import yolo_loss
from sweeplab.training._tasks._moves import augment_boxes

__all__ = ["DetectionArgs", "detect", "detection_map", "padded_boxes", "train_detector"]


class DetectionArgs(Schema):
    """Loss weights and decoding settings of the grid detector (searchable by name)."""

    lambda_coord: float = Field(default=5.0, ge=0.0, description="Weight of the box terms.")
    lambda_noobj: float = Field(
        default=0.5, ge=0.0, description="Weight of object-ness where there is no object."
    )
    score_threshold: float = Field(
        default=0.05, ge=0.0, le=1.0, description="Detections scoring lower are dropped."
    )
    nms_iou: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="IoU at which NMS suppresses a box of the same class.",
    )


def _grid_targets(model: GridDetector, data: DetectionSet) -> torch.Tensor:
    """``(N, S, S, A, 5 + K)`` targets of every image."""
    return _targets_of(model, data.boxes, data.classes)


def _targets_of(model: GridDetector, boxes: object, classes: object) -> torch.Tensor:
    """``(N, S, S, A, 5 + K)`` targets of the images' boxes ``(M_i, 4)`` and classes."""
    anchors = model.anchors.cpu().numpy()
    return torch.from_numpy(
        np.stack(
            [
                assign_anchors(
                    b, c, grid=model.grid, anchors=anchors, num_classes=model.num_classes
                ).targets
                for b, c in zip(boxes, classes, strict=True)  # type: ignore[call-overload]
            ]
        )
    )


def padded_boxes(data: DetectionSet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every image's boxes ``(N, M, 4)``, classes ``(N, M)`` and which are objects
    ``(N, M)``, padded to the most objects of an image (``M``)."""
    m = max([1, *(len(b) for b in data.boxes)])
    boxes, classes = torch.zeros(len(data), m, 4), torch.zeros(len(data), m, dtype=torch.long)
    valid = torch.zeros(len(data), m, dtype=torch.bool)
    for i, (b, c) in enumerate(zip(data.boxes, data.classes, strict=True)):
        boxes[i, : len(b)] = torch.from_numpy(np.asarray(b, dtype=np.float32))
        classes[i, : len(c)] = torch.from_numpy(np.asarray(c, dtype=np.int64))
        valid[i, : len(b)] = True
    return boxes, classes, valid


def detect(
    model: GridDetector, data: DetectionSet, *, args: DetectionArgs | None = None
) -> tuple[list[Detections], list[Detections]]:
    """The detector's decoded, NMS-filtered detections on ``data`` and the ground truth."""
    args = args or DetectionArgs()
    device = next(model.parameters()).device
    preds = decode_grid(
        _outputs(model, data.images.to(device)),
        model.anchors,
        score_threshold=args.score_threshold,
        iou_threshold=args.nms_iou,
    )
    truth = [Detections.of(b, c) for b, c in zip(data.boxes, data.classes, strict=True)]
    return preds, truth


def detection_map(
    model: GridDetector, data: DetectionSet, *, args: DetectionArgs | None = None
) -> float:
    """mAP at IoU 0.5 of the detector's decoded, NMS-filtered detections on ``data``."""
    preds, truth = detect(model, data, args=args)
    return mean_average_precision(
        preds, truth, num_classes=model.num_classes, iou_threshold=0.5
    ).map


def train_detector(
    model: GridDetector,
    train: DetectionSet,
    cfg: TrainConfig,
    *,
    dev: DetectionSet | None = None,
    args: DetectionArgs | None = None,
    on_epoch: OnEpoch = None,
) -> TaskResult:
    """YOLO training; ``train_error`` / ``dev_error`` are 1 − mAP@0.5, ``dev_map`` the mAP."""
    args = args or DetectionArgs()
    device = resolve_device(cfg.device)
    model.to(device)
    x = train.images.to(device)
    targets = _grid_targets(model, train).to(device)
    dev_targets = _grid_targets(model, dev).to(device) if dev is not None else None
    bs, steps = _batches(len(x), cfg.batch_size)
    sample = _sampler(len(x), bs, device)
    aug = Augmenter(AugmentSpec.from_config(cfg), seed=cfg.seed)
    all_boxes, all_classes, all_valid = padded_boxes(train)

    def loss(raw: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return yolo_loss(
            raw, t, model.anchors, lambda_coord=args.lambda_coord, lambda_noobj=args.lambda_noobj
        )

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        d = aug.draw(x[i])
        if d is None:
            return loss(model(x[i]), targets[i])
        j = i.cpu()  # the moved boxes are assigned to anchors on the CPU
        xb, bb, keep = augment_boxes(x[i], all_boxes[j], all_valid[j], d)
        bb, cb, keep = bb.cpu().double().numpy(), all_classes[j].numpy(), keep.cpu().numpy()
        moved = _targets_of(
            model,
            [b[k] for b, k in zip(bb, keep, strict=True)],
            [c[k] for c, k in zip(cb, keep, strict=True)],
        )
        return loss(model(xb), moved.to(device))

    def evaluate() -> dict[str, float]:
        out = {"train_error": 1.0 - detection_map(model, train, args=args)}
        if dev is not None:
            dev_map = detection_map(model, dev, args=args)
            raw = _outputs(model, dev.images.to(device))
            out.update(
                dev_error=1.0 - dev_map, dev_map=dev_map, dev_loss=float(loss(raw, dev_targets))
            )
        return out

    return _loop(
        model,
        cfg,
        task="detection",
        n_steps=steps,
        step_loss=step,
        evaluate=evaluate,
        on_epoch=on_epoch,
        batch=bs,
    )
