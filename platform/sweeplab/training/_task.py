"""What a task means to training: its loss, its predictions, its targets' dtype.

* ``binary``: the model returns one logit per example, ``(N, 1)`` or ``(N,)``; the loss is
  ``BCEWithLogits`` on float targets 0 / 1; the prediction is ``logit > 0`` (P(y=1) > 0.5).
* ``multiclass``: the model returns ``(N, K)`` logits; the loss is cross-entropy on integer
  targets 0 … K−1; the prediction is the argmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sweeplab.errors import UserError, unknown_name_error

__all__ = [
    "TASKS",
    "check_task",
    "data_loss",
    "l2_penalty",
    "penalized_weights",
    "predict_labels",
    "prepare_targets",
    "probabilities",
]

TASKS = ("binary", "multiclass")


def check_task(task: str) -> str:
    if task not in TASKS:
        raise unknown_name_error("training task", task, TASKS)
    return task


def prepare_targets(y: torch.Tensor, task: str) -> torch.Tensor:
    """Targets in the dtype the loss wants: float 0/1 for binary, int64 for multiclass."""
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
    """Mean loss over the batch (no regularization term)."""
    if task == "binary":
        return F.binary_cross_entropy_with_logits(_binary_logits(logits), y)
    return F.cross_entropy(logits, y)


def predict_labels(logits: torch.Tensor, task: str) -> torch.Tensor:
    """Predicted class per example, ``(N,)`` int64."""
    if task == "binary":
        return (_binary_logits(logits) > 0).long()
    return logits.argmax(dim=1)


def probabilities(logits: torch.Tensor, task: str) -> torch.Tensor:
    """``(N,)`` P(y=1) for binary, ``(N, K)`` softmax for multiclass."""
    if task == "binary":
        return torch.sigmoid(_binary_logits(logits))
    return torch.softmax(logits, dim=1)


def penalized_weights(model: nn.Module) -> list[torch.Tensor]:
    """The parameters L2 regularization penalizes: weight matrices and kernels (ndim >= 2).

    Biases and batch norm's γ, β are 1-D and are left out, as in the course.
    """
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


def l2_penalty(weights: list[torch.Tensor], lam: float, m: int) -> torch.Tensor:
    """``(λ / 2m) · Σ_l ‖W_l‖²_F`` with ``m`` the number of examples of the cost's batch."""
    total = torch.stack([w.pow(2).sum() for w in weights]).sum()
    return total * (lam / (2.0 * m))
