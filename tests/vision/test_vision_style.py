"""Neural style transfer: the costs against direct loops, and that J(G) falls a lot."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from sweeplab.data._generated import shapes_detection, stripes
from sweeplab.training._style import (
    FeatureNet,
    StyleArgs,
    content_cost,
    gram_matrix,
    layer_style_cost,
    style_cost,
    style_transfer,
    train_feature_net,
)


def _loop_gram(a: torch.Tensor) -> torch.Tensor:
    n_c, n_h, n_w = a.shape
    g = torch.zeros(n_c, n_c, dtype=torch.float64)
    for k in range(n_c):
        for kp in range(n_c):
            for i in range(n_h):
                for j in range(n_w):
                    g[k, kp] += float(a[k, i, j]) * float(a[kp, i, j])
    return g


def test_gram_matrix_and_style_cost_equal_direct_loops() -> None:
    torch.manual_seed(0)
    a_s, a_g = torch.rand(4, 3, 5, dtype=torch.float64), torch.rand(4, 3, 5, dtype=torch.float64)
    g_s, g_g = _loop_gram(a_s), _loop_gram(a_g)
    torch.testing.assert_close(gram_matrix(a_s), g_s)
    torch.testing.assert_close(gram_matrix(a_s), gram_matrix(a_s).T)  # symmetric
    n_c, n_h, n_w = 4, 3, 5
    direct = (
        sum((g_s[k, kp] - g_g[k, kp]) ** 2 for k in range(n_c) for kp in range(n_c))
        / (2 * n_h * n_w * n_c) ** 2
    )
    assert layer_style_cost(a_s, a_g).item() == pytest.approx(float(direct), rel=1e-12)
    # Over several layers: Σ_l λ_l J^[l].
    b_s, b_g = torch.rand(2, 2, 2, dtype=torch.float64), torch.rand(2, 2, 2, dtype=torch.float64)
    total = style_cost({"x": a_s, "y": b_s}, {"x": a_g, "y": b_g}, {"x": 0.7, "y": 0.3})
    expected = 0.7 * layer_style_cost(a_s, a_g) + 0.3 * layer_style_cost(b_s, b_g)
    assert total.item() == pytest.approx(expected.item())
    assert layer_style_cost(a_s, a_s).item() == 0.0


def test_content_cost_is_half_the_squared_distance() -> None:
    a, b = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [3.0, 1.0]])
    assert content_cost(a, b).item() == pytest.approx(0.5 * (4 + 9))


def test_style_args_reject_unknown_layers() -> None:
    with pytest.raises(ValidationError, match="conv9"):
        StyleArgs(style_layers={"conv9": 1.0})


def test_style_transfer_lowers_the_cost_by_a_large_factor() -> None:
    # The feature network is trained by the project: a shape classifier on generated images.
    shapes = shapes_detection(300, image_size=24, min_objects=1, max_objects=1, seed=0)
    labels = torch.tensor([int(c[0]) for c in shapes.classes])
    net, accuracy = train_feature_net(shapes.images, labels, epochs=10, seed=0)
    assert accuracy > 0.5  # a guess gets 1/3: its features carry information about shape
    assert all(not p.requires_grad for p in net.parameters())  # frozen: only G changes
    before = {k: v.clone() for k, v in net.state_dict().items()}

    content, style = shapes.images[0], stripes(24, seed=1)
    args = StyleArgs(steps=80, learning_rate=0.05)
    result = style_transfer(net, content, style, args, seed=0)
    assert len(result.history) == args.steps + 1
    j0, jc0, js0 = result.history[0]
    j1, jc1, js1 = result.history[-1]
    assert j0 == pytest.approx(args.alpha * jc0 + args.beta * js0, rel=1e-5)
    assert j1 < j0 / 10, result.history[:: args.steps // 4]
    assert jc1 < jc0 and js1 < js0  # both parts fall, not one at the other's expense
    assert result.image.shape == content.shape
    assert result.image.min() >= 0.0 and result.image.max() <= 1.0
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # Same seed, same image.
    again = style_transfer(net, content, style, args.model_copy(update={"steps": 3}), seed=0)
    first = style_transfer(net, content, style, args.model_copy(update={"steps": 3}), seed=0)
    assert torch.equal(again.image, first.image)


def test_feature_net_exposes_named_activations() -> None:
    net = FeatureNet(3, 3, filters=4)
    feats = net.features(torch.rand(2, 3, 16, 16))
    assert {k: tuple(v.shape) for k, v in feats.items()} == {
        "conv1": (2, 4, 16, 16),
        "conv2": (2, 8, 16, 16),
        "conv3": (2, 8, 8, 8),
    }
