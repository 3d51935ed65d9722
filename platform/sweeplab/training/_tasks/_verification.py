"""Verification with Siamese networks: training, the threshold τ, one-shot recognition."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from sweeplab.config import Schema
from sweeplab.config.train import TrainConfig
from sweeplab.data import IdentitySet
from sweeplab.models import Encoder, PairClassifier, squared_distances
from sweeplab.training._augment import Augmenter, AugmentSpec
from sweeplab.training._device import resolve_device
from sweeplab.training._tasks._loop import OnEpoch, TaskResult, _loop, _outputs
from sweeplab.training._tasks._losses import mine_triplets, pair_loss, triplet_loss

__all__ = [
    "SiameseArgs",
    "VerificationReport",
    "choose_threshold",
    "dissimilarities",
    "embed",
    "evaluate_verification",
    "one_shot_recognition",
    "train_siamese",
    "verification_pairs",
]


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
    reduction: Literal["sum", "mean"] = Field(
        default="sum",
        description="How the triplet loss combines a batch's triplets: sum (the course's "
        "J = Σ L(A, P, N)) or mean (the step size then does not grow with the number of "
        "margin-violating triplets).",
    )
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
    aug = Augmenter(AugmentSpec.from_config(cfg), seed=cfg.seed)  # identities do not move

    def step(gen: torch.Generator) -> torch.Tensor:
        idx = _pk_batch(by_id, p, args.per_identity, gen).to(device)
        yb, xb = y[idx], aug(x[idx])
        if triplet:
            emb = model(xb)
            a, pos, n = mine_triplets(emb, yb, margin=args.margin, generator=gen)
            counts["pairs"] += int(((yb[:, None] == yb[None, :]).sum() - len(yb)).item())
            counts["violating"] += len(a)
            return triplet_loss(
                emb[a], emb[pos], emb[n], margin=args.margin, reduction=args.reduction
            )
        emb = model.encoder(xb)
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
        batch=p * args.per_identity,
    )
