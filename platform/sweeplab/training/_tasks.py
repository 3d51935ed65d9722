"""Vision tasks beyond classification: losses and small training loops.

Losses (pure functions of tensors):

* :func:`localization_loss` -- classification with localization, the course's rule: when an
  object is present (``p_c = 1``) every term counts (object-ness, box, class); when not, only
  ``p_c``. Object-ness is a logistic loss, the box a squared error on ``σ(outputs)``, the class
  a cross-entropy (the course's "different sub-errors for each entry").
* :func:`landmark_loss` -- the same with ``L`` points ``(l_x, l_y)`` instead of a box.
* :func:`yolo_loss` -- the grid detector: object-ness for every anchor of every cell
  (weighted ``lambda_noobj`` where there is no object), and box and class terms only where
  :func:`~sweeplab.analysis.assign_anchors` put an object (weighted ``lambda_coord``).
* :func:`triplet_loss` -- ``max(‖f(A)−f(P)‖² − ‖f(A)−f(N)‖² + α, 0)``, averaged over triplets,
  on triplets from :func:`mine_triplets` (those that still violate the margin).
* :func:`pair_loss` -- the binary head: logistic loss on ``same identity``.

Training loops (``train_localizer``, ``train_landmarks``, ``train_detector``,
``train_segmenter``, ``train_siamese``) take a model built by the caller (seed first with
``seed_everything``), in-memory data and a :class:`~sweeplab.training.TrainConfig` (epochs,
batch size, optimizer, learning rate and its schedule, seed, device), call ``on_epoch`` with
an :class:`~sweeplab.training.EpochResult` after every epoch (a reporter may raise to prune)
and return a :class:`TaskResult`. Every epoch reports ``epoch``, ``lr``, ``train_loss``,
``train_error``, ``dev_error`` (when a dev set is given) and ``epoch_time_s``; ``dev_error``
is the task's error measure: 1 − mAP@0.5 (detection), 1 − mean IoU (segmentation),
1 − verification accuracy at the best dev threshold (verification), the localization error
(wrong presence, class or IoU < 0.5) and the mean landmark distance.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from sweeplab.analysis._boxes import (
    Detections,
    assign_anchors,
    box_iou,
    mean_average_precision,
    mean_iou,
)
from sweeplab.config._base import Schema
from sweeplab.data._generated import DetectionSet, IdentitySet, LandmarkSet, SegmentationSet
from sweeplab.errors import UserError
from sweeplab.models._detection import (
    GridDetector,
    decode_grid,
    decode_landmarks,
    decode_localization,
)
from sweeplab.models._siamese import Encoder, PairClassifier, squared_distances
from sweeplab.models._unet import UNet
from sweeplab.training._config import TrainConfig
from sweeplab.training._device import resolve_device
from sweeplab.training._fit import DivergedError, EpochResult
from sweeplab.training._optim import learning_rate_at, make_optimizer

__all__ = [
    "DetectionArgs",
    "SiameseArgs",
    "TaskResult",
    "VerificationReport",
    "check_task_config",
    "choose_threshold",
    "detection_map",
    "dissimilarities",
    "embed",
    "evaluate_verification",
    "landmark_loss",
    "localization_loss",
    "mine_triplets",
    "one_shot_recognition",
    "pair_loss",
    "segmentation_iou",
    "train_detector",
    "train_landmarks",
    "train_localizer",
    "train_segmenter",
    "train_siamese",
    "triplet_loss",
    "verification_pairs",
    "yolo_loss",
]

OnEpoch = Callable[[EpochResult], None] | None
_EVAL_BATCH = 256


@dataclass
class TaskResult:
    """Per-epoch metrics (``history``) and those of the last epoch (``final``)."""

    history: list[dict[str, float]]
    final: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------------- losses


def localization_loss(
    raw: torch.Tensor, present: torch.Tensor, boxes: torch.Tensor, classes: torch.Tensor
) -> torch.Tensor:
    """Mean over the batch; ``raw`` ``(B, 5 + K)``, ``present`` ``(B,)`` 0/1, ``boxes`` ``(B, 4)``.

    ``boxes`` and ``classes`` are "don't care" where ``present == 0``: they get no gradient.
    """
    present = present.float()
    obj = F.binary_cross_entropy_with_logits(raw[:, 0], present, reduction="none")
    box = ((torch.sigmoid(raw[:, 1:5]) - boxes) ** 2).sum(1)
    cls = F.cross_entropy(raw[:, 5:], classes.long(), reduction="none")
    return (obj + present * (box + cls)).mean()


def landmark_loss(raw: torch.Tensor, present: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Mean over the batch; ``raw`` ``(B, 1 + 2L)``, ``points`` ``(B, L, 2)`` in [0, 1]."""
    present = present.float()
    obj = F.binary_cross_entropy_with_logits(raw[:, 0], present, reduction="none")
    pts = ((torch.sigmoid(raw[:, 1:]) - points.flatten(1)) ** 2).sum(1)
    return (obj + present * pts).mean()


def yolo_loss(
    raw: torch.Tensor,
    targets: torch.Tensor,
    anchors: torch.Tensor,
    *,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
) -> torch.Tensor:
    """Sum over cells and anchors, mean over images; ``raw``, ``targets`` ``(B, S, S, A, 5 + K)``.

    Where an object is assigned: ``(σ(t_x) − x)² + (σ(t_y) − y)²`` for the centre in the
    cell, ``(t_h − log(h / anchor_h))² + (t_w − log(w / anchor_w))²`` for the size, and
    cross-entropy for the class. Object-ness is a logistic loss everywhere.
    """
    b, s = raw.shape[0], raw.shape[1]
    obj = targets[..., 0] > 0.5  # (B, S, S, A)
    conf = F.binary_cross_entropy_with_logits(raw[..., 0], targets[..., 0], reduction="none")
    total = (conf * torch.where(obj, 1.0, lambda_noobj)).sum()
    if obj.any():
        r, t = raw[obj], targets[obj]  # (M, 5 + K)
        anc = anchors.to(raw.dtype).expand(*obj.shape, 2)[obj] * s  # (M, 2) in cell units
        xy = ((torch.sigmoid(r[:, 1:3]) - t[:, 1:3]) ** 2).sum()
        hw = ((r[:, 3:5] - torch.log(t[:, 3:5].clamp_min(1e-6) / anc)) ** 2).sum()
        cls = F.cross_entropy(r[:, 5:], t[:, 5:].argmax(1), reduction="sum")
        total = total + lambda_coord * (xy + hw) + cls
    return total / b


def triplet_loss(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, *, margin: float
) -> torch.Tensor:
    """``mean max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)`` over triplets; 0 for none."""
    if len(anchor) == 0:
        return anchor.sum() * 0.0  # keeps the graph: a zero loss with zero gradients
    d_ap = ((anchor - positive) ** 2).sum(1)
    d_an = ((anchor - negative) ** 2).sum(1)
    return F.relu(d_ap - d_an + margin).mean()


def mine_triplets(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices ``(a, p, n)`` of triplets in the batch that still violate the margin.

    For every anchor-positive pair (same label, ``a ≠ p``), one negative ``n`` (another
    label) with ``‖f(a) − f(n)‖² < ‖f(a) − f(p)‖² + α`` is drawn at random; pairs with no
    such negative are already satisfied and give no triplet (the course's "choose the
    triplets that are hard": satisfied triplets have zero loss and teach nothing).
    """
    with torch.no_grad():
        d = squared_distances(embeddings, embeddings)  # (B, B)
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        a_idx, p_idx = torch.nonzero(same & ~eye, as_tuple=True)
        # violating[t, n]: negative n breaks the margin for pair t
        violating = (~same[a_idx]) & (d[a_idx] < d[a_idx, p_idx][:, None] + margin)
        has = violating.any(1)
        a_idx, p_idx, violating = a_idx[has], p_idx[has], violating[has]
        if len(a_idx) == 0:
            empty = labels.new_zeros(0, dtype=torch.long)
            return empty, empty, empty
        noise = torch.rand(violating.shape, generator=generator).to(violating.device)
        n_idx = torch.where(violating, noise, -1.0).argmax(1)  # a random violating negative
    return a_idx, p_idx, n_idx


def pair_loss(logits: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Logistic loss of the binary head: ``same`` is 1 for one identity, 0 for two."""
    return F.binary_cross_entropy_with_logits(logits, same.float())


# ------------------------------------------------------------------------------ the loop


# The TrainConfig fields these loops use; any other field set away from its default
# (L2, early stopping, augmentation, transfer …) would be silently ignored, so it is an error.
_USED_FIELDS = frozenset(
    {"epochs", "batch_size", "optimizer", "learning_rate", "beta", "beta1", "beta2", "epsilon"}
    | {"lr_decay", "decay_rate", "decay_base", "decay_k", "decay_step", "decay_gamma"}
    | {"device", "seed"}
)


def check_task_config(cfg: TrainConfig, *, task: str) -> None:
    """Raise a :class:`UserError` for a setting the ``task`` loop would ignore."""
    defaults = type(cfg)()
    ignored = [
        name
        for name in type(cfg).model_fields
        if name not in _USED_FIELDS and getattr(cfg, name) != getattr(defaults, name)
    ]
    if ignored:
        name = ignored[0]
        raise UserError(
            f"the {task} training loop does not support {name!r} (found "
            f"{getattr(cfg, name)!r}); remove it or leave it at {getattr(defaults, name)!r}",
            key=f"train.{name}",
        )


def _loop(
    model: nn.Module,
    cfg: TrainConfig,
    *,
    task: str,
    n_steps: int,
    step_loss: Callable[[torch.Generator], torch.Tensor],
    evaluate: Callable[[], dict[str, float]],
    on_epoch: OnEpoch,
) -> TaskResult:
    """``cfg.epochs`` epochs of ``n_steps`` optimizer steps; evaluate; report; return."""
    check_task_config(cfg, task=task)
    optimizer = make_optimizer(model.parameters(), cfg)
    generator = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    for epoch in range(1, cfg.epochs + 1):
        start = time.perf_counter()
        lr = learning_rate_at(cfg, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        losses = torch.empty(n_steps)
        for step in range(n_steps):
            cost = step_loss(generator)
            optimizer.zero_grad(set_to_none=True)
            cost.backward()
            optimizer.step()
            losses[step] = cost.detach().cpu()
        if not torch.isfinite(losses).all():
            i = int((~torch.isfinite(losses)).nonzero()[0, 0])
            raise DivergedError(epoch=epoch, step=i + 1, value=float(losses[i]))
        model.eval()
        metrics = {"epoch": float(epoch), "lr": lr, "train_loss": float(losses.mean())}
        metrics.update(evaluate())
        metrics["epoch_time_s"] = time.perf_counter() - start
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(EpochResult(epoch=epoch, metrics=dict(metrics)))
    model.eval()
    return TaskResult(history=history, final=dict(history[-1]) if history else {})


def _batches(m: int, batch_size: int) -> tuple[int, int]:
    """(batch size, steps per epoch); a last batch of one is skipped (batch norm needs two)."""
    bs = min(batch_size, m)
    steps = math.ceil(m / bs)
    if steps > 1 and m % bs == 1:
        steps -= 1
    return bs, steps


def _sampler(m: int, bs: int, device: torch.device) -> Callable[[torch.Generator], torch.Tensor]:
    """Mini-batch indices, a fresh permutation every epoch (sampling without replacement)."""
    state = {"perm": torch.empty(0, dtype=torch.long), "pos": 0}

    def next_idx(gen: torch.Generator) -> torch.Tensor:
        if state["pos"] + min(bs, 2) > len(state["perm"]):
            state["perm"], state["pos"] = torch.randperm(m, generator=gen), 0
        idx = state["perm"][state["pos"] : state["pos"] + bs]
        state["pos"] += bs
        return idx.to(device)

    return next_idx


@torch.no_grad()
def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + _EVAL_BATCH]) for i in range(0, len(x), _EVAL_BATCH)])


# -------------------------------------------------------------------------- localization


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


def _localization_error(model: nn.Module, data: DetectionSet, device: torch.device) -> float:
    """Share of images with the wrong presence, or the wrong class, or a box IoU < 0.5."""
    present, boxes, classes = _single_object(data)
    p, pred_boxes, probs = decode_localization(_outputs(model, data.images.to(device)).cpu())
    said = p >= 0.5
    wrong = said != (present > 0.5)
    ious = np.diag(box_iou(pred_boxes.numpy(), boxes.numpy()))  # each image with its own box
    hit = (probs.argmax(1) == classes) & torch.from_numpy(ious >= 0.5)
    wrong |= (present > 0.5) & said & ~hit
    return float(wrong.float().mean())


def train_localizer(
    model: nn.Module,
    train: DetectionSet,
    cfg: TrainConfig,
    *,
    dev: DetectionSet | None = None,
    on_epoch: OnEpoch = None,
) -> TaskResult:
    """Classification with localization on images with zero or one object."""
    device = resolve_device(cfg.device)
    model.to(device)
    x = train.images.to(device)
    present, boxes, classes = (t.to(device) for t in _single_object(train))
    bs, steps = _batches(len(x), cfg.batch_size)
    sample = _sampler(len(x), bs, device)

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        return localization_loss(model(x[i]), present[i], boxes[i], classes[i])

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
    )


def _landmark_error(model: nn.Module, data: LandmarkSet, device: torch.device) -> float:
    """Mean Euclidean distance between predicted and true points, relative to the image."""
    _, pts = decode_landmarks(_outputs(model, data.images.to(device)).cpu())
    return float((pts - data.points).norm(dim=-1).mean())


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

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        return landmark_loss(model(x[i]), present[i], pts[i])

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
    )


# ----------------------------------------------------------------------------- detection


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
    anchors = model.anchors.cpu().numpy()
    return torch.from_numpy(
        np.stack(
            [
                assign_anchors(
                    b, c, grid=model.grid, anchors=anchors, num_classes=model.num_classes
                ).targets
                for b, c in zip(data.boxes, data.classes, strict=True)
            ]
        )
    )


def detection_map(
    model: GridDetector, data: DetectionSet, *, args: DetectionArgs | None = None
) -> float:
    """mAP at IoU 0.5 of the detector's decoded, NMS-filtered detections on ``data``."""
    args = args or DetectionArgs()
    device = next(model.parameters()).device
    preds = decode_grid(
        _outputs(model, data.images.to(device)),
        model.anchors,
        score_threshold=args.score_threshold,
        iou_threshold=args.nms_iou,
    )
    truth = [Detections.of(b, c) for b, c in zip(data.boxes, data.classes, strict=True)]
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

    def loss(raw: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return yolo_loss(
            raw, t, model.anchors, lambda_coord=args.lambda_coord, lambda_noobj=args.lambda_noobj
        )

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        return loss(model(x[i]), targets[i])

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
    )


# -------------------------------------------------------------------------- segmentation


def segmentation_iou(model: UNet, data: SegmentationSet) -> float:
    """Mean over classes of the pixel IoU of the model's argmax masks on ``data``."""
    device = next(model.parameters()).device
    pred = _outputs(model, data.images.to(device)).argmax(1).cpu().numpy()
    return mean_iou(pred, data.masks.numpy(), num_classes=data.num_classes)[0]


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

    def step(gen: torch.Generator) -> torch.Tensor:
        i = sample(gen)
        return F.cross_entropy(model(x[i]), y[i])  # (B, K, H, W) vs (B, H, W)

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
    )


# -------------------------------------------------------------------------- verification


@torch.no_grad()
def embed(encoder: Encoder, images: torch.Tensor) -> torch.Tensor:
    """Encodings ``(N, d)`` of ``images``, in eval mode."""
    device = next(encoder.parameters()).device
    return _outputs(encoder, images.to(device))


@torch.no_grad()
def dissimilarities(
    model: Encoder | PairClassifier, ea: torch.Tensor, eb: torch.Tensor
) -> torch.Tensor:
    """``(N, M)``: smaller means "more likely the same identity".

    The triplet model's ``‖f(a) − f(b)‖²``, or minus the binary head's logit, so that one
    threshold rule (same when ``d <= τ``) serves both.
    """
    if isinstance(model, PairClassifier):
        w, b = model.out.weight[0], model.out.bias[0]
        # Row chunks keep the (rows, M, d) intermediate near 16M floats.
        step = max(1, 2**24 // max(1, eb.shape[0] * eb.shape[1]))
        return torch.cat(
            [
                -(((ea[i : i + step, None, :] - eb[None, :, :]).abs() * w).sum(-1) + b)
                for i in range(0, len(ea), step)
            ]
        )
    return squared_distances(ea, eb)


def verification_pairs(
    labels: torch.Tensor, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced pairs ``(i, j, same)``: every same-identity pair and as many random others.

    Balanced so that chance accuracy is 0.5 whatever the number of identities.
    """
    y = np.asarray(labels)
    i, j = np.triu_indices(len(y), k=1)
    same = y[i] == y[j]
    pos, neg = np.nonzero(same)[0], np.nonzero(~same)[0]
    rng = np.random.default_rng(seed)
    neg = rng.choice(neg, size=min(len(pos), len(neg)), replace=False)
    keep = np.sort(np.concatenate([pos, neg]))
    return i[keep], j[keep], same[keep]


def choose_threshold(d: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The τ that maximizes the accuracy of "same identity when d <= τ", and that accuracy.

    Candidates are the midpoints between consecutive sorted distances (and both ends).
    """
    d, same = np.asarray(d, dtype=np.float64), np.asarray(same, dtype=bool)
    order = np.argsort(d, kind="stable")
    ds, ss = d[order], same[order]
    # Predicting "same" for the first k pairs (k = 0 … n): correct = positives among them
    # plus negatives after them.
    correct = (
        np.concatenate([[0], np.cumsum(ss)]) + (~ss).sum() - np.concatenate([[0], np.cumsum(~ss)])
    )
    # Only cut between distinct values.
    valid = np.concatenate([[True], ds[1:] != ds[:-1], [True]])
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        tau = ds[0] - 1.0 if len(ds) else 0.0
    elif k == len(ds):
        tau = ds[-1] + 1.0
    else:
        tau = (ds[k - 1] + ds[k]) / 2
    return float(tau), float(correct[k] / max(len(ds), 1))


def one_shot_recognition(d_query_ref: np.ndarray, ref_labels: np.ndarray, tau: float) -> np.ndarray:
    """The nearest reference's identity, or -1 ("not recognized") when its d > τ."""
    d = np.asarray(d_query_ref)
    nearest = np.argmin(d, axis=1)
    ids = np.asarray(ref_labels)[nearest]
    return np.where(d[np.arange(len(d)), nearest] <= tau, ids, -1)


@dataclass(frozen=True)
class VerificationReport:
    """τ chosen on dev; accuracies on unseen identities (chance: 0.5 for pairs)."""

    tau: float
    dev_accuracy: float  # verification on dev pairs at τ (τ was chosen there: optimistic)
    test_accuracy: float  # verification on test pairs at τ
    one_shot_accuracy: float  # recognition with one reference per test identity
    one_shot_queries: int


def evaluate_verification(
    model: Encoder | PairClassifier,
    dev: IdentitySet,
    test: IdentitySet,
    *,
    distractors: IdentitySet | None = None,
    seed: int = 0,
) -> VerificationReport:
    """Choose τ on dev pairs; verify test pairs at τ; one-shot recognition on test.

    One-shot: the first example of each test identity is its one reference; the queries are
    the other test examples (answer: their identity) and every ``distractors`` example
    (identities not in the database; answer: "not recognized").
    """
    encoder = model.encoder if isinstance(model, PairClassifier) else model

    def pair_d(data: IdentitySet, s: int) -> tuple[np.ndarray, np.ndarray]:
        e = embed(encoder, data.images)
        i, j, same = verification_pairs(data.labels, seed=s)
        d = dissimilarities(model, e, e).cpu().numpy()
        return d[i, j], same

    d_dev, same_dev = pair_d(dev, seed)
    tau, dev_acc = choose_threshold(d_dev, same_dev)
    d_test, same_test = pair_d(test, seed + 1)
    test_acc = float(np.mean((d_test <= tau) == same_test))

    labels = test.labels.numpy()
    _, first = np.unique(labels, return_index=True)
    is_ref = np.zeros(len(labels), dtype=bool)
    is_ref[first] = True
    queries, truth = test.images[~is_ref], labels[~is_ref]
    if distractors is not None:
        if np.isin(distractors.labels.numpy(), labels).any():
            raise ValueError("distractor identities must not be in the test set's database")
        queries = torch.cat([queries, distractors.images])
        truth = np.concatenate([truth, np.full(len(distractors), -1)])
    e_ref, e_q = embed(encoder, test.images[is_ref]), embed(encoder, queries)
    pred = one_shot_recognition(
        dissimilarities(model, e_q, e_ref).cpu().numpy(), labels[is_ref], tau
    )
    return VerificationReport(
        tau=tau,
        dev_accuracy=dev_acc,
        test_accuracy=test_acc,
        one_shot_accuracy=float(np.mean(pred == truth)),
        one_shot_queries=len(truth),
    )


class SiameseArgs(Schema):
    """Triplet or binary-head training settings (searchable by name)."""

    margin: float = Field(default=0.2, gt=0.0, description="α of the triplet loss.")
    ids_per_batch: int = Field(default=8, ge=2, description="Identities in each mini-batch.")
    per_identity: int = Field(default=4, ge=2, description="Examples of each identity in a batch.")


def _pk_batch(by_id: list[torch.Tensor], p: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """Indices of ``p`` random identities × ``k`` random examples each (with replacement)."""
    ids = torch.randperm(len(by_id), generator=gen)[:p]
    return torch.cat([by_id[i][torch.randint(len(by_id[i]), (k,), generator=gen)] for i in ids])


def train_siamese(
    model: Encoder | PairClassifier,
    train: IdentitySet,
    cfg: TrainConfig,
    *,
    dev: IdentitySet | None = None,
    args: SiameseArgs | None = None,
    on_epoch: OnEpoch = None,
) -> TaskResult:
    """Triplet loss with mining (an :class:`Encoder`) or the binary head (a :class:`PairClassifier`).

    Mini-batches hold ``ids_per_batch`` identities × ``per_identity`` examples, so every
    batch has positives to pair; an epoch is ``ceil(N / batch)`` steps. ``violating``
    reports the share of anchor-positive pairs with a margin-violating negative (triplet
    mode). ``dev_error`` is 1 − verification accuracy on dev pairs at dev's best τ.
    """
    args = args or SiameseArgs()
    device = resolve_device(cfg.device)
    model.to(device)
    x, y = train.images.to(device), train.labels.to(device)
    ids = torch.unique(train.labels)
    if len(ids) < 2:
        raise ValueError(f"verification training needs at least 2 identities, but got {len(ids)}")
    by_id = [torch.nonzero(train.labels == i).flatten() for i in ids]
    p = min(args.ids_per_batch, len(ids))
    steps = math.ceil(len(x) / (p * args.per_identity))
    triplet = not isinstance(model, PairClassifier)
    counts = {"pairs": 0, "violating": 0}

    def step(gen: torch.Generator) -> torch.Tensor:
        idx = _pk_batch(by_id, p, args.per_identity, gen).to(device)
        yb = y[idx]
        if triplet:
            emb = model(x[idx])
            a, pos, n = mine_triplets(emb, yb, margin=args.margin, generator=gen)
            counts["pairs"] += int(((yb[:, None] == yb[None, :]).sum() - len(yb)).item())
            counts["violating"] += len(a)
            return triplet_loss(emb[a], emb[pos], emb[n], margin=args.margin)
        emb = model.encoder(x[idx])
        i, j = torch.triu_indices(len(idx), len(idx), offset=1, device=device)
        same = yb[i] == yb[j]
        # Balance: every positive pair and as many random negative pairs.
        neg = torch.nonzero(~same).flatten()
        neg = neg[torch.randperm(len(neg), generator=gen)[: int(same.sum())].to(device)]
        keep = torch.cat([torch.nonzero(same).flatten(), neg])
        return pair_loss(model.logit(emb[i[keep]], emb[j[keep]]), same[keep])

    def evaluate() -> dict[str, float]:
        out: dict[str, float] = {}
        if triplet:
            out["violating"] = counts["violating"] / max(counts["pairs"], 1)
            counts.update(pairs=0, violating=0)
        encoder = model.encoder if isinstance(model, PairClassifier) else model
        for name, data in (("train", train), ("dev", dev)):
            if data is None:
                continue
            e = embed(encoder, data.images)
            i, j, same = verification_pairs(data.labels, seed=cfg.seed)
            tau, acc = choose_threshold(dissimilarities(model, e, e).cpu().numpy()[i, j], same)
            out[f"{name}_error"] = 1.0 - acc
            if name == "dev":
                out["tau"] = tau
        return out

    return _loop(
        model,
        cfg,
        task="verification",
        n_steps=steps,
        step_loss=step,
        evaluate=evaluate,
        on_epoch=on_epoch,
    )
