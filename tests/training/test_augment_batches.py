"""Data augmentation of training batches: identity when off, seeded, exact flips and crops,
evaluation data never touched."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from sweeplab.errors import UserError
from sweeplab.training import TrainConfig, TrainData, fit
from sweeplab.training._augment import Augmenter, AugmentSpec, augment_batch

SPECS = {
    "flip": AugmentSpec(flip=True),
    "crop": AugmentSpec(crop=2),
    "rotate": AugmentSpec(rotate=20.0),
    "shear": AugmentSpec(shear=15.0),
    "color": AugmentSpec(color=0.5),
    "all": AugmentSpec(flip=True, crop=1, rotate=10.0, shear=5.0, color=0.2),
}


def _images(n: int = 16, c: int = 3, h: int = 8, w: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_zero_settings_are_the_identity() -> None:
    x = _images()
    spec = AugmentSpec.from_config(TrainConfig())
    assert spec == AugmentSpec() and not spec.active
    assert Augmenter(spec, seed=0)(x) is x
    torch.testing.assert_close(augment_batch(x, spec, torch.Generator()), x, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(SPECS))
def test_same_seed_same_batch_and_input_untouched(name: str) -> None:
    x = _images()
    before = x.clone()
    a, b = Augmenter(SPECS[name], seed=3), Augmenter(SPECS[name], seed=3)
    first, second = a(x), b(x)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert first.shape == x.shape and first.dtype == x.dtype
    torch.testing.assert_close(x, before, rtol=0, atol=0)  # a copy, never in place
    assert not torch.equal(first, x)  # with 16 images something changed
    assert not torch.equal(a(x), first)  # the next batch gets new draws
    assert not torch.equal(Augmenter(SPECS[name], seed=4)(x), first)


def test_flip_is_an_exact_mirror_of_some_images() -> None:
    x = _images(n=64)
    out = Augmenter(AugmentSpec(flip=True), seed=0)(x)
    same = [torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert 16 < sum(mirrored) < 48  # about half


def test_crop_is_an_integer_shift_with_zero_fill() -> None:
    x = torch.arange(1, 1 + 4 * 6 * 6, dtype=torch.float32).reshape(4, 1, 6, 6)
    out = Augmenter(AugmentSpec(crop=2), seed=1)(x)
    for o, i in zip(out, x, strict=True):
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.zeros_like(i)
                src = i[:, max(dy, 0) : 6 + min(dy, 0), max(dx, 0) : 6 + min(dx, 0)]
                shifted[:, max(-dy, 0) : 6 + min(-dy, 0), max(-dx, 0) : 6 + min(-dx, 0)] = src
                found |= torch.equal(o, shifted)
        assert found


def test_rotation_keeps_the_centre_pixel_of_an_odd_image() -> None:
    x = torch.zeros(8, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    out = Augmenter(AugmentSpec(rotate=30.0), seed=0)(x)
    torch.testing.assert_close(out[:, :, 4, 4], x[:, :, 4, 4], atol=1e-5, rtol=0)


def test_color_shift_is_one_constant_per_image_and_channel_within_bounds() -> None:
    x = _images()
    out = Augmenter(AugmentSpec(color=0.25), seed=0)(x)
    shift = out - x  # (B, C, H, W), constant over H, W
    per = shift[:, :, :1, :1]
    torch.testing.assert_close(shift, per.expand_as(shift), atol=1e-6, rtol=0)
    assert per.abs().max() <= 0.25


def test_settings_are_validated() -> None:
    for bad in ({"augment_crop": -1}, {"augment_rotate": -5.0}, {"augment_shear": 90.0}):
        with pytest.raises(ValidationError):
            TrainConfig(**bad)


class _Recorder(nn.Module):
    """A tiny CNN that records every batch it sees in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.out = nn.Linear(2 * 6 * 6, 3)
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(x.detach().clone())
        return self.out(torch.relu(self.conv(x)).flatten(1))


def _data(seed: int = 0) -> TrainData:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(40, 1, 6, 6, generator=g)
    y = torch.randint(0, 3, (40,), generator=g)
    return TrainData(train=(X, y), evals={"dev": (X[:20].clone(), y[:20].clone())})


def test_fit_augments_training_batches_only() -> None:
    data = _data()
    dev_before = data.evals["dev"][0].clone()
    cfg = TrainConfig(epochs=2, batch_size=8, augment_flip=True, augment_crop=1, device="cpu")
    torch.manual_seed(0)
    model = _Recorder()
    result = fit(model, data, cfg, task="multiclass")
    torch.testing.assert_close(data.evals["dev"][0], dev_before, rtol=0, atol=0)
    # every training batch the model saw differs from the raw rows it was drawn from
    raw = {tuple(r.flatten().tolist()) for r in data.train[0]}
    seen = torch.cat(model.seen)
    assert sum(tuple(r.flatten().tolist()) not in raw for r in seen) > len(seen) // 2
    # dev_error was measured on the raw dev set: re-evaluating gives the same number
    model.eval()
    Xd, yd = data.evals["dev"]
    with torch.no_grad():
        err = (model(Xd).argmax(1) != yd).float().mean().item()
    assert result.final["dev_error"] == pytest.approx(err)


def test_fit_with_augmentation_is_reproducible_and_off_means_unchanged_shuffles() -> None:
    def run(**aug) -> list[float]:
        torch.manual_seed(0)
        cfg = TrainConfig(epochs=2, batch_size=8, device="cpu", **aug)
        return [h["train_loss"] for h in fit(_Recorder(), _data(), cfg, task="multiclass").history]

    assert run(augment_rotate=15.0) == run(augment_rotate=15.0)
    assert run(augment_rotate=15.0) != run()


def test_augmentation_of_vectors_is_an_error() -> None:
    X = torch.randn(10, 4)
    data = TrainData(train=(X, torch.randint(0, 2, (10,))))
    model = nn.Linear(4, 2)
    with pytest.raises(UserError, match="needs image inputs"):
        fit(model, data, TrainConfig(epochs=1, augment_flip=True, device="cpu"), task="multiclass")
