"""The standard configurations of the course's classic networks, reachable by arguments: their
parameter counts are the published ones (torchvision's for ResNet), and the CLI shows them."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from sweeplab.cli import app, main
from sweeplab.cli.models import SHOW_EXAMPLES
from sweeplab.models import build_model

RESNET_34 = {
    "blocks_per_stage": [3, 4, 6, 3],
    "base_width": 64,
    "stem_kernel": 7,
    "stem_stride": 2,
    "stem_pool": True,
}
STANDARD = [
    # (model, arguments, input, parameters with 1000 classes)
    ("resnet", {**RESNET_34, "block": "bottleneck"}, (3, 224, 224), 25_557_032),  # ResNet-50
    ("resnet", RESNET_34, (3, 224, 224), 21_797_672),  # ResNet-34
    (
        "vgg",
        {"stages": 5, "convs_per_stage": [2, 2, 3, 3, 3], "base_width": 64, "fc_units": 4096},
        (3, 224, 224),
        138_357_544,
    ),
    (
        "alexnet",
        {"stem_kernel": 11, "stem_stride": 4, "width_multiplier": 1},
        (3, 227, 227),
        62_378_344,
    ),
]


@pytest.mark.parametrize(("name", "args", "shape", "params"), STANDARD)
def test_standard_configurations_have_the_published_parameter_counts(
    name: str, args: dict, shape: tuple[int, ...], params: int
) -> None:
    with torch.device("meta"):  # shapes only: no memory for 138M weights
        model = build_model(name, args, input_shape=shape, num_outputs=1000)
    assert sum(p.numel() for p in model.parameters()) == params


def test_bottleneck_blocks_reduce_then_expand_four_times() -> None:
    model = build_model(
        "resnet",
        {"block": "bottleneck", "blocks_per_stage": [1, 2], "base_width": 4},
        input_shape=(3, 16, 16),
        num_outputs=5,
    )
    first, *_ = model.blocks()
    assert first.reduce.conv.weight.shape == (4, 4, 1, 1)  # 1×1: stem's 4 -> 4
    assert first.conv.conv.weight.shape == (4, 4, 3, 3)
    assert first.expand.conv.weight.shape == (16, 4, 1, 1)  # 1×1: 4 -> 4·4
    assert first.shortcut is not None  # 4 -> 16 channels: a projection
    assert model.blocks()[2].shortcut is None  # stage 2's second block: identity
    x = torch.randn(2, 3, 16, 16)
    feats = model.features(x)
    assert feats.shape == (2, 32, 8, 8)  # stage 2: 4·8 channels, stride 2
    assert model(x).shape == (2, 5)


def test_models_show_takes_arguments_and_prints_the_total(capsys) -> None:
    runner = CliRunner()
    result = runner.invoke(app, SHOW_EXAMPLES[-1].split()[1:])
    assert result.exit_code == 0, result.output
    assert "total parameters: 25,557,032" in result.output
    assert "stage4_block3" in result.output
    assert main(["models", "show", "resnet", "--arg", "block=bottlenek"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'bottleneck'" in err and "Traceback" not in err
