"""The course notes' worked examples, reproduced by the blocks the models are built from."""

from __future__ import annotations

import torch

from sweeplab.models import build_model
from sweeplab.models._blocks import Conv1x1, ConvBlock


def test_vertical_edge_filter_on_the_6x6_image_gives_the_notes_4x4_result() -> None:
    # Left half bright (10), right half dark (0): one vertical edge down the middle.
    image = torch.zeros(1, 1, 6, 6)
    image[..., :3] = 10.0
    conv = ConvBlock(1, 1, 3, padding=0, activation=None)
    with torch.no_grad():
        conv.conv.weight.copy_(torch.tensor([[1.0, 0.0, -1.0]] * 3).view(1, 1, 3, 3))
        conv.conv.bias.zero_()
        out = conv(image)
    assert conv.output_shape((1, 6, 6), name="edge") == (1, 4, 4)
    # Every row of the 4×4 result is 0 30 30 0: the edge detected in the two middle columns.
    expected = torch.tensor([[0.0, 30.0, 30.0, 0.0]] * 4)
    torch.testing.assert_close(out[0, 0], expected)


def test_one_by_one_convolution_shrinks_32x32x192_to_32x32x32() -> None:
    block = Conv1x1(192, 32, activation=None)
    x = torch.randn(2, 192, 32, 32, generator=torch.Generator().manual_seed(0))
    out = block(x)
    assert out.shape == (2, 32, 32, 32)
    assert block.output_shape((192, 32, 32), name="1x1") == (32, 32, 32)
    # 32 filters of 1×1×192 (+ 32 biases): a fully connected layer across channels per pixel.
    assert block.conv.weight.shape == (32, 192, 1, 1)
    pixel = x[0, :, 5, 7]  # (192,)
    w = block.conv.weight[:, :, 0, 0]  # (32, 192)
    torch.testing.assert_close(out[0, :, 5, 7], w @ pixel + block.conv.bias)


def test_linear_hidden_layers_collapse_to_one_linear_map() -> None:
    torch.manual_seed(0)
    deep = build_model(
        "mlp",
        {"hidden_sizes": [16, 12, 8], "activation": "linear", "init": "xavier"},
        input_shape=(10,),
        num_outputs=3,
    ).eval()
    x = torch.randn(50, 10)
    with torch.no_grad():
        y = deep(x)
        # The map is affine: f(x) = W x + b with W read off at the unit vectors.
        b = deep(torch.zeros(1, 10))  # (1, 3)
        w = deep(torch.eye(10)) - b  # (10, 3): column j of W is f(e_j) - f(0)
    torch.testing.assert_close(y, x @ w + b, rtol=1e-5, atol=1e-5)
    # A non-linear activation in the same network is not one linear map.
    relu = build_model(
        "mlp", {"hidden_sizes": [16, 12, 8], "init": "xavier"}, input_shape=(10,), num_outputs=3
    ).eval()
    with torch.no_grad():
        b, w = relu(torch.zeros(1, 10)), relu(torch.eye(10)) - relu(torch.zeros(1, 10))
        assert (relu(x) - (x @ w + b)).abs().max() > 1e-2
