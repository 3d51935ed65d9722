"""Shape arithmetic, blocks and the classic CNNs: what the course says must hold."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn
from torch.nn import functional as F

from sweeplab.errors import UserError
from sweeplab.models import build_model
from sweeplab.models._blocks import (
    ConvBlock,
    InceptionModule,
    MaxPool,
    ResidualBlock,
    stack,
)
from sweeplab.models._inception import module_widths
from sweeplab.models._shapes import (
    ShapeError,
    Window,
    conv_output_size,
    pool_output_size,
    resolve_padding,
    same_padding,
)
from sweeplab.models._summary import describe, format_summary, parse_input_shape
from sweeplab.models._vgg import VGGArgs

# ---------------------------------------------------------------- shape arithmetic


def test_course_examples() -> None:
    assert conv_output_size(6, 3) == 4  # 6×6 * 3×3 -> 4×4
    assert conv_output_size(7, 3, stride=2) == 3  # 7×7, f=3, s=2 -> 3×3
    assert conv_output_size(32, 5) == 28  # LeNet-5 conv1
    assert pool_output_size(28, 2) == 14  # 2×2 pooling halves
    assert conv_output_size(227, 11, stride=4) == 55  # AlexNet conv1


@pytest.mark.parametrize("f", [1, 3, 5, 7])
@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
def test_same_padding_keeps_the_size(n: int, f: int) -> None:
    assert same_padding(f) == (f - 1) // 2
    assert conv_output_size(n, f, padding="same") == n


def test_valid_padding_is_zero_and_even_filters_are_rejected_with_same() -> None:
    assert resolve_padding(5, "valid") == 0
    assert resolve_padding(5, 3) == 3
    with pytest.raises(ShapeError, match="odd filter size.*f=4"):
        conv_output_size(8, 4, padding="same")
    with pytest.raises(ShapeError, match="padding must be"):
        resolve_padding(3, "full")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "f", "s", "p"), [(6, 3, 1, 0), (7, 3, 2, 0), (8, 3, 2, 1), (9, 5, 3, 2), (10, 4, 3, 1)]
)
def test_formula_agrees_with_pytorch(n: int, f: int, s: int, p: int) -> None:
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, f, f), stride=s, padding=p)
    assert out.shape[-1] == conv_output_size(n, f, stride=s, padding=p)
    pooled = F.max_pool2d(torch.zeros(1, 1, n, n), f, stride=s, padding=min(p, f // 2))
    assert pooled.shape[-1] == pool_output_size(n, f, stride=s, padding=min(p, f // 2))


def test_window_too_large_names_the_layer() -> None:
    with pytest.raises(UserError) as info:
        Window("max pool", 3, 2).output_hw(2, 2, layer="pool2")
    assert str(info.value) == (
        "layer 'pool2' (max pool 3×3, stride 2): input 2×2 is smaller than the window; "
        "use a larger --input or fewer pooling stages"
    )
    with pytest.raises(ShapeError, match="n \\+ 2p >= f"):
        conv_output_size(2, 5)


def test_stack_checks_layer_by_layer() -> None:
    layers = [("conv1", ConvBlock(1, 4, 3, padding="valid")), ("pool1", MaxPool(2))]
    seq, shape = stack((1, 8, 8), layers)
    assert shape == (4, 3, 3)
    assert seq(torch.zeros(2, 1, 8, 8)).shape == (2, *shape)
    with pytest.raises(ShapeError, match="layer 'conv1'.*expects 3 input channels"):
        stack((1, 8, 8), [("conv1", ConvBlock(3, 4, 3))])


# ---------------------------------------------------------------- networks: impossible shapes


def test_impossible_shape_raises_a_user_error_naming_the_layer() -> None:
    # 16 -> conv1 12 -> pool1 5 -> conv2 5 -> pool2 2 -> conv3..5 2 -> pool3 (3×3 on 2×2)
    with pytest.raises(UserError, match=r"layer 'pool3' \(max pool 3×3, stride 2\): input 2×2"):
        build_model("alexnet", {}, input_shape=(1, 16, 16), num_outputs=10)
    with pytest.raises(UserError, match=r"layer 'pool4' \(max pool 2×2, stride 2\): input 1×1"):
        build_model("vgg", {"stages": 4}, input_shape=(1, 8, 8), num_outputs=10)
    # LeNet-5 with its original valid 5×5 convs cannot take sklearn's 8×8 digits ...
    with pytest.raises(UserError, match=r"layer 'conv2' \(conv 5×5, stride 1\): input 2×2"):
        build_model("lenet5", {}, input_shape=(1, 8, 8), num_outputs=10)
    # ... with same padding it can: 8 -> 4 -> 2
    model = build_model("lenet5", {"padding": "same"}, input_shape=(1, 8, 8), num_outputs=10)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_args_validation() -> None:
    with pytest.raises(UserError, match=r"len\(convs_per_stage\) == stages must hold.*stages=2"):
        build_model(
            "vgg", {"stages": 2, "convs_per_stage": [1, 2, 3]}, input_shape=(1, 8, 8), num_outputs=2
        )
    with pytest.raises(UserError, match="odd kernel_size"):
        build_model(
            "lenet5", {"padding": "same", "kernel_size": 4}, input_shape=(1, 8, 8), num_outputs=10
        )
    with pytest.raises(UserError, match="model.blocks_per_stage"):
        build_model("resnet", {"blocks_per_stage": []}, input_shape=(1, 8, 8), num_outputs=10)
    with pytest.raises(UserError, match="model.blocks_per_stage.1: .*greater than 0"):
        build_model("resnet", {"blocks_per_stage": [2, 0]}, input_shape=(1, 8, 8), num_outputs=10)
    with pytest.raises(UserError, match="model.stem_kernel: .*must be odd.*got 4"):
        build_model("inception", {"stem_kernel": 4}, input_shape=(1, 8, 8), num_outputs=10)
    with pytest.raises(ValidationError):
        VGGArgs(convs_per_stage=0)


# ---------------------------------------------------------------- LeNet-5


def test_lenet5_has_the_original_shapes_at_32x32() -> None:
    model = build_model("lenet5", {}, input_shape=(1, 32, 32), num_outputs=10)
    summary = describe(model, (1, 32, 32))
    shapes = [r.output_shape for r in summary if r.kind in {"Conv2d", "AvgPool", "Linear"}]
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120,), (84,), (10,)]
    assert [r.kind for r in summary if r.kind in {"Tanh", "ReLU"}] == ["Tanh"] * 4
    assert summary.total_params == 61_706  # "about 60k parameters"
    assert "total params: 61,706" in format_summary(summary)


def test_lenet5_filter_counts_are_arguments() -> None:
    args = {"conv1_filters": 4, "conv2_filters": 8, "fc1_units": 32, "fc2_units": 16}
    model = build_model("lenet5", args, input_shape=(1, 32, 32), num_outputs=3)
    shapes = [r.output_shape for r in describe(model, (1, 32, 32)) if r.kind == "Conv2d"]
    assert shapes == [(4, 28, 28), (8, 10, 10)]


# ---------------------------------------------------------------- original sizes (no memory)


@pytest.mark.parametrize(
    ("name", "args", "input_shape", "expected"),
    [
        (
            "alexnet",
            {"width_multiplier": 1, "stem_kernel": 11, "stem_stride": 4},
            (3, 227, 227),
            62_378_344,
        ),
        (
            "vgg",
            {"stages": 5, "convs_per_stage": [2, 2, 3, 3, 3], "base_width": 64, "fc_units": 4096},
            (3, 224, 224),
            138_357_544,  # VGG-16
        ),
        (
            "resnet",
            {
                "blocks_per_stage": [3, 4, 6, 3],
                "base_width": 64,
                "stem_kernel": 7,
                "stem_stride": 2,
                "stem_pool": True,
            },
            (3, 224, 224),
            21_797_672,  # ResNet-34
        ),
    ],
)
def test_original_architectures_have_the_published_sizes(name, args, input_shape, expected) -> None:
    with torch.device("meta"):  # parameters without storage: 138M cost nothing
        model = build_model(name, args, input_shape=input_shape, num_outputs=1000)
    assert sum(p.numel() for p in model.parameters()) == expected


# ---------------------------------------------------------------- residual blocks


def test_projection_shortcut_only_when_channels_or_stride_change() -> None:
    assert not ResidualBlock(8, 8).uses_projection
    assert ResidualBlock(8, 16).uses_projection
    assert ResidualBlock(8, 8, stride=2).uses_projection
    assert not ResidualBlock(8, 16, residual=False).uses_projection
    block = ResidualBlock(4, 8, stride=2)
    assert block.shortcut.conv.kernel_size == (1, 1) and block.shortcut.conv.stride == (2, 2)
    assert block(torch.randn(2, 4, 7, 7)).shape == (2, 8, 4, 4)  # odd sizes: both paths agree

    model = build_model(
        "resnet", {"blocks_per_stage": [2, 2, 2]}, input_shape=(1, 16, 16), num_outputs=10
    )
    assert [b.uses_projection for b in model.blocks()] == [False, False, True, False, True, False]


def test_residual_and_plain_networks_have_the_same_layers() -> None:
    args = {"blocks_per_stage": [3, 2], "base_width": 4}
    res = build_model("resnet", {**args, "residual": True}, input_shape=(1, 16, 16), num_outputs=5)
    plain = build_model(
        "resnet", {**args, "residual": False}, input_shape=(1, 16, 16), num_outputs=5
    )

    def main_convs(model: nn.Module) -> list[tuple[int, ...]]:
        return [
            tuple(m.conv.weight.shape)
            for name, m in model.named_modules()
            if isinstance(m, ConvBlock) and "shortcut" not in name
        ]

    assert len(res.blocks()) == len(plain.blocks()) == 5
    assert main_convs(res) == main_convs(plain)  # same convs, same shapes, same order
    assert all(b.shortcut is None for b in plain.blocks())
    shortcut_params = sum(
        p.numel() for b in res.blocks() if b.shortcut for p in b.shortcut.parameters()
    )
    assert (
        sum(p.numel() for p in res.parameters())
        == sum(p.numel() for p in plain.parameters()) + shortcut_params
    )


def test_a_residual_block_learns_the_identity_easily() -> None:
    # With the last conv at zero, the residual block is g(0 + a) = relu(a); the plain one is 0.
    for residual, expect_identity in [(True, True), (False, False)]:
        block = ResidualBlock(3, 3, residual=residual).eval()
        nn.init.zeros_(block.conv2.conv.weight)
        a = torch.rand(2, 3, 5, 5)  # non-negative, as after a ReLU
        out = block(a)
        assert torch.allclose(out, a) == expect_identity


# ---------------------------------------------------------------- inception


def test_inception_module_concatenates_its_branches() -> None:
    widths = {"c1": 5, "c3_reduce": 3, "c3": 7, "c5_reduce": 2, "c5": 4, "pool_proj": 6}
    module = InceptionModule(10, **widths)
    x = torch.randn(2, 10, 9, 9)  # (B, C, H, W)
    outs = [branch(x) for branch in module.branches()]
    assert [o.shape[1] for o in outs] == [5, 7, 4, 6]
    assert all(o.shape[2:] == (9, 9) for o in outs)  # every branch keeps H×W
    assert module.out_channels == 5 + 7 + 4 + 6
    assert module(x).shape == (2, 22, 9, 9)
    assert module.output_shape((10, 9, 9), name="m") == (22, 9, 9)
    assert torch.equal(module(x)[:, :5], outs[0])  # the 1×1 branch comes first


def test_inception_network_stages() -> None:
    args = {"stem_width": 8, "modules_per_stage": [1, 2], "base_width": 2}
    model = build_model("inception", args, input_shape=(3, 12, 12), num_outputs=4)
    modules = [m for m in model.modules() if isinstance(m, InceptionModule)]
    assert [m.out_channels for m in modules] == [16, 32, 32]  # 8w, w doubling per stage
    assert modules[0].out_channels == sum(
        v for k, v in module_widths(2).items() if k in {"c1", "c3", "c5", "pool_proj"}
    )
    rows = {r.name: r.output_shape for r in describe(model, (3, 12, 12))}
    assert rows["features.pool1"] == (16, 6, 6)
    assert model(torch.randn(2, 3, 12, 12)).shape == (2, 4)


# ---------------------------------------------------------------- describe / parse_input_shape


def test_describe_counts_shared_and_root_parameters_once() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(1))
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.fc(x)) * self.scale  # the same layer twice

    model = Net()
    summary = describe(model, (4,))
    assert summary.total_params == 21 == sum(r.params for r in summary)
    assert [r.name for r in summary] == ["fc", "(model)"]


def test_describe_reports_an_input_the_model_cannot_take() -> None:
    model = build_model("lenet5", {}, input_shape=(1, 32, 32), num_outputs=10)
    with pytest.raises(UserError, match="cannot take an input of shape 1x28x28"):
        describe(model, (1, 28, 28))


@pytest.mark.parametrize(
    ("text", "shape"),
    [("1x28x28", (1, 28, 28)), ("64", (64,)), (" 3 X 32 x 32 ", (3, 32, 32)), ("1×8×8", (1, 8, 8))],
)
def test_parse_input_shape(text: str, shape: tuple[int, ...]) -> None:
    assert parse_input_shape(text) == shape


@pytest.mark.parametrize("text", ["", "1x", "x28", "1x28xa", "1,28,28", "-1x2x2", "0x28x28"])
def test_parse_input_shape_rejects(text: str) -> None:
    with pytest.raises(UserError, match="--input"):
        parse_input_shape(text)


def test_image_shape_accepts_numpy_ints_and_rejects_the_rest() -> None:
    import numpy as np

    from sweeplab.models._shapes import image_shape

    assert image_shape(tuple(np.array([1, 8, 8])), model="vgg") == (1, 8, 8)
    for bad in [(64,), (1, 8), (0, 8, 8), (1.0, 8, 8), (1, 8, 8, 1)]:
        with pytest.raises(UserError, match="model 'vgg' takes images"):
            image_shape(bad, model="vgg")
