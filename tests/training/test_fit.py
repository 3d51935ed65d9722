"""fit: mini-batches, metrics, L2, EWMA, early stopping, divergence, callbacks, predict."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from sweeplab.errors import UserError
from sweeplab.models import build_model
from sweeplab.training import (
    DivergedError,
    EpochResult,
    TrainConfig,
    TrainData,
    fit,
    predict,
    resolve_device,
    seed_everything,
)
from sweeplab.training._fit import _Ewma


def _binary(m: int = 200, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(m, d, generator=g)
    w = torch.randn(d, generator=g)
    return X, (X @ w > 0).long()


def _blobs(m: int = 300, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, k, (m,), generator=g)
    centers = 3.0 * torch.randn(k, 4, generator=g)
    return centers[y] + torch.randn(m, 4, generator=g), y


def _model(name: str, d: int, k: int, seed: int = 0, **args):
    seed_everything(seed)
    return build_model(name, args, input_shape=(d,), num_outputs=k)


@contextmanager
def _recorded_steps() -> Iterator[list[float]]:
    """The learning rate of every optimizer step taken inside the block."""
    lrs: list[float] = []
    handle = register_optimizer_step_pre_hook(
        lambda opt, args, kwargs: lrs.append(opt.param_groups[0]["lr"])
    )
    try:
        yield lrs
    finally:
        handle.remove()


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "device": "cpu", **kw})


# ---------------------------------------------------------------- mini-batches and schedule


@pytest.mark.parametrize(
    ("batch_size", "steps_per_epoch"),
    [(200, 1), (10_000, 1), (64, 4), (50, 4), (1, 200)],  # 200 = 3·64 + 8: last batch kept
)
def test_steps_per_epoch(batch_size: int, steps_per_epoch: int) -> None:
    X, y = _binary(200)
    with _recorded_steps() as lrs:
        fit(_model("logreg", 5, 1), TrainData((X, y)), _cfg(batch_size=batch_size), task="binary")
    assert len(lrs) == 3 * steps_per_epoch


def test_schedule_sets_the_optimizer_rate_at_each_epoch_start() -> None:
    X, y = _binary(100)
    cfg = _cfg(epochs=4, batch_size=50, learning_rate=0.2, lr_decay="inverse_time")
    with _recorded_steps() as lrs:
        result = fit(_model("logreg", 5, 1), TrainData((X, y)), cfg, task="binary")
    expected = [0.2 / (1 + e) for e in (1, 2, 3, 4)]
    assert lrs == pytest.approx([r for r in expected for _ in range(2)])
    assert [h["lr"] for h in result.history] == pytest.approx(expected)


def test_same_seed_same_run_other_seed_other_shuffle() -> None:
    X, y = _blobs()

    def run(seed: int) -> list[float]:
        model = _model("mlp", 4, 3, hidden_units=16, keep_prob=0.8)
        result = fit(model, TrainData((X, y)), _cfg(seed=seed, batch_size=32), task="multiclass")
        return [h["train_loss"] for h in result.history]

    assert run(0) == run(0)
    assert run(0) != run(1)


# ---------------------------------------------------------------- metrics


def test_metric_names_and_ranges() -> None:
    X, y = _blobs(300)
    data = TrainData(
        (X[:200], y[:200]), {"train_dev": (X[200:250], y[200:250]), "dev": (X[250:], y[250:])}
    )
    seen: list[EpochResult] = []
    model = _model("softmax", 4, 3)
    result = fit(model, data, _cfg(), task="multiclass", on_epoch=seen.append)
    expected = {
        "epoch", "lr", "train_loss", "train_loss_ewma", "train_error", "train_dev_error",
        "train_dev_loss", "dev_error", "dev_loss", "epoch_time_s",
    }  # fmt: skip
    assert [r.epoch for r in seen] == [1, 2, 3]
    assert [r.metrics for r in seen] == result.history
    for row in result.history:
        assert set(row) == expected
        assert all(0.0 <= row[k] <= 1.0 for k in ("train_error", "train_dev_error", "dev_error"))
        assert row["epoch_time_s"] > 0.0
    # The train error is measured on the whole training set in eval mode.
    labels, _ = predict(model, X[:200], task="multiclass")
    assert result.history[-1]["train_error"] == pytest.approx(np.mean(labels != y[:200].numpy()))
    assert (result.epochs_run, result.stopped_early, result.final) == (3, False, result.history[-1])


def test_without_eval_sets_only_train_metrics() -> None:
    X, y = _binary()
    result = fit(_model("logreg", 5, 1), TrainData((X, y)), _cfg(), task="binary")
    assert set(result.history[0]) == {
        "epoch", "lr", "train_loss", "train_loss_ewma", "train_error", "epoch_time_s",
    }  # fmt: skip
    assert result.best_epoch == 3


def test_unknown_eval_set_and_bad_labels_are_user_errors() -> None:
    X, y = _binary()
    with pytest.raises(UserError, match="unknown evaluation set 'test'"):
        fit(_model("logreg", 5, 1), TrainData((X, y), {"test": (X, y)}), _cfg(), task="binary")
    with pytest.raises(UserError, match="labels 0 / 1"):
        fit(_model("logreg", 5, 1), TrainData((X, y + 1)), _cfg(), task="binary")
    with pytest.raises(UserError, match="one output logit"):
        fit(_model("softmax", 5, 3), TrainData((X, y)), _cfg(), task="binary")
    with pytest.raises(UserError, match=r"labels in 0 … num_outputs−1 = 2"):
        fit(_model("softmax", 5, 3), TrainData((X, y + 2)), _cfg(), task="multiclass")
    with pytest.raises(UserError, match="unknown training task"):
        fit(_model("logreg", 5, 1), TrainData((X, y)), _cfg(), task="regression")


# ---------------------------------------------------------------- cost: L2 and EWMA


def test_reported_cost_includes_the_l2_term() -> None:
    X, y = _binary(100)
    lam = 3.0
    model = _model("mlp", 5, 1, hidden_units=8, init="xavier")
    with torch.no_grad():  # the cost of the first (only) step, at the initial weights
        data_cost = torch.nn.functional.binary_cross_entropy_with_logits(model(X)[:, 0], y.float())
        sq = sum((p**2).sum() for n, p in model.named_parameters() if n.endswith("weight"))
    cfg = _cfg(epochs=1, batch_size=100, optimizer="gd", learning_rate=0.01, l2=lam)
    result = fit(model, TrainData((X, y)), cfg, task="binary")
    expected = data_cost.item() + lam / (2 * 100) * sq.item()
    assert result.history[0]["train_loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["logreg", "mlp"])
def test_l2_shrinks_the_weights(name: str) -> None:
    X, y = _binary(200)
    norms = []
    for lam in (0.0, 5.0):
        model = _model(name, 5, 1, init="xavier")
        cfg = _cfg(epochs=30, batch_size=50, optimizer="adam", learning_rate=0.05, l2=lam)
        fit(model, TrainData((X, y)), cfg, task="binary")
        norms.append(sum((p**2).sum().item() for p in model.parameters() if p.ndim >= 2))
    assert norms[1] < 0.5 * norms[0]


def test_ewma_first_value_is_the_first_loss() -> None:
    X, y = _binary(100)
    cfg = _cfg(epochs=2, batch_size=100, optimizer="gd", learning_rate=0.1, ewma_beta=0.98)
    result = fit(_model("logreg", 5, 1, init="xavier"), TrainData((X, y)), cfg, task="binary")
    first = result.history[0]
    assert first["train_loss_ewma"] == pytest.approx(first["train_loss"], rel=1e-6)
    l1, l2 = first["train_loss"], result.history[1]["train_loss"]
    beta = 0.98
    expected = (beta * (1 - beta) * l1 + (1 - beta) * l2) / (1 - beta**2)
    assert result.history[1]["train_loss_ewma"] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("beta", [0.0, 0.9, 0.98])
def test_vectorized_ewma_equals_the_step_by_step_formula(beta: float) -> None:
    g = torch.Generator().manual_seed(0)
    epochs = [torch.rand(n, generator=g) for n in (1, 5, 40)]
    ewma, v, t = _Ewma(beta, torch.device("cpu")), 0.0, 0
    for losses in epochs:
        got = ewma.update(losses).item()
        for loss in losses.tolist():
            t += 1
            v = beta * v + (1 - beta) * loss
        assert got == pytest.approx(v / (1 - beta**t), rel=1e-9)


# ---------------------------------------------------------------- early stopping


def _flipped_dev() -> TrainData:
    """Dev labels are the opposite of train labels: dev error rises as training succeeds."""
    X, y = _binary(200)
    return TrainData((X[:150], y[:150]), {"dev": (X[150:], 1 - y[150:])})


def test_early_stopping_stops_and_restores_the_best_weights() -> None:
    model = _model("logreg", 5, 1)
    states: list[dict[str, torch.Tensor]] = []

    def snapshot(r: EpochResult) -> None:
        states.append({k: v.clone() for k, v in model.state_dict().items()})

    cfg = _cfg(
        epochs=50, batch_size=16, optimizer="gd", learning_rate=0.02, early_stopping_patience=3
    )
    result = fit(model, _flipped_dev(), cfg, task="binary", on_epoch=snapshot)
    dev = [h["dev_error"] for h in result.history]
    assert result.stopped_early
    assert result.best_epoch == 1 + int(np.argmin(dev))
    assert result.epochs_run == result.best_epoch + 3 < 50
    assert result.final == result.history[result.best_epoch - 1]
    best, last = states[result.best_epoch - 1], states[-1]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, best[key], rtol=0, atol=0)
    assert not torch.equal(best["linear.weight"], last["linear.weight"])


def test_without_patience_all_epochs_run_and_final_is_the_last() -> None:
    cfg = _cfg(epochs=8, batch_size=16, optimizer="gd", learning_rate=0.02)
    result = fit(_model("logreg", 5, 1), _flipped_dev(), cfg, task="binary")
    assert (result.epochs_run, result.stopped_early) == (8, False)
    assert result.final == result.history[-1]
    assert result.best_epoch == 1 + int(np.argmin([h["dev_error"] for h in result.history]))


def test_early_stopping_without_dev_set_is_a_user_error() -> None:
    X, y = _binary()
    data = TrainData((X, y), {"train_dev": (X, y)})
    with pytest.raises(UserError, match="no dev set"):
        fit(_model("logreg", 5, 1), data, _cfg(early_stopping_patience=2), task="binary")


# ---------------------------------------------------------------- failures


def test_nan_loss_raises_diverged_error_within_a_few_steps() -> None:
    X, y = _binary(1000)
    X[7] = float("nan")
    position = int(
        (torch.randperm(1000, generator=torch.Generator().manual_seed(0)) == 7).nonzero()
    )
    cfg = _cfg(epochs=5, batch_size=1)
    with _recorded_steps() as lrs, pytest.raises(DivergedError) as info:
        fit(_model("logreg", 5, 1), TrainData((X, y)), cfg, task="binary")
    err = info.value
    assert (err.epoch, err.step) == (1, position + 1)
    assert math.isnan(err.value)
    assert f"epoch 1, step {position + 1}" in str(err) and "nan" in str(err)
    assert len(lrs) <= (position // 32 + 1) * 32  # caught at the next check, not the epoch end


def test_huge_learning_rate_diverges() -> None:
    X, y = _blobs(300)
    cfg = _cfg(epochs=20, batch_size=300, optimizer="gd", learning_rate=1e30)
    model = _model("mlp", 4, 3, hidden_units=32)
    with pytest.raises(DivergedError, match="training diverged"):
        fit(model, TrainData((X * 1e6, y)), cfg, task="multiclass")


def test_on_epoch_exception_propagates_and_stops_training() -> None:
    class Pruned(Exception):
        pass

    calls: list[int] = []

    def prune_at_two(r: EpochResult) -> None:
        calls.append(r.epoch)
        if r.epoch == 2:
            raise Pruned

    X, y = _binary()
    with pytest.raises(Pruned):
        fit(
            _model("logreg", 5, 1),
            TrainData((X, y)),
            _cfg(epochs=10),
            task="binary",
            on_epoch=prune_at_two,
        )
    assert calls == [1, 2]


def test_batch_norm_with_a_single_leftover_example_trains() -> None:
    X, y = _blobs(65)  # 65 = 64 + 1: the example left over is skipped, not a crash
    model = _model("mlp", 4, 3, hidden_units=8, batch_norm=True)
    with _recorded_steps() as lrs:
        fit(model, TrainData((X, y)), _cfg(epochs=2, batch_size=64), task="multiclass")
    assert len(lrs) == 2
    with pytest.raises(UserError, match="batch_size >= 2"):
        fit(model, TrainData((X, y)), _cfg(batch_size=1), task="multiclass")


# ---------------------------------------------------------------- predict, device, seeding


@pytest.mark.parametrize(("name", "task", "k"), [("logreg", "binary", 1), ("mlp", "multiclass", 3)])
def test_predict_labels_and_probabilities(name: str, task: str, k: int) -> None:
    X, y = _blobs(50) if task == "multiclass" else _binary(50, d=4)
    model = _model(name, 4, k, init="xavier").train()
    labels, probs = predict(model, X, task=task, batch_size=16)
    assert model.training  # mode restored
    assert labels.shape == (50,) and labels.dtype == np.int64
    if task == "binary":
        assert probs.shape == (50,) and ((probs >= 0) & (probs <= 1)).all()
        assert (labels == (probs > 0.5)).all()
    else:
        assert probs.shape == (50, 3)
        np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
        assert (labels == probs.argmax(1)).all()


def test_resolve_device(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(UserError, match="cuda"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_seed_everything_fixes_the_initial_weights() -> None:
    a, b, c = (_model("mlp", 4, 3, seed=s).state_dict() for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["out.weight"], c["out.weight"])
