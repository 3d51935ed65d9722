"""Batch norm at test time: the running μ and σ² are exponentially weighted averages with β =
``train.bn_momentum`` (the course's v = β v + (1 − β) θ), searchable like any train field."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sweeplab.config.train import TrainConfig
from sweeplab.training import TrainData, fit
from sweeplab.training._optim import set_bn_momentum


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
def test_running_averages_follow_the_ewa_formula_batch_by_batch(beta: float) -> None:
    gen = torch.Generator().manual_seed(0)
    bn = nn.BatchNorm1d(3)
    set_bn_momentum(bn, beta)
    bn.train()
    v_mu, v_var = torch.zeros(3), torch.ones(3)  # PyTorch's initial running values
    for t in range(6):
        x = torch.randn(8, 3, generator=gen) * (t + 1) + t  # batches of drifting statistics
        bn(x)
        v_mu = beta * v_mu + (1 - beta) * x.mean(0)
        v_var = beta * v_var + (1 - beta) * x.var(0, unbiased=True)
        torch.testing.assert_close(bn.running_mean, v_mu)
        torch.testing.assert_close(bn.running_var, v_var)


def test_fit_uses_train_bn_momentum_and_test_time_uses_the_averages() -> None:
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(40, 4, generator=gen) * 3 + 2
    y = (X[:, 0] > 2).long()
    model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2))  # BN on the inputs: fixed μ, σ²
    beta, epochs = 0.7, 3
    cfg = TrainConfig(epochs=epochs, batch_size=40, device="cpu", bn_momentum=beta)
    fit(model, TrainData((X, y)), cfg, task="multiclass")
    bn = model[0]
    # One full batch per epoch: after E steps from (0, 1) the averages are closed-form.
    w = 1 - beta**epochs
    torch.testing.assert_close(bn.running_mean, w * X.mean(0))
    torch.testing.assert_close(bn.running_var, beta**epochs + w * X.var(0, unbiased=True))
    # At test time (eval mode) a single example is normalized with those running values.
    x1 = X[:1]
    expected = (x1 - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
    torch.testing.assert_close(bn(x1), expected)


def test_bn_momentum_is_a_checked_searchable_train_field() -> None:
    assert "bn_momentum" in TrainConfig.model_fields
    assert "running" in (TrainConfig.model_fields["bn_momentum"].description or "")
    with pytest.raises(ValueError, match="bn_momentum"):
        TrainConfig(bn_momentum=1.0)
