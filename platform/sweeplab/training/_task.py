"""What a task means to training: its loss, its predictions, its targets' dtype.

* ``binary``: the model returns one logit per example, ``(N, 1)`` or ``(N,)``; the loss is
  ``BCEWithLogits`` on float targets 0 / 1; the prediction is ``logit > 0`` (P(y=1) > 0.5).
* ``multiclass``: the model returns ``(N, K)`` logits; the loss is cross-entropy on integer
  targets 0 … K−1; the prediction is the argmax.
* ``multilabel`` (multi-task learning): the model returns ``(N, T)`` logits, one per label
  ("task"); targets are float ``(N, T)`` with 1 / 0 per label and :data:`UNLABELED` entries
  (``NaN``, or ``-1`` in a user's file) where nobody said whether the label applies. The
  loss is the mean logistic loss over the *labeled* entries only (the course's
  self-driving example: one image, four questions — pedestrian? car? stop sign? traffic
  light? — answered by one network with four sigmoid outputs)::

      J = (1 / #labeled) Σ_{i, j labeled} L(ŷ_ij, y_ij),    L = binary cross-entropy

  so an unlabeled entry changes neither the cost nor any gradient. The prediction for label
  j is ``σ(z_j) > 0.5`` (``z_j > 0``). Errors: :func:`label_errors` gives label j's error,
  wrong / labeled examples of label j; the task's error (``train_error``, ``dev_error``, …)
  is their **mean over the labels** that have a labeled example in the set (macro average:
  every label weighs the same however many of its entries are labeled; equal to the share
  of wrong entries, the Hamming loss, when every entry is labeled).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sweeplab.errors import UserError, unknown_name_error

__all__ = [
    "FIT_TASKS",
    "UNLABELED",
    "check_task",
    "data_loss",
    "l2_penalty",
    "label_errors",
    "label_mask",
    "label_metric_names",
    "masked_bce_loss",
    "multilabel_error",
    "penalized_weights",
    "predict_labels",
    "prepare_targets",
    "probabilities",
]

FIT_TASKS = ("binary", "multiclass", "multilabel")

UNLABELED = -1  # in a multi-label target, as well as NaN: "not labeled", not "absent"


def check_task(task: str) -> str:
    if task not in FIT_TASKS:
        raise unknown_name_error("training task", task, FIT_TASKS)
    return task


def prepare_targets(y: torch.Tensor, task: str) -> torch.Tensor:
    """Targets in the dtype the loss wants: float 0/1 for binary, int64 for multiclass.

    Multi-label targets stay ``(N, T)`` float with every unlabeled entry (``-1`` or NaN)
    turned into NaN, once, so the training loop's mask is a plain ``isnan``.
    """
    if task == "multilabel":
        y = y.float()
        return torch.where(y == UNLABELED, torch.full_like(y, float("nan")), y)
    return y.reshape(-1).float() if task == "binary" else y.reshape(-1).long()


def _binary_logits(logits: torch.Tensor) -> torch.Tensor:
    if logits.ndim == 2 and logits.shape[1] == 1:
        return logits[:, 0]  # (N, 1) -> (N,)
    if logits.ndim == 1:
        return logits
    raise UserError(
        "a binary task needs a model with one output logit, shape (N, 1), but the model "
        f"returned shape {tuple(logits.shape)}; build it with num_outputs=1"
    )


def data_loss(logits: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    """Mean loss over the batch (no regularization term); labeled entries only, multi-label."""
    if task == "binary":
        return F.binary_cross_entropy_with_logits(_binary_logits(logits), y)
    if task == "multilabel":
        return masked_bce_loss(logits, y)
    return F.cross_entropy(logits, y)


def predict_labels(logits: torch.Tensor, task: str) -> torch.Tensor:
    """Predicted class per example, ``(N,)`` int64; ``(N, T)`` 0 / 1 per label, multi-label."""
    if task == "binary":
        return (_binary_logits(logits) > 0).long()
    if task == "multilabel":
        return (logits > 0).long()  # σ(z) > 0.5 for every label
    return logits.argmax(dim=1)


def probabilities(logits: torch.Tensor, task: str) -> torch.Tensor:
    """``(N,)`` P(y=1) for binary, ``(N, K)`` softmax for multiclass, ``(N, T)`` σ per label."""
    if task == "binary":
        return torch.sigmoid(_binary_logits(logits))
    if task == "multilabel":
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=1)


# -- multi-label ------------------------------------------------------------------------------


def _check_multilabel(logits: torch.Tensor, y: torch.Tensor) -> None:
    if logits.ndim != 2 or y.shape != logits.shape:
        raise ValueError(
            "multi-label logits and labels must both be (N, T), but got logits "
            f"{tuple(logits.shape)} and y {tuple(y.shape)}"
        )


def label_mask(y: torch.Tensor) -> torch.Tensor:
    """``(N, T)`` bool: True where the entry is labeled (not NaN, not -1)."""
    y = y.float()
    return ~torch.isnan(y) & (y != UNLABELED)


def masked_bce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the labeled entries of ``y`` only (a scalar).

    Unlabeled entries are replaced by 0 before the loss and their per-entry loss by an exact
    0 (``where``, not a multiplication: ``0 · NaN`` would be NaN), so neither their value nor
    their logit reaches the cost or the gradient. With no labeled entry the cost is 0.
    """
    _check_multilabel(logits, y)
    mask = label_mask(y)  # (N, T)
    targets = torch.where(mask, y.float(), torch.zeros_like(logits))  # NaN never enters
    per_entry = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    per_entry = torch.where(mask, per_entry, torch.zeros_like(per_entry))
    return per_entry.sum() / mask.sum().clamp(min=1)


def _wrong_and_labeled(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per label, ``(T,)`` int64 each: wrong predictions among the labeled, and labeled."""
    mask = label_mask(y)
    wrong = ((logits > 0) != (y.float().nan_to_num(0.0) > 0.5)) & mask
    return wrong.sum(dim=0), mask.sum(dim=0)


def label_errors(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(T,)`` float64: label j's wrong predictions / labeled examples; NaN with none labeled.

    A label without any labeled example in ``y`` has an unknown error (NaN), not 0.
    """
    _check_multilabel(logits, y)
    wrong, labeled = _wrong_and_labeled(logits, y)
    errors = wrong.double() / labeled.clamp(min=1)
    return torch.where(labeled > 0, errors, torch.full_like(errors, float("nan")))


def multilabel_error(logits: torch.Tensor, y: torch.Tensor) -> float:
    """The task's error: the mean of :func:`label_errors` over labels with a labeled example.

    NaN when nothing is labeled. See the module docstring for why the mean over labels.
    """
    errors = label_errors(logits, y)
    known = errors[~torch.isnan(errors)]
    return float(known.mean()) if len(known) else float("nan")


_METRIC_UNSAFE = re.compile(r"[^0-9A-Za-z_.-]+")


def label_metric_names(labels: Sequence[str]) -> list[str]:
    """Labels as metric-name suffixes: ``"stop sign"`` -> ``"stop_sign"`` (MLflow-safe, unique)."""
    names = [_METRIC_UNSAFE.sub("_", str(label)).strip("_") or "label" for label in labels]
    if len(set(names)) != len(names):
        raise UserError(
            f"label names must stay distinct as metric names, but {list(labels)} give {names}; "
            "rename the labels"
        )
    return names


# -- regularization ---------------------------------------------------------------------------


def penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    """The parameters L2 regularization penalizes: weight matrices and kernels (ndim >= 2).

    Biases and batch norm's γ, β are 1-D and are left out, as in the course.
    """
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


def l2_penalty(weights: list[torch.Tensor], lam: float, m: int) -> torch.Tensor:
    """``(λ / 2m) · Σ_l ‖W_l‖²_F`` with ``m`` the number of examples of the cost's batch."""
    total = torch.stack([w.pow(2).sum() for w in weights]).sum()
    return total * (lam / (2.0 * m))
