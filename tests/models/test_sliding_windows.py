"""Sliding windows the notes' way: fully connected layers as convolutions give every window's
scores in one pass, the same as cropping and classifying each window."""

from __future__ import annotations

import pytest
import torch

from sweeplab.models import build_model
from sweeplab.models._sliding import batched_windows, naive_windows


def _classifier(**args: object):
    torch.manual_seed(0)
    return build_model("window_classifier", args, input_shape=(3, 14, 14), num_outputs=4).eval()


@pytest.mark.parametrize(("side", "grid"), [(14, 1), (16, 2), (28, 8)])
def test_the_notes_shapes(side: int, grid: int) -> None:
    # 14×14×3 -> 1×1×4 (the window itself); 16×16×3 -> 2×2×4; 28×28×3 -> 8×8×4.
    model = _classifier()
    with torch.no_grad():
        out = model.score_map(torch.rand(2, 3, side, side))
    assert out.shape == (2, 4, grid, grid)
    # The layers: conv 5×5×16 -> pool -> "fc" 400 as 5×5 conv -> 1×1 400 -> 1×1 4.
    assert model.fc[0].weight.shape == (400, 16, 5, 5)
    assert model.fc[3].weight.shape == (400, 400, 1, 1)
    assert model.fc[6].weight.shape == (4, 400, 1, 1)


def test_convolutional_pass_equals_classifying_every_crop() -> None:
    model = _classifier(hidden=32)
    image = torch.rand(3, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        conv = model.score_map(image.unsqueeze(0))[0]  # (4, 8, 8)
        naive = naive_windows(model, image)
        batched = batched_windows(model, image)
    assert naive.shape == conv.shape == batched.shape == (4, 8, 8)
    torch.testing.assert_close(conv, naive, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(batched, naive, rtol=1e-4, atol=1e-5)
    # Window (r, c) is the crop at (2r, 2c): the top-right one, checked by hand.
    crop = image[:, 0:14, 14:28].unsqueeze(0)
    with torch.no_grad():
        torch.testing.assert_close(conv[:, 0, 7], model(crop)[0], rtol=1e-4, atol=1e-5)


def test_window_classifier_rejects_a_window_it_cannot_slide() -> None:
    with pytest.raises(ValueError, match="square window"):
        build_model("window_classifier", {}, input_shape=(3, 15, 15), num_outputs=4)
