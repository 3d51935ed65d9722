"""Gradient checking: right backward passes pass (< 1e-7), a wrong one fails (> 1e-3)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from sweeplab.training._gradcheck import _sample, gradcheck, verdict


def _data(shape: tuple[int, ...], k: int = 3, m: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(m, *shape, generator=g), torch.randint(k, (m,), generator=g)


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    from sweeplab.models import MODELS

    if "mlp" in MODELS:
        spec = MODELS.get("mlp")
        args = spec.args(hidden_sizes=[7, 5], activation="tanh")
        return spec.build(args, input_shape=(4,), num_outputs=3)
    return nn.Sequential(nn.Linear(4, 7), nn.Tanh(), nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3))


def _lenet() -> nn.Module:
    from sweeplab.models import build_model

    torch.manual_seed(0)
    args = {
        "conv1_filters": 2,
        "conv2_filters": 3,
        "fc1_units": 8,
        "fc2_units": 6,
        "kernel_size": 3,
        "padding": "same",
    }
    return build_model("lenet5", args, input_shape=(1, 8, 8), num_outputs=3)


def _resnet() -> nn.Module:
    from sweeplab.models import build_model

    torch.manual_seed(0)
    args = {"blocks_per_stage": [1, 1], "base_width": 2, "activation": "tanh"}
    return build_model("resnet", args, input_shape=(1, 6, 6), num_outputs=3)


def test_passes_on_a_small_mlp() -> None:
    X, y = _data((4,))
    result = gradcheck(_mlp(), X, y, loss_fn=F.cross_entropy)
    assert result.passed
    assert result.relative_difference < 1e-7
    n_params = sum(p.numel() for p in _mlp().parameters())
    assert result.n_checked == min(n_params, 200)


@pytest.mark.parametrize("make", [_lenet, _resnet], ids=["lenet5", "resnet"])
def test_passes_on_small_cnns(make) -> None:
    X, y = _data((1, 8, 8) if make is _lenet else (1, 6, 6))
    result = gradcheck(make(), X, y, loss_fn=F.cross_entropy, max_params=150)
    assert result.passed, result
    assert result.relative_difference < 1e-7
    assert result.n_checked == 150


class _WrongTanh(torch.autograd.Function):
    """tanh with a backward pass that forgets the square: 1 - y instead of 1 - y²."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return grad * (1 - y)  # bug: should be (1 - y**2)


class _WrongTanhLayer(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _WrongTanh.apply(x)


def test_fails_when_the_backward_pass_is_wrong() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), _WrongTanhLayer(), nn.Linear(6, 3))
    X, y = _data((4,))
    result = gradcheck(model, X, y, loss_fn=F.cross_entropy)
    assert not result.passed
    assert result.relative_difference > 1e-3
    assert result.worst_param == "0.weight" or result.worst_param == "0.bias"


def test_dropout_is_off_and_the_model_is_untouched() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.5), nn.Linear(8, 3)).train()
    before = [p.detach().clone() for p in model.parameters()]
    X, y = _data((4,))
    result = gradcheck(model, X, y, loss_fn=F.cross_entropy)
    assert result.passed, result  # with dropout on, J would change between evaluations
    assert model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert all(p.grad is None for p in model.parameters())


def test_same_seed_same_result() -> None:
    X, y = _data((1, 8, 8))
    a = gradcheck(_lenet(), X, y, loss_fn=F.cross_entropy, max_params=40, seed=5)
    b = gradcheck(_lenet(), X, y, loss_fn=F.cross_entropy, max_params=40, seed=5)
    assert a == b


def test_sample_covers_every_parameter_tensor() -> None:
    sizes = [1000, 3, 50000, 1, 7]
    pairs = _sample(sizes, 20, torch.Generator().manual_seed(0))
    assert len(pairs) == 20
    assert {t for t, _ in pairs} == set(range(len(sizes)))
    assert all(0 <= i < sizes[t] for t, i in pairs)
    assert len(set(pairs)) == len(pairs)
    # fewer allowed entries than tensors: still one entry per tensor
    assert {t for t, _ in _sample(sizes, 2, torch.Generator().manual_seed(0))} == set(range(5))
    # few parameters: all of them
    assert len(_sample([2, 3], 200, torch.Generator())) == 5


def test_rejects_a_non_scalar_loss() -> None:
    X, y = _data((4,))
    with pytest.raises(ValueError, match="scalar"):
        gradcheck(_mlp(), X, y, loss_fn=lambda out, t: F.cross_entropy(out, t, reduction="none"))


@pytest.mark.parametrize(
    ("difference", "band"),
    [(1e-9, "great"), (1e-5, "look again"), (5e-4, "look again"), (0.02, "probably a bug")]
    + [(float("inf"), "probably a bug"), (float("nan"), "probably a bug")],
)
def test_verdict_bands_are_the_notes_reading(difference: float, band: str) -> None:
    assert verdict(difference).startswith(band)


class _WrongInTraining(torch.autograd.Function):
    """Batch-statistics path with a backward pass that is wrong (halved)."""

    @staticmethod
    def forward(ctx, x):  # noqa: ANN001, ANN205 - torch's signature
        return x.clone()

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        return grad * 0.5


class _BatchNormWithTrainingBug(nn.BatchNorm1d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return _WrongInTraining.apply(out) if self.training else out


def test_train_mode_checks_batch_norm_on_batch_statistics() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), _BatchNormWithTrainingBug(6), nn.Tanh(), nn.Linear(6, 3))
    model.eval()
    X, y = _data((4,), m=8)
    assert gradcheck(model, X, y, loss_fn=F.cross_entropy).passed  # eval: running averages
    wrong = gradcheck(model, X, y, loss_fn=F.cross_entropy, mode="train")
    assert wrong.relative_difference > 1e-3 and wrong.verdict.startswith("probably a bug")
    # A right batch norm passes in training mode (its J depends on the batch's μ and σ²),
    # with dropout off.
    right = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 3)
    )
    result = gradcheck(right, X, y, loss_fn=F.cross_entropy, mode="train")
    assert result.passed and result.verdict.startswith("great")


def test_l2_term_is_part_of_j() -> None:
    # J = cost + (λ/2m)·Σ‖W‖²_F over the weights (not the biases), and its gradient checks.
    lam, m = 0.5, 6
    X, y = _data((4,), m=m)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))
    with_l2 = gradcheck(model, X, y, loss_fn=F.cross_entropy, l2=lam, mode="train")
    plain = gradcheck(model, X, y, loss_fn=F.cross_entropy, mode="train")
    assert with_l2.passed and with_l2.verdict.startswith("great")
    squares = sum(float((model[i].weight.double() ** 2).sum()) for i in (0, 3))
    assert with_l2.cost - plain.cost == pytest.approx(lam / (2 * m) * squares, rel=1e-9)
