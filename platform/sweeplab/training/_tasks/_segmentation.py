"""Semantic segmentation: per-pixel cross-entropy, mean IoU over classes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sweeplab.analysis import mean_iou
from sweeplab.config.train import TrainConfig
from sweeplab.data import SegmentationSet
from sweeplab.models import UNet
from sweeplab.training._augment import Augmenter, AugmentSpec
from sweeplab.training._device import resolve_device
from sweeplab.training._tasks._loop import OnEpoch, TaskResult, _batches, _loop, _outputs, _sampler
from sweeplab.training._tasks._moves import augment_masks

__all__ = ["predict_masks", "segmentation_iou", "train_segmenter"]


def predict_masks(model: UNet, data: SegmentationSet) -> np.ndarray:
    """The model's argmax label mask ``(N, H, W)`` of every image of ``data``."""
    device = next(model.parameters()).device
    return _outputs(model, data.images.to(device)).argmax(1).cpu().numpy()


def segmentation_iou(model: UNet, data: SegmentationSet) -> float:
    """Mean over classes of the pixel IoU of the model's argmax masks on ``data``."""
    return mean_iou(predict_masks(model, data), data.masks.numpy(), num_classes=data.num_classes)[0]


def train_segmenter(
    model: UNet,
    train: SegmentationSet,
    cfg: TrainConfig,
    *,
    dev: SegmentationSet | None = None,
    on_epoch: OnEpoch = None,
) -> TaskResult:
    """Per-pixel cross-entropy; ``train_error`` / ``dev_error`` are 1 − mean IoU."""
    device = resolve_device(cfg.device)
    model.to(device)
    x, y = train.images.to(device), train.masks.to(device)
    bs, steps = _batches(len(x), cfg.batch_size)
    sample = _sampler(len(x), bs, device)
    aug = Augmenter(AugmentSpec.from_config(cfg), seed=cfg.seed)

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        xb, yb = augment_masks(x[i], y[i], aug.draw(x[i]))
        return F.cross_entropy(model(xb), yb)  # (B, K, H, W) vs (B, H, W)

    def evaluate() -> dict[str, float]:
        out = {"train_error": 1.0 - segmentation_iou(model, train)}
        if dev is not None:
            miou = segmentation_iou(model, dev)
            logits = _outputs(model, dev.images.to(device))
            out.update(
                dev_error=1.0 - miou,
                dev_mean_iou=miou,
                dev_loss=float(F.cross_entropy(logits, dev.masks.to(device))),
            )
        return out

    return _loop(
        model,
        cfg,
        task="segmentation",
        n_steps=steps,
        step_loss=step,
        evaluate=evaluate,
        on_epoch=on_epoch,
        batch=bs,
    )
