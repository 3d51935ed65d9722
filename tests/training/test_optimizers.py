"""Optimizer updates against the course's formulas by hand, and the learning-rate schedules."""

from __future__ import annotations

import math

import pytest
import torch

from sweeplab.training import EWMAMomentum, TrainConfig, learning_rate_at, make_optimizer

W0 = [0.5, -1.0, 2.0]
GRADS = [[0.3, -0.2, 1.5], [-0.1, 0.4, 0.5], [0.2, 0.2, -2.0]]


def _run(cfg: TrainConfig) -> tuple[torch.optim.Optimizer, list[torch.Tensor]]:
    """Apply the fixed gradients GRADS for three steps; return the weights after each step."""
    w = torch.nn.Parameter(torch.tensor(W0, dtype=torch.float64))
    opt = make_optimizer([w], cfg)
    after = []
    for g in GRADS:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        after.append(w.detach().clone())
    return opt, after


def _close(actual: torch.Tensor, expected: list[float]) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=torch.float64))


def test_gd_step() -> None:
    _, after = _run(TrainConfig(optimizer="gd", learning_rate=0.1))
    _close(after[0], [w - 0.1 * g for w, g in zip(W0, GRADS[0], strict=True)])


def test_momentum_is_the_ewma_form_not_pytorchs() -> None:
    lr, beta = 0.1, 0.9
    opt, after = _run(TrainConfig(optimizer="momentum", learning_rate=lr, beta=beta))
    assert isinstance(opt, EWMAMomentum)
    w, v = list(W0), [0.0] * 3
    for step, g in enumerate(GRADS):
        v = [beta * vi + (1 - beta) * gi for vi, gi in zip(v, g, strict=True)]
        w = [wi - lr * vi for wi, vi in zip(w, v, strict=True)]
        _close(after[step], w)
    # One step by hand: v = 0.1·dW, so W moves by α·0.1·dW (PyTorch's SGD would move α·dW).
    _close(after[0], [0.5 - 0.1 * 0.1 * 0.3, -1.0 + 0.1 * 0.1 * 0.2, 2.0 - 0.1 * 0.1 * 1.5])


def test_rmsprop_matches_the_formula_with_eps_outside_the_root() -> None:
    lr, beta2, eps = 0.01, 0.9, 1e-2  # a large ε tells √S + ε from √(S + ε)
    _, after = _run(TrainConfig(optimizer="rmsprop", learning_rate=lr, beta2=beta2, epsilon=eps))
    w, s = list(W0), [0.0] * 3
    for step, g in enumerate(GRADS):
        s = [beta2 * si + (1 - beta2) * gi**2 for si, gi in zip(s, g, strict=True)]
        w = [wi - lr * gi / (math.sqrt(si) + eps) for wi, gi, si in zip(w, g, s, strict=True)]
        _close(after[step], w)


def test_adam_matches_the_bias_corrected_formula() -> None:
    lr, b1, b2, eps = 0.01, 0.8, 0.95, 1e-3
    cfg = TrainConfig(optimizer="adam", learning_rate=lr, beta1=b1, beta2=b2, epsilon=eps)
    _, after = _run(cfg)
    w, v, s = list(W0), [0.0] * 3, [0.0] * 3
    for t, g in enumerate(GRADS, start=1):
        v = [b1 * vi + (1 - b1) * gi for vi, gi in zip(v, g, strict=True)]
        s = [b2 * si + (1 - b2) * gi**2 for si, gi in zip(s, g, strict=True)]
        w = [
            wi - lr * (vi / (1 - b1**t)) / (math.sqrt(si / (1 - b2**t)) + eps)
            for wi, vi, si in zip(w, v, s, strict=True)
        ]
        _close(after[t - 1], w)


def test_momentum_rejects_bad_hyperparameters() -> None:
    p = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ValueError, match="0 <= beta < 1"):
        EWMAMomentum(p, lr=0.1, beta=1.0)
    with pytest.raises(ValueError, match="lr > 0"):
        EWMAMomentum(p, lr=0.0)


# ---------------------------------------------------------------- learning-rate schedules


def test_no_decay_keeps_the_rate() -> None:
    cfg = TrainConfig(learning_rate=0.3)
    assert [learning_rate_at(cfg, e) for e in (1, 5, 100)] == [0.3, 0.3, 0.3]


def test_inverse_time_reproduces_the_course_table() -> None:
    # α0 = 0.2, decay_rate = 1: epochs 1…4 use 0.1, 0.067, 0.05, 0.04.
    cfg = TrainConfig(learning_rate=0.2, lr_decay="inverse_time", decay_rate=1.0)
    rates = [learning_rate_at(cfg, e) for e in (1, 2, 3, 4)]
    assert rates == pytest.approx([0.1, 0.2 / 3, 0.05, 0.04])


def test_exponential_decay() -> None:
    cfg = TrainConfig(learning_rate=0.2, lr_decay="exponential", decay_base=0.95)
    assert [learning_rate_at(cfg, e) for e in (1, 2, 10)] == pytest.approx(
        [0.2 * 0.95, 0.2 * 0.95**2, 0.2 * 0.95**10]
    )


def test_inverse_sqrt_decay_counts_epochs_from_one() -> None:
    cfg = TrainConfig(learning_rate=0.2, lr_decay="inverse_sqrt", decay_k=0.5)
    assert [learning_rate_at(cfg, e) for e in (1, 4, 9)] == pytest.approx([0.1, 0.05, 0.2 / 6])
    with pytest.raises(ValueError, match="epoch >= 1"):
        learning_rate_at(cfg, 0)


def test_step_decay() -> None:
    cfg = TrainConfig(learning_rate=0.2, lr_decay="step", decay_step=3, decay_gamma=0.5)
    rates = [learning_rate_at(cfg, e) for e in range(1, 8)]
    assert rates == pytest.approx([0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05])
