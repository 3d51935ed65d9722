"""Multi-task learning (multi-label): one network, several sigmoid outputs, one per task.

The course's self-driving example: one image, four questions (pedestrian? car? stop sign?
traffic light?), answered by one network with four logistic outputs instead of four
networks, so that what the early layers learn for one task helps the others. Any registry
model built with ``num_outputs = T`` is such a network; this module gives it a loss and
metrics.

Labels ``y`` are ``(N, T)`` with 1 / 0 per task, and *unlabeled* entries (an image whose
labeller did not say whether it shows a stop sign) as ``NaN`` or ``-1``. The course's
cost sums the logistic loss over the labeled entries only::

    J = (1 / #labeled) Σ_{i, j labeled} L(ŷ_ij, y_ij),    L = logistic (binary cross-entropy)

so an unlabeled entry changes neither the cost nor any gradient. The prediction for task j
is ``σ(z_j) > 0.5`` (``z_j > 0``); ``task_<name>_error`` is the share of task j's labeled
examples that are predicted wrong.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "UNLABELED",
    "label_mask",
    "masked_bce_loss",
    "multilabel_error",
    "predict_multilabel",
    "task_errors",
]

UNLABELED = -1  # as well as NaN


def _check(logits: torch.Tensor, y: torch.Tensor) -> None:
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

    Unlabeled entries are replaced by 0 before the loss and multiplied by a 0 weight, so
    neither their value nor their logit reaches the cost or the gradient. With no labeled
    entry at all the cost is 0.
    """
    _check(logits, y)
    mask = label_mask(y)
    targets = torch.where(mask, y.float(), torch.zeros_like(logits))  # NaN never enters
    per_entry = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    per_entry = torch.where(mask, per_entry, torch.zeros_like(per_entry))
    return per_entry.sum() / mask.sum().clamp(min=1)


def predict_multilabel(logits: torch.Tensor) -> torch.Tensor:
    """``(N, T)`` int64 0 / 1: σ(z) > 0.5 for every task."""
    return (logits > 0).long()


def task_errors(
    logits: torch.Tensor, y: torch.Tensor, names: Sequence[str] | None = None
) -> dict[str, float]:
    """``{"task_<name>_error": error}``: wrong predictions / labeled examples, per task.

    ``names`` default to ``0 … T-1``. A task without any labeled example gets NaN (its error
    is unknown, not 0).
    """
    _check(logits, y)
    t = logits.shape[1]
    names = [str(j) for j in range(t)] if names is None else [str(n) for n in names]
    if len(names) != t:
        raise ValueError(f"names must have one entry per task ({t}), but got {len(names)}")
    mask = label_mask(y)
    wrong = (predict_multilabel(logits) != y.float().nan_to_num(0).long()) & mask
    counts = mask.sum(dim=0)
    errors = wrong.sum(dim=0).double() / counts.clamp(min=1)
    errors = torch.where(counts > 0, errors, torch.full_like(errors, float("nan")))
    return {f"task_{n}_error": float(e) for n, e in zip(names, errors.tolist(), strict=True)}


def multilabel_error(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Share of all labeled entries predicted wrong (NaN when nothing is labeled)."""
    _check(logits, y)
    mask = label_mask(y)
    n = int(mask.sum())
    if n == 0:
        return float("nan")
    wrong = (predict_multilabel(logits) != y.float().nan_to_num(0).long()) & mask
    return float(wrong.sum()) / n
