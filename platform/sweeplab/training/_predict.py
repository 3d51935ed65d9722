"""Inference helpers: predictions for analysis, and the per-set evaluation ``fit`` logs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sweeplab.training._task import (
    _wrong_and_labeled,
    check_task,
    data_loss,
    label_mask,
    predict_labels,
    probabilities,
)

__all__ = ["evaluate", "evaluate_labels", "predict", "weighted_error"]


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, p.dtype if p.is_floating_point() else torch.float32
    return torch.device("cpu"), torch.float32


@torch.no_grad()
def predict(
    model: nn.Module, X: torch.Tensor | np.ndarray, *, task: str, batch_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted labels ``(N,)`` int64 and probabilities, as NumPy arrays, in eval mode.

    Probabilities are ``(N,)`` P(y=1) for ``binary`` and ``(N, K)`` softmax rows for
    ``multiclass``; for ``multilabel`` both are ``(N, T)``: 0 / 1 and σ per label. The
    model's train / eval mode is restored afterwards.
    """
    check_task(task)
    device, dtype = _model_device_dtype(model)
    X = torch.as_tensor(X)
    was_training = model.training
    model.eval()
    labels, probs = [], []
    try:
        for i in range(0, X.shape[0], batch_size):
            logits = model(X[i : i + batch_size].to(device, dtype))
            labels.append(predict_labels(logits, task).cpu())
            probs.append(probabilities(logits, task).float().cpu())
    finally:
        model.train(was_training)
    if not labels:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    return torch.cat(labels).numpy(), torch.cat(probs).numpy()


@torch.no_grad()
def evaluate(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, task: str, batch_size: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean loss, error rate)`` as 0-d tensors on the model's device (no sync).

    The loss is the data loss (cross-entropy) without the L2 term; the error is
    1 − accuracy (multi-label: the mean of the per-label errors, see :func:`evaluate_labels`).
    ``X`` and ``y`` are already on the device, ``y`` as ``prepare_targets`` made it. The model
    is put in eval mode.
    """
    if task == "multilabel":
        loss, errors = evaluate_labels(model, X, y, batch_size=batch_size)
        present = label_mask(y).any(dim=0)  # (T,) labels with a labeled example here
        return loss, (errors * present).sum() / present.sum()  # no boolean indexing: no sync
    model.eval()
    n = X.shape[0]
    loss_sum = torch.zeros((), device=X.device, dtype=torch.float64)
    wrong = torch.zeros((), device=X.device, dtype=torch.int64)
    for i in range(0, n, batch_size):
        xb, yb = X[i : i + batch_size], y[i : i + batch_size]
        logits = model(xb)
        loss_sum += data_loss(logits, yb, task).double() * xb.shape[0]
        wrong += (predict_labels(logits, task) != yb.long()).sum()
    return loss_sum / n, wrong.double() / n


@torch.no_grad()
def evaluate_labels(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, batch_size: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-label: ``(mean loss, per-label errors (T,))`` as tensors on the device (no sync).

    The loss is the mean logistic loss over every labeled entry of the set (not a mean of
    batch means); label j's error is wrong / labeled examples of label j, 0 where the set has
    none of label j labeled (callers leave those labels out). ``y`` is ``(N, T)`` float with
    NaN for unlabeled entries (``prepare_targets``). The model is put in eval mode.
    """
    model.eval()
    t = y.shape[1]
    loss_sum = torch.zeros((), device=X.device, dtype=torch.float64)
    wrong = torch.zeros(t, device=X.device, dtype=torch.int64)
    labeled = torch.zeros(t, device=X.device, dtype=torch.int64)
    for i in range(0, X.shape[0], batch_size):
        xb, yb = X[i : i + batch_size], y[i : i + batch_size]
        logits = model(xb)  # (B, T)
        w, n = _wrong_and_labeled(logits, yb)
        loss_sum += data_loss(logits, yb, "multilabel").double() * n.sum()
        wrong += w
        labeled += n
    return loss_sum / labeled.sum().clamp(min=1), wrong.double() / labeled.clamp(min=1)


@torch.no_grad()
def weighted_error(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    weights: torch.Tensor,
    *,
    task: str,
    batch_size: int = 4096,
) -> torch.Tensor:
    """``Σ_i w_i·[ŷ_i ≠ y_i] / Σ_i w_i`` as a 0-d float64 tensor on the device (no sync).

    The course's weighted error: an unacceptable mistake (a class with weight 10) counts ten
    times. ``weights`` is ``(N,)``, > 0; binary and multiclass tasks. Eval mode.
    """
    model.eval()
    w = weights.to(X.device, torch.float64)
    wrong = torch.zeros((), device=X.device, dtype=torch.float64)
    for i in range(0, X.shape[0], batch_size):
        logits = model(X[i : i + batch_size])
        miss = predict_labels(logits, task) != y[i : i + batch_size].long()  # (B,)
        wrong += (miss.double() * w[i : i + batch_size]).sum()
    return wrong / w.sum()
