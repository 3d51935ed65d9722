"""Multi-label (multi-task) learning: unlabeled entries have no effect; per-task errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sweeplab.models import build_model, masked_bce_loss, multilabel_error, task_errors
from sweeplab.models._multitask import label_mask

NAN = float("nan")


def test_loss_is_the_mean_over_labeled_entries_by_hand() -> None:
    logits = torch.tensor([[0.0, 2.0], [-1.0, 3.0]])
    y = torch.tensor([[1.0, NAN], [0.0, -1.0]])
    # labeled: (0,0) y=1 z=0 -> log 2 ; (1,0) y=0 z=-1 -> log(1 + e^-1)
    expected = (math.log(2.0) + math.log(1.0 + math.exp(-1.0))) / 2
    assert masked_bce_loss(logits, y).item() == pytest.approx(expected, rel=1e-6)
    assert label_mask(y).tolist() == [[True, False], [True, False]]


def test_unlabeled_entries_change_neither_loss_nor_gradient() -> None:
    g = torch.Generator().manual_seed(0)
    net = build_model("mlp", {"hidden_units": 8}, input_shape=(5,), num_outputs=3)
    X = torch.randn(6, 5, generator=g)
    y = torch.randint(0, 2, (6, 3), generator=g).float()
    unlabeled = torch.rand(6, 3, generator=g) < 0.4
    unlabeled[0, 0] = True

    def loss_and_grads(y_in):
        net.zero_grad()
        loss = masked_bce_loss(net(X), y_in)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in net.parameters()]

    # both markers of "unlabeled" give the same loss and gradients
    results = [loss_and_grads(torch.where(unlabeled, torch.tensor(f), y)) for f in (NAN, -1.0)]
    y_masked = torch.where(unlabeled, torch.tensor(NAN), y)
    ref_loss, ref_grads = results[0]
    for loss, grads in results[1:]:
        assert loss == pytest.approx(ref_loss, rel=1e-6)
        for a, b in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(a, b)
    # and equal to BCE computed on the labeled entries alone
    keep = ~unlabeled
    manual = F.binary_cross_entropy_with_logits(net(X)[keep], y[keep])
    assert ref_loss == pytest.approx(manual.item(), rel=1e-6)
    assert not torch.isnan(masked_bce_loss(net(X), y_masked))


def test_logits_of_unlabeled_entries_get_zero_gradient() -> None:
    logits = torch.zeros(3, 2, requires_grad=True)
    y = torch.tensor([[1.0, NAN], [-1.0, 0.0], [NAN, NAN]])
    masked_bce_loss(logits, y).backward()
    assert logits.grad[0, 1] == 0 and logits.grad[1, 0] == 0 and (logits.grad[2] == 0).all()
    assert logits.grad[0, 0] != 0 and logits.grad[1, 1] != 0


def test_no_labeled_entry_gives_zero_loss() -> None:
    logits = torch.randn(2, 2, requires_grad=True)
    loss = masked_bce_loss(logits, torch.full((2, 2), NAN))
    assert loss.item() == 0.0
    loss.backward()
    assert (logits.grad == 0).all()


def test_per_task_errors_by_hand() -> None:
    #              pedestrian  car   stop sign
    logits = torch.tensor(
        [
            [2.0, -1.0, 0.5],  # predicts 1, 0, 1
            [-3.0, 1.0, -0.5],  # predicts 0, 1, 0
            [1.0, 1.0, 1.0],  # predicts 1, 1, 1
            [-1.0, -1.0, -1.0],  # predicts 0, 0, 0
        ]
    )
    y = torch.tensor(
        [
            [1.0, 0.0, NAN],  # right, right, unlabeled
            [1.0, 1.0, 0.0],  # wrong, right, right
            [1.0, -1.0, NAN],  # right, unlabeled, unlabeled
            [0.0, 1.0, NAN],  # right, wrong, unlabeled
        ]
    )
    errors = task_errors(logits, y, ["pedestrian", "car", "stop_sign"])
    assert errors == {
        "task_pedestrian_error": pytest.approx(1 / 4),
        "task_car_error": pytest.approx(1 / 3),
        "task_stop_sign_error": pytest.approx(0.0),
    }
    assert multilabel_error(logits, y) == pytest.approx(2 / 8)
    assert set(task_errors(logits, y)) == {"task_0_error", "task_1_error", "task_2_error"}


def test_a_task_without_labels_has_an_unknown_error() -> None:
    errors = task_errors(torch.zeros(2, 2), torch.tensor([[1.0, NAN], [0.0, -1.0]]))
    assert errors["task_0_error"] == pytest.approx(0.5)
    assert math.isnan(errors["task_1_error"])
    assert math.isnan(multilabel_error(torch.zeros(1, 2), torch.full((1, 2), NAN)))


def test_shapes_and_names_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        masked_bce_loss(torch.zeros(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="one entry per task"):
        task_errors(torch.zeros(3, 2), torch.zeros(3, 2), ["a"])
