"""Classification with localization and landmark regression (one object per image)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sweeplab.analysis import localization_outcomes
from sweeplab.config.train import TrainConfig
from sweeplab.data import DetectionSet, LandmarkSet
from sweeplab.models import decode_landmarks, decode_localization
from sweeplab.training._augment import Augmenter, AugmentSpec
from sweeplab.training._device import resolve_device
from sweeplab.training._tasks._loop import OnEpoch, TaskResult, _batches, _loop, _outputs, _sampler
from sweeplab.training._tasks._losses import landmark_loss, localization_loss
from sweeplab.training._tasks._moves import augment_boxes, augment_points, mirror_pairs

__all__ = [
    "localization_result",
    "localize",
    "predict_landmarks",
    "train_landmarks",
    "train_localizer",
]


def _single_object(data: DetectionSet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``present`` ``(N,)``, ``boxes`` ``(N, 4)``, ``classes`` ``(N,)`` of 0/1-object images."""
    if any(len(b) > 1 for b in data.boxes):
        raise ValueError("localization needs at most one object per image; use max_objects=1")
    present = torch.tensor([float(len(b)) for b in data.boxes])
    boxes = torch.tensor(
        np.stack([b[0] if len(b) else np.zeros(4) for b in data.boxes]), dtype=torch.float32
    )
    classes = torch.tensor([int(c[0]) if len(c) else 0 for c in data.classes])
    return present, boxes, classes


def localize(model: nn.Module, data: DetectionSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's answers on ``data``: presence said (``p_c >= 0.5``) ``(N,)``, boxes
    ``(N, 4)`` and classes ``(N,)`` (NumPy, on the CPU)."""
    device = next(model.parameters()).device
    p, boxes, probs = decode_localization(_outputs(model, data.images.to(device)).cpu())
    return (p >= 0.5).numpy(), boxes.numpy(), probs.argmax(1).numpy()


def localization_result(model: nn.Module, data: DetectionSet) -> tuple[np.ndarray, np.ndarray]:
    """Each image's outcome (``analysis.LOCALIZATION_OUTCOMES``) and box IoU (NaN if empty)."""
    present, boxes, classes = _single_object(data)
    return localization_outcomes(
        *localize(model, data), present.numpy() > 0.5, boxes.numpy(), classes.numpy()
    )


def _localization_error(model: nn.Module, data: DetectionSet, device: torch.device) -> float:
    """Share of images with the wrong presence, or the wrong class, or a box IoU < 0.5."""
    outcomes, _ = localization_result(model, data)
    return float((outcomes != "correct").mean())


def train_localizer(
    model: nn.Module,
    train: DetectionSet,
    cfg: TrainConfig,
    *,
    dev: DetectionSet | None = None,
    on_epoch: OnEpoch = None,
    lambda_box: float = 1.0,
) -> TaskResult:
    """Classification with localization on images with zero or one object; ``lambda_box``
    weighs the box term of :func:`localization_loss`."""
    device = resolve_device(cfg.device)
    model.to(device)
    x = train.images.to(device)
    present, boxes, classes = (t.to(device) for t in _single_object(train))
    bs, steps = _batches(len(x), cfg.batch_size)
    sample = _sampler(len(x), bs, device)
    aug = Augmenter(AugmentSpec.from_config(cfg), seed=cfg.seed)

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        xb, bb, inside = augment_boxes(x[i], boxes[i, None], present[i, None] > 0.5, aug.draw(x[i]))
        pb = inside[:, 0].to(present.dtype)  # a box cropped out: no object left
        return localization_loss(model(xb), pb, bb[:, 0], classes[i], lambda_box=lambda_box)

    def evaluate() -> dict[str, float]:
        out = {"train_error": _localization_error(model, train, device)}
        if dev is not None:
            out["dev_error"] = _localization_error(model, dev, device)
        return out

    return _loop(
        model,
        cfg,
        task="localization",
        n_steps=steps,
        step_loss=step,
        evaluate=evaluate,
        on_epoch=on_epoch,
        batch=bs,
    )


def predict_landmarks(model: nn.Module, data: LandmarkSet) -> torch.Tensor:
    """The predicted points ``(N, L, 2)`` as ``(l_x, l_y)`` relative to the image (CPU)."""
    device = next(model.parameters()).device
    return decode_landmarks(_outputs(model, data.images.to(device)).cpu())[1]


def _landmark_error(model: nn.Module, data: LandmarkSet, device: torch.device) -> float:
    """Mean Euclidean distance between predicted and true points, relative to the image."""
    return float((predict_landmarks(model, data) - data.points).norm(dim=-1).mean())


def train_landmarks(
    model: nn.Module,
    train: LandmarkSet,
    cfg: TrainConfig,
    *,
    dev: LandmarkSet | None = None,
    on_epoch: OnEpoch = None,
) -> TaskResult:
    """Landmark regression: ``L`` points per image; ``dev_error`` = mean point distance."""
    device = resolve_device(cfg.device)
    model.to(device)
    x, pts = train.images.to(device), train.points.to(device)
    present = torch.ones(len(x), device=device)
    bs, steps = _batches(len(x), cfg.batch_size)
    sample = _sampler(len(x), bs, device)
    aug = Augmenter(AugmentSpec.from_config(cfg), seed=cfg.seed)
    pairs = mirror_pairs(train.point_names)

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        xb, pb = augment_points(x[i], pts[i], aug.draw(x[i]), pairs=pairs)
        return landmark_loss(model(xb), present[i], pb)

    def evaluate() -> dict[str, float]:
        out = {"train_error": _landmark_error(model, train, device)}
        if dev is not None:
            out["dev_error"] = _landmark_error(model, dev, device)
        return out

    return _loop(
        model,
        cfg,
        task="landmarks",
        n_steps=steps,
        step_loss=step,
        evaluate=evaluate,
        on_epoch=on_epoch,
        batch=bs,
    )
