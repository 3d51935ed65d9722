"""The vision tasks' loops take the course's regularization tools: L2 (λ/2m)·Σ‖W‖² in every
step's cost, early stopping on dev_error (the best epoch's weights restored), and their
models a ``keep_prob`` (inverted dropout)."""

from __future__ import annotations

import pytest
import torch

from sweeplab.data._generated import shapes_segmentation
from sweeplab.errors import UserError
from sweeplab.models import MODELS, build_model
from sweeplab.models._unet import UNet, UNetArgs
from sweeplab.training import TrainConfig, seed_everything
from sweeplab.training._task import penalized_weights
from sweeplab.training._tasks import segmentation_iou, train_segmenter


def _data():
    return shapes_segmentation(32, image_size=16, seed=0), shapes_segmentation(
        16, image_size=16, seed=1
    )


def _net() -> UNet:
    seed_everything(0)
    return UNet(UNetArgs(filters=4, depth=1), input_shape=(3, 16, 16), num_classes=4)


def _squares(net: torch.nn.Module) -> float:
    return float(sum((w.detach() ** 2).sum() for w in penalized_weights(net)))


def test_l2_shrinks_the_weights_of_a_vision_task() -> None:
    train, dev = _data()
    norms = {}
    for lam in (0.0, 5.0):
        net = _net()
        cfg = TrainConfig(epochs=2, batch_size=16, learning_rate=1e-2, device="cpu", l2=lam)
        train_segmenter(net, train, cfg, dev=dev)
        norms[lam] = _squares(net)
    # λ = 5 with m = 16: weight decay of λ/m per unit gradient step; the norm drops clearly.
    assert norms[5.0] < 0.8 * norms[0.0], norms


def test_early_stopping_restores_the_best_dev_epoch() -> None:
    train, dev = _data()
    net = _net()
    cfg = TrainConfig(
        epochs=12, batch_size=8, learning_rate=0.05, device="cpu", early_stopping_patience=1
    )
    result = train_segmenter(net, train, cfg, dev=dev)
    errors = [h["dev_error"] for h in result.history]
    best = min(errors)
    assert result.final["dev_error"] == best
    # The model holds the best epoch's weights: its dev error now is the best one.
    assert 1.0 - segmentation_iou(net, dev) == pytest.approx(best, abs=1e-9)
    if len(errors) < 12:  # stopped: the last epoch did not improve on the best
        assert errors[-1] >= best and errors.index(best) == len(errors) - 2


def test_early_stopping_needs_a_dev_set() -> None:
    train, _ = _data()
    cfg = TrainConfig(epochs=2, device="cpu", early_stopping_patience=1)
    with pytest.raises(UserError, match="dev") as info:
        train_segmenter(_net(), train, cfg)
    assert info.value.key == "train.early_stopping_patience"


VISION = ("localizer", "landmark_regressor", "grid_detector", "unet", "siamese_encoder")


@pytest.mark.parametrize("name", VISION)
def test_vision_models_take_keep_prob(name: str) -> None:
    spec = MODELS.get(name)
    shape = spec.example_input
    x = torch.rand(4, *shape, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    plain = build_model(name, {}, input_shape=shape, num_outputs=spec.example_outputs)
    assert not any(isinstance(m, torch.nn.Dropout) for m in plain.modules())
    torch.manual_seed(0)
    model = build_model(
        name, {"keep_prob": 0.5}, input_shape=shape, num_outputs=spec.example_outputs
    )
    drops = [m for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops and all(m.p == pytest.approx(0.5) for m in drops)
    model.eval()  # test time: no dropout, the same function as without it
    plain.eval()
    torch.testing.assert_close(model(x), plain(x))
    model.train()
    torch.manual_seed(1)
    a = model(x)
    torch.manual_seed(2)
    assert not torch.allclose(a, model(x))  # training: units dropped at random
