"""Losses of the vision tasks (pure functions of tensors).

* :func:`localization_loss` -- classification with localization, the course's rule: when an
  object is present (``p_c = 1``) every term counts (object-ness, box, class); when not, only
  ``p_c``. Object-ness is a logistic loss, the box a squared error on ``σ(outputs)``, the class
  a cross-entropy (the course's "different sub-errors for each entry").
* :func:`landmark_loss` -- the same with ``L`` points ``(l_x, l_y)`` instead of a box.
* :func:`yolo_loss` -- the grid detector: object-ness for every anchor of every cell
  (weighted ``lambda_noobj`` where there is no object), and box and class terms only where
  :func:`~sweeplab.analysis.assign_anchors` put an object (weighted ``lambda_coord``).
* :func:`triplet_loss` -- ``max(‖f(A)−f(P)‖² − ‖f(A)−f(N)‖² + α, 0)``, summed over triplets
  as in the course (``J = Σ_i L(A⁽ⁱ⁾, P⁽ⁱ⁾, N⁽ⁱ⁾)``) or averaged (``reduction="mean"``),
  on triplets from :func:`mine_triplets` (those that still violate the margin).
* :func:`pair_loss` -- the binary head: logistic loss on ``same identity``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from sweeplab.models import squared_distances

__all__ = [
    "landmark_loss",
    "localization_loss",
    "mine_triplets",
    "pair_loss",
    "triplet_loss",
    "yolo_loss",
]


def localization_loss(
    raw: torch.Tensor,
    present: torch.Tensor,
    boxes: torch.Tensor,
    classes: torch.Tensor,
    *,
    lambda_box: float = 1.0,
) -> torch.Tensor:
    """Mean over the batch; ``raw`` ``(B, 5 + K)``, ``present`` ``(B,)`` 0/1, ``boxes`` ``(B, 4)``.

    ``boxes`` and ``classes`` are "don't care" where ``present == 0``: they get no gradient.
    ``lambda_box`` weighs the box term against object-ness and class (as YOLO's λ_coord).
    """
    present = present.float()
    obj = F.binary_cross_entropy_with_logits(raw[:, 0], present, reduction="none")
    box = ((torch.sigmoid(raw[:, 1:5]) - boxes) ** 2).sum(1)
    cls = F.cross_entropy(raw[:, 5:], classes.long(), reduction="none")
    return (obj + present * (lambda_box * box + cls)).mean()


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
    anchor: torch.Tensor,
    positive: torch.Tensor,
    negative: torch.Tensor,
    *,
    margin: float,
    reduction: Literal["sum", "mean"] = "sum",
) -> torch.Tensor:
    """``Σ max(‖f(A) − f(P)‖² − ‖f(A) − f(N)‖² + α, 0)`` over the triplets (the course's
    ``J``), or its mean with ``reduction="mean"``; 0 for none. Inputs ``(T, D)``."""
    if reduction not in ("sum", "mean"):
        raise ValueError(f"`reduction` must be 'sum' or 'mean', but got {reduction!r}")
    if len(anchor) == 0:
        return anchor.sum() * 0.0  # keeps the graph: a zero loss with zero gradients
    d_ap = ((anchor - positive) ** 2).sum(1)  # (T,)
    d_an = ((anchor - negative) ** 2).sum(1)
    per_triplet = F.relu(d_ap - d_an + margin)
    return per_triplet.sum() if reduction == "sum" else per_triplet.mean()


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
