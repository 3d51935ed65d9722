"""The mlp: widths, activations, initializations, inverted dropout, batch norm."""

from __future__ import annotations

import math

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from sweeplab.models import build_model
from sweeplab.models._init import fans, init_std, init_weights_
from sweeplab.models._mlp import MLP, MLPArgs


def _mlp(input_dim: int = 64, num_outputs: int = 10, **args) -> MLP:
    return build_model("mlp", args, input_shape=(input_dim,), num_outputs=num_outputs)


def _linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# ---------------------------------------------------------------- depth and widths


def test_num_layers_and_hidden_units_set_the_widths() -> None:
    model = _mlp(20, 3, num_layers=3, hidden_units=8)
    dims = [(lin.in_features, lin.out_features) for lin in _linears(model)]
    assert dims == [(20, 8), (8, 8), (8, 8), (8, 3)]


def test_hidden_sizes_override_and_binary_has_one_logit() -> None:
    model = _mlp(20, 1, hidden_sizes=[32, 16, 4])
    dims = [(lin.in_features, lin.out_features) for lin in _linears(model)]
    assert dims == [(20, 32), (32, 16), (16, 4), (4, 1)]
    assert model(torch.randn(5, 20)).shape == (5, 1)


def test_consistent_redundant_widths_are_accepted() -> None:
    args = MLPArgs(hidden_sizes=[8, 8], num_layers=2, hidden_units=8)
    assert args.sizes == [8, 8]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_sizes": [8, 4], "num_layers": 3}, "num_layers == len"),
        ({"hidden_sizes": [8, 4], "hidden_units": 8}, "hidden_units"),
        ({"hidden_sizes": [8, 0]}, ">= 1"),
        ({"hidden_sizes": []}, "at least 1"),
        ({"num_layers": 0}, "greater than or equal"),
        ({"leaky_slope": 0.2}, "only used with activation 'leaky_relu'"),
        ({"activation": "leaky_relu", "leaky_slope": 1.0}, "less than 1"),
        ({"activation": "leaky_relu", "leaky_slope": -0.1}, "greater than or equal"),
        ({"keep_prob": 0.0}, "greater than 0"),
        ({"keep_prob": 1.5}, "less than or equal"),
        ({"activation": "gelu"}, "sigmoid"),
        ({"init": "zeros"}, "small_random"),  # zeros would keep hidden units symmetric
    ],
)
def test_invalid_args_are_rejected_with_the_rule(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MLPArgs(**kwargs)


# ---------------------------------------------------------------- activations


@pytest.mark.parametrize(
    ("activation", "module", "f"),
    [
        ("sigmoid", nn.Sigmoid, torch.sigmoid),
        ("tanh", nn.Tanh, torch.tanh),
        ("relu", nn.ReLU, torch.relu),
        ("leaky_relu", nn.LeakyReLU, lambda z: torch.where(z > 0, z, 0.3 * z)),
    ],
)
def test_activation_is_applied_after_each_hidden_linear(activation, module, f) -> None:
    extra = {"leaky_slope": 0.3} if activation == "leaky_relu" else {}
    torch.manual_seed(0)
    model = _mlp(6, 2, hidden_sizes=[5], activation=activation, **extra).eval()
    assert sum(isinstance(m, module) for m in model.modules()) == 1
    x = torch.randn(4, 6)
    lin1, out = _linears(model)
    torch.testing.assert_close(model(x), out(f(lin1(x))))


# ---------------------------------------------------------------- initializations


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        ("small_random", lambda n_in, n_out: 0.01),
        ("xavier", lambda n_in, n_out: math.sqrt(1 / n_in)),
        ("he", lambda n_in, n_out: math.sqrt(2 / n_in)),
        ("glorot", lambda n_in, n_out: math.sqrt(2 / (n_in + n_out))),
    ],
)
def test_init_empirical_std_matches_formula(scheme: str, expected) -> None:
    torch.manual_seed(0)
    n_in, n_out = 1000, 400
    model = _mlp(n_in, 10, hidden_sizes=[n_out], init=scheme)
    first, last = _linears(model)
    w = first.weight
    # 400k N(0, σ²) draws: the sample std's relative standard error is 1/√(2n) ≈ 0.11%,
    # so 2% is ~18 standard errors (no flakes) yet far below the gap between schemes.
    assert w.std().item() == pytest.approx(expected(n_in, n_out), rel=0.02)
    assert abs(w.mean().item()) < 0.05 * expected(n_in, n_out)
    assert torch.count_nonzero(first.bias) == 0 and torch.count_nonzero(last.bias) == 0
    # The output layer uses its own fans.
    assert init_std(scheme, fan_in=n_out, fan_out=10) == pytest.approx(expected(n_out, 10))


def test_init_fans_of_convolution_and_zeros() -> None:
    conv = nn.Conv2d(6, 16, kernel_size=5)
    assert fans(conv) == (6 * 25, 16 * 25)
    torch.manual_seed(0)
    init_weights_(conv, "he")
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 150), rel=0.1)
    assert torch.count_nonzero(conv.bias) == 0
    init_weights_(conv, "zeros")
    assert torch.count_nonzero(conv.weight) == 0
    with pytest.raises(ValueError, match="`init` must be one of"):
        init_weights_(conv, "kaiming")


# ---------------------------------------------------------------- inverted dropout


def _with_same_weights(keep_prob: float, **args) -> tuple[MLP, MLP]:
    torch.manual_seed(0)
    dropped = _mlp(64, 10, keep_prob=keep_prob, **args)
    plain = _mlp(64, 10, keep_prob=1.0, **args)
    plain.load_state_dict(dropped.state_dict())
    return dropped, plain


def test_dropout_changes_training_outputs_but_not_eval_outputs() -> None:
    dropped, plain = _with_same_weights(0.5)
    assert not any(isinstance(m, nn.Dropout) for m in plain.modules())
    x = torch.randn(32, 64)
    dropped.eval()
    plain.eval()
    eval_out = dropped(x)
    torch.testing.assert_close(eval_out, dropped(x), rtol=0, atol=0)  # deterministic
    torch.testing.assert_close(eval_out, plain(x), rtol=0, atol=0)  # identity in eval
    dropped.train()
    torch.manual_seed(1)
    train_out = dropped(x)
    assert not torch.allclose(train_out, eval_out)
    torch.manual_seed(1)
    torch.testing.assert_close(dropped(x), train_out)  # same seed, same mask


@pytest.mark.parametrize("keep_prob", [0.5, 0.8])
def test_inverted_dropout_keeps_the_expected_activation(keep_prob: float) -> None:
    dropped, _ = _with_same_weights(keep_prob, hidden_sizes=[512])
    block = dropped.hidden[0]  # Linear -> ReLU -> Dropout
    torch.manual_seed(0)
    x = torch.randn(2000, 64)
    with torch.no_grad():
        a = block.eval()(x)  # (2000, 512), no dropout
        a_drop = block.train()(x)
    active = a > 0
    ratio = a_drop[active] / a[active]
    # Each kept unit is scaled by exactly 1/keep_prob, a dropped one is 0.
    scaled = torch.isclose(ratio, torch.tensor(1 / keep_prob))
    assert (scaled | (ratio == 0)).all()
    # The fraction kept is keep_prob; the mean activation is preserved. Over ~5e5 active
    # units, the std of the kept fraction is √(p(1−p)/n) < 1e-3 and the relative std of
    # the mean is about √((1−p)/p)·CV(a)/√n < 3e-3, so 1% is a safe, meaningful tolerance.
    assert scaled.float().mean().item() == pytest.approx(keep_prob, abs=0.01)
    assert a_drop.mean().item() == pytest.approx(a.mean().item(), rel=0.01)


# ---------------------------------------------------------------- batch norm


def test_batch_norm_replaces_the_bias_of_the_linear_before_it() -> None:
    model = _mlp(64, 10, hidden_sizes=[32, 16], batch_norm=True)
    blocks = list(model.hidden)
    for block, width in zip(blocks, [32, 16], strict=True):
        linear, bn = block[0], block[1]
        assert isinstance(linear, nn.Linear) and linear.bias is None
        assert isinstance(bn, nn.BatchNorm1d) and bn.num_features == width
    assert model.out.bias is not None  # the output layer keeps its bias
    plain = _mlp(64, 10, hidden_sizes=[32, 16])
    assert all(lin.bias is not None for lin in _linears(plain))
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())


def test_batch_norm_normalizes_z_in_training_mode() -> None:
    torch.manual_seed(0)
    model = _mlp(64, 10, hidden_sizes=[32], batch_norm=True, activation="tanh").train()
    linear, bn = model.hidden[0][0], model.hidden[0][1]
    z_tilde = bn(linear(3.0 + 5.0 * torch.randn(256, 64)))  # γ = 1, β = 0 at init
    torch.testing.assert_close(z_tilde.mean(0), torch.zeros(32), atol=1e-5, rtol=0)
    torch.testing.assert_close(z_tilde.var(0, unbiased=False), torch.ones(32), atol=1e-3, rtol=0)
