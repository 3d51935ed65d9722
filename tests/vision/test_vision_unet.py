"""Transpose convolution (the course's worked example), the U-Net, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sweeplab.data._generated import shapes_segmentation
from sweeplab.errors import UserError
from sweeplab.models._shapes import ShapeError
from sweeplab.models._unet import UNet, UNetArgs, transpose_conv2d
from sweeplab.training import TrainConfig, seed_everything
from sweeplab.training._tasks import segmentation_iou, train_segmenter

INPUT = [[2.0, 1.0], [3.0, 2.0]]
FILTER = [[1.0, 2.0, 1.0], [2.0, 0.0, 1.0], [0.0, 2.0, 1.0]]
EXPECTED = [[0, 4, 0, 1], [10, 7, 6, 3], [0, 7, 0, 2], [6, 3, 4, 2]]


def test_pytorch_reproduces_the_worked_example() -> None:
    out = F.conv_transpose2d(
        torch.tensor(INPUT)[None, None],
        torch.tensor(FILTER)[None, None],
        stride=2,
        padding=1,
        output_padding=1,
    )
    assert out[0, 0].tolist() == EXPECTED


def test_scatter_and_add_reproduces_the_worked_example() -> None:
    out = transpose_conv2d(np.array(INPUT), np.array(FILTER), stride=2, padding=1, output_padding=1)
    assert out.tolist() == EXPECTED


def test_scatter_and_add_equals_pytorch_on_random_input() -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 5)), rng.standard_normal((3, 3))
    for stride, padding, op in [(1, 0, 0), (2, 0, 1), (3, 1, 2), (2, 1, 0)]:
        ours = transpose_conv2d(x, w, stride=stride, padding=padding, output_padding=op)
        ref = F.conv_transpose2d(
            torch.tensor(x)[None, None],
            torch.tensor(w)[None, None],
            stride=stride,
            padding=padding,
            output_padding=op,
        )[0, 0].numpy()
        np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_unet_keeps_the_image_size(depth: int) -> None:
    torch.manual_seed(0)
    net = UNet(UNetArgs(filters=4, depth=depth), input_shape=(3, 16, 24), num_classes=5)
    out = net(torch.randn(2, 3, 16, 24))
    assert out.shape == (2, 5, 16, 24)  # one logit per class and pixel
    ups = [m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(ups) == depth  # the up path upsamples with transpose convolutions
    assert isinstance(net.head, torch.nn.Conv2d) and net.head.kernel_size == (1, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_unet_uses_its_skip_connections() -> None:
    # Each up step's first conv sees the upsampled map and the skip: twice the channels.
    net = UNet(UNetArgs(filters=4, depth=2), input_shape=(1, 8, 8), num_classes=2)
    assert [blk[0].conv.in_channels for blk in net.up_conv] == [16, 8]


def test_unet_rejects_sizes_it_cannot_halve() -> None:
    with pytest.raises(ShapeError, match="multiples of 2\\^depth = 4"):
        UNet(UNetArgs(depth=2), input_shape=(3, 30, 32), num_classes=3)


def test_segmentation_pairs_are_seeded_and_consistent() -> None:
    a, b = shapes_segmentation(8, seed=3), shapes_segmentation(8, seed=3)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert a.images.shape == (8, 3, 32, 32) and a.masks.shape == (8, 32, 32)
    assert set(a.masks.unique().tolist()) <= {0, 1, 2, 3}
    # Shapes are bright on a dark background: labelled pixels are brighter on average.
    bright = a.images.mean(1)
    assert bright[a.masks > 0].mean() > bright[a.masks == 0].mean() + 0.3


def test_unet_learns_to_segment_generated_shapes() -> None:
    kw = {"image_size": 16, "min_size": 0.3, "max_size": 0.6}
    train, dev = shapes_segmentation(160, seed=0, **kw), shapes_segmentation(40, seed=1, **kw)
    seed_everything(0)
    net = UNet(UNetArgs(filters=8, depth=2), input_shape=(3, 16, 16), num_classes=4)
    before = segmentation_iou(net, dev)
    cfg = TrainConfig(epochs=6, batch_size=16, learning_rate=5e-3, device="cpu", seed=0)
    result = train_segmenter(net, train, cfg, dev=dev)
    final = result.final
    # Labelling every pixel background scores 1/4 of the background's IoU: about 0.2.
    assert final["dev_mean_iou"] > 0.45, result.history
    assert final["dev_error"] == pytest.approx(1 - final["dev_mean_iou"])
    assert final["dev_mean_iou"] > before + 0.25
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]


@pytest.mark.parametrize(("field", "value"), [("ewma_beta", 0.5)])
def test_task_loops_reject_settings_they_would_ignore(field: str, value: object) -> None:
    data = shapes_segmentation(4, image_size=16, seed=0)
    net = UNet(UNetArgs(filters=2, depth=1), input_shape=(3, 16, 16), num_classes=4)
    cfg = TrainConfig(epochs=1, device="cpu", **{field: value})
    with pytest.raises(UserError, match=field) as info:
        train_segmenter(net, data, cfg)
    assert info.value.key == f"train.{field}"
