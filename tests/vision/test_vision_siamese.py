"""Siamese verification: triplet loss, mining, the binary head, thresholds and one-shot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sweeplab.data._generated import identities
from sweeplab.models._siamese import Encoder, EncoderArgs, PairClassifier, squared_distances
from sweeplab.training import TrainConfig, seed_everything
from sweeplab.training._tasks import (
    SiameseArgs,
    choose_threshold,
    dissimilarities,
    evaluate_verification,
    mine_triplets,
    one_shot_recognition,
    pair_loss,
    train_siamese,
    triplet_loss,
    verification_pairs,
)


def test_triplet_loss_matches_the_formula() -> None:
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.1, 0.0]])  # d(A, P) = 1, 0.01
    n = torch.tensor([[0.0, 1.2], [2.0, 0.0]])  # d(A, N) = 1.44, 4
    # max(1 − 1.44 + 0.5, 0) = 0.06; max(0.01 − 4 + 0.5, 0) = 0; J = Σ over triplets.
    assert triplet_loss(a, p, n, margin=0.5).item() == pytest.approx(0.06)
    assert triplet_loss(a, p, n, margin=0.5, reduction="mean").item() == pytest.approx(0.03)
    assert triplet_loss(a, p, n, margin=0.4).item() == pytest.approx(0.0)
    # f(x) = constant satisfies ‖f(A)−f(P)‖² <= ‖f(A)−f(N)‖² but not the margin: α per triplet.
    c = torch.ones(3, 4)
    assert triplet_loss(c, c, c, margin=0.2).item() == pytest.approx(0.6)
    assert triplet_loss(c, c, c, margin=0.2, reduction="mean").item() == pytest.approx(0.2)
    assert triplet_loss(torch.zeros(0, 4), torch.zeros(0, 4), torch.zeros(0, 4), margin=0.2) == 0


def test_mining_returns_only_triplets_that_violate_the_margin() -> None:
    # Identity 0 at x ≈ 0, identity 1 at x ≈ 1, identity 2 far away at x = 10.
    emb = torch.tensor([[0.0], [0.1], [1.0], [1.1], [10.0], [10.2]])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    gen = torch.Generator().manual_seed(0)
    a, p, n = mine_triplets(emb, labels, margin=1.0, generator=gen)
    assert len(a) > 0
    d = squared_distances(emb, emb)
    assert (labels[a] == labels[p]).all() and (a != p).all() and (labels[a] != labels[n]).all()
    assert (d[a, p] - d[a, n] + 1.0 > 0).all()  # every mined triplet still has a loss
    assert not ((labels[a] == 2) | (labels[n] == 2)).any()  # identity 2 is already far enough
    assert triplet_loss(emb[a], emb[p], emb[n], margin=1.0) > 0
    # A small margin that every triplet satisfies: nothing left to mine.
    a, _, _ = mine_triplets(emb, labels, margin=0.01)
    assert len(a) == 0


def test_pair_loss_is_logistic() -> None:
    logits = torch.tensor([0.0, 2.0])
    expected = -(np.log(0.5) + np.log(1 - 1 / (1 + np.exp(-2.0)))) / 2
    assert pair_loss(logits, torch.tensor([1, 0])).item() == pytest.approx(expected, rel=1e-5)


def test_encoder_and_binary_head_shapes() -> None:
    torch.manual_seed(0)
    enc = Encoder(EncoderArgs(filters=4, embedding_dim=128), input_shape=(1, 16, 16))
    x = torch.randn(5, 1, 16, 16)
    e = enc(x)
    assert e.shape == (5, 128)
    assert torch.allclose(e.norm(dim=1), torch.ones(5), atol=1e-5)  # normalized encodings
    head = PairClassifier(enc)
    assert head(x, x.flip(0)).shape == (5,)
    # Same weights for both images: swapping the pair does not change the answer.
    assert torch.allclose(head(x, x.flip(0)), head(x.flip(0), x))


@torch.no_grad()
def test_dissimilarities_of_both_heads() -> None:
    torch.manual_seed(0)
    enc = Encoder(EncoderArgs(filters=4, embedding_dim=8), input_shape=(1, 16, 16)).eval()
    head = PairClassifier(enc).eval()
    e = enc(torch.randn(6, 1, 16, 16))
    torch.testing.assert_close(
        dissimilarities(enc, e, e[:4]), ((e[:, None] - e[None, :4]) ** 2).sum(-1)
    )
    pairs = -head.logit(e.repeat_interleave(4, 0), e[:4].repeat(6, 1)).view(6, 4)
    torch.testing.assert_close(dissimilarities(head, e, e[:4]), pairs)


def test_threshold_choice_and_one_shot_answers() -> None:
    d = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.25])
    same = np.array([True, True, True, False, False, False])
    tau, acc = choose_threshold(d, same)
    assert acc == pytest.approx(5 / 6)  # no threshold separates 0.25 (other) from 0.3 (same)
    assert np.mean((d <= tau) == same) == pytest.approx(acc)
    tau, acc = choose_threshold(np.array([0.1, 0.2, 0.3, 0.8, 0.9]), same[:5])
    assert (tau, acc) == (pytest.approx(0.55), 1.0)  # the midpoint of the gap
    assert choose_threshold(np.array([0.1, 0.9]), np.array([True, False])) == (0.5, 1.0)
    # Query 0 is near reference 7, query 1 near reference 9, query 2 near nothing.
    d_qr = np.array([[0.1, 0.9], [0.8, 0.2], [2.0, 3.0]])
    assert one_shot_recognition(d_qr, np.array([7, 9]), 0.5).tolist() == [7, 9, -1]


def test_verification_pairs_are_balanced() -> None:
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    i, j, same = verification_pairs(labels, seed=0)
    assert (i < j).all()
    assert same.sum() == 3 + 1 + 3 and (~same).sum() == same.sum()
    assert (same == (labels.numpy()[i] == labels.numpy()[j])).all()


def test_identities_are_seeded_and_grouped() -> None:
    a, b = identities(5, 3, seed=1), identities(5, 3, seed=1)
    assert torch.equal(a.images, b.images)
    assert a.images.shape == (15, 1, 16, 16)
    assert a.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]
    sub = a.subset([1, 3])
    assert sub.labels.tolist() == [1, 1, 1, 3, 3, 3]


def _splits():
    # 120 training identities; dev, test and distractor identities never seen in training.
    data = identities(160, 5, seed=0)
    return (
        data.subset(range(120)),
        data.subset(range(120, 136)),
        data.subset(range(136, 154)),
        data.subset(range(154, 160)),
    )


@pytest.mark.parametrize(
    ("head", "epochs", "lr", "min_accuracy", "min_one_shot"),
    # the binary head learns slower; the triplet loss sums over the batch's triplets
    [("triplet", 5, 1e-3, 0.7, 0.3), ("binary", 8, 3e-3, 0.65, 0.2)],
)
def test_siamese_network_verifies_and_recognizes_unseen_identities(
    head: str, epochs: int, lr: float, min_accuracy: float, min_one_shot: float
) -> None:
    train, dev, test, distractors = _splits()
    seed_everything(0)
    enc = Encoder(EncoderArgs(filters=8, hidden=64, embedding_dim=32), input_shape=(1, 16, 16))
    model = enc if head == "triplet" else PairClassifier(enc)
    before = evaluate_verification(model, dev, test, distractors=distractors)
    cfg = TrainConfig(epochs=epochs, batch_size=32, learning_rate=lr, device="cpu", seed=0)
    result = train_siamese(model, train, cfg, dev=dev, args=SiameseArgs(margin=0.2))
    after = evaluate_verification(model, dev, test, distractors=distractors)
    assert result.final["dev_error"] == pytest.approx(1 - after.dev_accuracy)
    # Pairs are balanced (chance 0.5); one-shot has 18 identities + "not recognized"
    # (chance about 1/19).
    assert after.test_accuracy > min_accuracy, (before, after, result.history)
    assert after.test_accuracy > before.test_accuracy + 0.1
    assert after.one_shot_accuracy > min_one_shot
    assert after.one_shot_accuracy > before.one_shot_accuracy
    if head == "triplet":
        assert result.history[-1]["violating"] < result.history[0]["violating"]
