"""Multi-label (multi-task) learning: masked loss, per-label errors, and ``fit`` with them."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sweeplab.errors import UserError
from sweeplab.models import build_model
from sweeplab.training import (
    TrainConfig,
    TrainData,
    fit,
    label_errors,
    masked_bce_loss,
    multilabel_error,
    predict,
    seed_everything,
)
from sweeplab.training._task import label_mask, label_metric_names, prepare_targets

NAN = float("nan")


# -- the loss ---------------------------------------------------------------------------------


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

    def loss_and_grads(y_in: torch.Tensor) -> tuple[float, list[torch.Tensor]]:
        net.zero_grad()
        loss = masked_bce_loss(net(X), y_in)
        loss.backward()
        return loss.item(), [p.grad.clone() for p in net.parameters()]

    # NaN, -1, and (had they been labeled) 0 or 1 under the mask: the same loss, bit for bit
    ref_loss, ref_grads = loss_and_grads(torch.where(unlabeled, torch.tensor(NAN), y))
    for marker in (-1.0,):
        loss, grads = loss_and_grads(torch.where(unlabeled, torch.tensor(marker), y))
        assert loss == ref_loss
        for a, b in zip(grads, ref_grads, strict=True):
            assert torch.equal(a, b)
    # and equal to BCE computed on the labeled entries alone
    manual = F.binary_cross_entropy_with_logits(net(X)[~unlabeled], y[~unlabeled])
    assert ref_loss == pytest.approx(manual.item(), rel=1e-6)


def test_logits_of_unlabeled_entries_get_exactly_zero_gradient() -> None:
    logits = torch.zeros(3, 2, requires_grad=True)
    y = torch.tensor([[1.0, NAN], [-1.0, 0.0], [NAN, NAN]])
    masked_bce_loss(logits, y).backward()
    assert logits.grad[0, 1] == 0 and logits.grad[1, 0] == 0 and (logits.grad[2] == 0).all()
    assert logits.grad[0, 0] != 0 and logits.grad[1, 1] != 0


def test_no_labeled_entry_gives_zero_loss_and_gradient() -> None:
    logits = torch.randn(2, 2, requires_grad=True)
    loss = masked_bce_loss(logits, torch.full((2, 2), NAN))
    assert loss.item() == 0.0
    loss.backward()
    assert (logits.grad == 0).all()


def test_prepare_targets_turns_the_minus_one_marker_into_nan() -> None:
    y = prepare_targets(torch.tensor([[1, -1], [0, 1]]), "multilabel")
    assert y.dtype == torch.float32 and y.shape == (2, 2)
    assert torch.isnan(y[0, 1]) and y[0, 0] == 1 and y[1, 0] == 0


# -- the errors -------------------------------------------------------------------------------

#              pedestrian  car   stop sign
LOGITS = torch.tensor(
    [
        [2.0, -1.0, 0.5],  # predicts 1, 0, 1
        [-3.0, 1.0, -0.5],  # predicts 0, 1, 0
        [1.0, 1.0, 1.0],  # predicts 1, 1, 1
        [-1.0, -1.0, -1.0],  # predicts 0, 0, 0
    ]
)
Y = torch.tensor(
    [
        [1.0, 0.0, NAN],  # right, right, unlabeled
        [1.0, 1.0, 0.0],  # wrong, right, right
        [1.0, -1.0, NAN],  # right, unlabeled, unlabeled
        [0.0, 1.0, NAN],  # right, wrong, unlabeled
    ]
)


def test_per_label_errors_by_hand() -> None:
    errors = label_errors(LOGITS, Y)
    assert errors.tolist() == pytest.approx([1 / 4, 1 / 3, 0.0])


def test_the_task_error_is_the_mean_of_the_per_label_errors() -> None:
    # macro: (1/4 + 1/3 + 0) / 3 = 7/36, not the share of wrong labeled entries (2/8)
    assert multilabel_error(LOGITS, Y) == pytest.approx(7 / 36)
    # with every entry labeled the two agree (the Hamming loss)
    full = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    wrong = ((LOGITS > 0).float() != full).float().mean().item()
    assert multilabel_error(LOGITS, full) == pytest.approx(wrong)


def test_a_label_without_labeled_examples_has_an_unknown_error() -> None:
    errors = label_errors(torch.zeros(2, 2), torch.tensor([[1.0, NAN], [0.0, -1.0]]))
    assert errors[0].item() == pytest.approx(0.5) and math.isnan(errors[1].item())
    assert multilabel_error(torch.zeros(2, 2), torch.tensor([[1.0, NAN], [0.0, -1.0]])) == 0.5
    assert math.isnan(multilabel_error(torch.zeros(1, 2), torch.full((1, 2), NAN)))


def test_shapes_are_checked_and_names_made_metric_safe() -> None:
    with pytest.raises(ValueError, match=r"\(N, T\)"):
        masked_bce_loss(torch.zeros(3, 2), torch.zeros(3))
    assert label_metric_names(["stop sign", "car", "traffic/light"]) == [
        "stop_sign",
        "car",
        "traffic_light",
    ]
    with pytest.raises(UserError, match="distinct"):
        label_metric_names(["stop sign", "stop_sign"])


# -- fit ----------------------------------------------------------------------------------------

LABELS = ("stop sign", "car", "pedestrian")


def _data(m: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three labels, each a linear threshold of the inputs; ~25% of the entries unlabeled."""
    W = torch.randn(6, 3, generator=torch.Generator().manual_seed(42))  # one rule for every set
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(m, 6, generator=g)
    y = (X @ W > 0).float()
    y[torch.rand(m, 3, generator=g) < 0.25] = NAN
    return X, y


def _fit(y_train: torch.Tensor | None = None, **cfg_args):
    X, y = _data(240, 0)
    Xd, yd = _data(120, 1)
    yd[:, 2] = NAN  # the dev set has no pedestrian labels at all
    seed_everything(0)
    model = build_model("mlp", {"hidden_units": 16}, input_shape=(6,), num_outputs=3)
    cfg = TrainConfig(**{"epochs": 6, "batch_size": 32, "learning_rate": 0.01, **cfg_args})
    data = TrainData(
        train=(X, y if y_train is None else y_train),
        evals={"train_dev": _data(60, 2), "dev": (Xd, yd)},
        labels=LABELS,
    )
    return model, fit(model, data, cfg, task="multilabel"), (Xd, yd)


def test_fit_logs_per_label_errors_every_epoch_and_learns() -> None:
    model, result, (Xd, yd) = _fit()
    per_label = {
        f"{s}_error_{n}" for s in ("train", "train_dev") for n in ("stop_sign", "car", "pedestrian")
    }
    per_label |= {"dev_error_stop_sign", "dev_error_car"}  # no pedestrian label in dev
    for row in result.history:
        assert per_label <= set(row) and "dev_error_pedestrian" not in row
        for s in ("train", "train_dev"):
            mean = sum(row[f"{s}_error_{n}"] for n in ("stop_sign", "car", "pedestrian")) / 3
            assert row[f"{s}_error"] == pytest.approx(mean)
        assert row["dev_error"] == pytest.approx(
            (row["dev_error_stop_sign"] + row["dev_error_car"]) / 2
        )
        assert all(math.isfinite(row[k]) for k in ("dev_loss", "train_dev_loss", "train_loss"))
    final = result.history[-1]
    assert final["dev_error"] < 0.25  # learns: guessing is wrong about half the time
    # the logged dev error is what the model predicts on dev, per label
    labels, probs = predict(model, Xd, task="multilabel")
    assert labels.shape == probs.shape == (120, 3)
    errors = label_errors(torch.logit(torch.as_tensor(probs).double().clamp(1e-12, 1 - 1e-12)), yd)
    assert final["dev_error_car"] == pytest.approx(errors[1].item())


def test_the_unlabeled_marker_does_not_change_training() -> None:
    X, y = _data(240, 0)
    _, with_nan, _ = _fit()
    _, with_minus_one, _ = _fit(torch.where(torch.isnan(y), torch.tensor(-1.0), y))
    drop = {"epoch_time_s"}
    for a, b in zip(with_nan.history, with_minus_one.history, strict=True):
        assert {k: v for k, v in a.items() if k not in drop} == {
            k: v for k, v in b.items() if k not in drop
        }


def test_early_stopping_and_schedules_keep_working() -> None:
    _, result, _ = _fit(
        epochs=12,
        early_stopping_patience=2,
        learning_rate=0.05,
        lr_decay="inverse_time",
        decay_rate=0.5,
    )
    best = min(range(result.epochs_run), key=lambda i: result.history[i]["dev_error"]) + 1
    assert result.best_epoch == best
    assert result.final["dev_error"] == result.history[best - 1]["dev_error"]


def test_metric_names_default_to_column_numbers() -> None:
    X, y = _data(64, 0)
    model = build_model("mlp", {"hidden_units": 4}, input_shape=(6,), num_outputs=3)
    result = fit(model, TrainData(train=(X, y)), TrainConfig(epochs=1), task="multilabel")
    assert {"train_error_0", "train_error_1", "train_error_2"} <= set(result.final)


def test_mismatched_targets_and_tasks_get_one_clear_error() -> None:
    X, y = _data(32, 0)
    mlp3 = build_model("mlp", {"hidden_units": 4}, input_shape=(6,), num_outputs=3)
    with pytest.raises(UserError, match="task: multilabel"):
        fit(mlp3, TrainData(train=(X, y)), TrainConfig(epochs=1), task="multiclass")
    with pytest.raises(UserError, match=r"shape \(N, T\)"):
        fit(mlp3, TrainData(train=(X, y[:, 0])), TrainConfig(epochs=1), task="multilabel")
    mlp2 = build_model("mlp", {"hidden_units": 4}, input_shape=(6,), num_outputs=2)
    with pytest.raises(UserError, match="num_outputs=3"):
        fit(mlp2, TrainData(train=(X, y)), TrainConfig(epochs=1), task="multilabel")
    with pytest.raises(UserError, match="0 / 1"):
        fit(mlp3, TrainData(train=(X, y * 2)), TrainConfig(epochs=1), task="multilabel")
    with pytest.raises(UserError, match="no labeled entry"):
        dev = (X, torch.full_like(y, NAN))
        fit(
            mlp3,
            TrainData(train=(X, y), evals={"dev": dev}),
            TrainConfig(epochs=1),
            task="multilabel",
        )
