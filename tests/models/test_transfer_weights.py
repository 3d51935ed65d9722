"""Transfer learning: a checkpoint's weights, a new output layer, frozen layers, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from sweeplab.errors import UserError
from sweeplab.models import MODELS, build_model
from sweeplab.models._transfer import (
    apply_transfer,
    output_layer_name,
    save_checkpoint,
    set_trainable,
    transfer_weights,
)
from sweeplab.tasks import TASKS
from sweeplab.tasks.classification import Classification
from sweeplab.tracking import load_checkpoint
from sweeplab.training import TrainConfig, TrainData, fit

# the tasks whose models are not classifiers (detection, segmentation, …)
VISION_TASKS = {t for t in TASKS if not isinstance(TASKS.get(t), Classification)}

# the output layer of every registry model, by name: a new model is caught here
HEADS = {
    "alexnet": "head.out",
    "inception": "fc",
    "lenet5": "head.out",
    "logreg": "linear",
    "mlp": "out",
    "resnet": "fc",
    "softmax": "linear",
    "vgg": "head.out",
    "window_classifier": "fc.6",
}


def _build(name: str, outputs: int, seed: int = 0, **args) -> torch.nn.Module:
    spec = MODELS.get(name)
    torch.manual_seed(seed)
    n = 1 if "multiclass" not in spec.tasks else outputs
    return build_model(name, args, input_shape=spec.example_input, num_outputs=n)


@pytest.mark.parametrize(
    "name",
    MODELS.names(lambda s: not set(s.tasks) & VISION_TASKS),
)
def test_every_registry_model_names_its_output_layer(name: str) -> None:
    model = _build(name, 10)
    head = output_layer_name(model)
    assert head == HEADS[name]
    layer = model.get_submodule(head)
    spec = MODELS.get(name)
    out = model.eval()(torch.randn(2, *spec.example_input))
    # A linear layer's outputs, or a fully convolutional network's last conv's channels
    width = layer.out_features if isinstance(layer, torch.nn.Linear) else layer.out_channels
    assert width == out.shape[-1]


@pytest.mark.parametrize("name", [n for n in MODELS.names() if "multiclass" in MODELS.get(n).tasks])
def test_transfer_copies_all_but_the_output_layer(name: str, tmp_path: Path) -> None:
    pre = _build(name, 10, seed=1)
    path = save_checkpoint(pre, tmp_path / "ck.pt")
    state = load_checkpoint(str(path))  # weights_only=True
    new = _build(name, 4, seed=2)
    fresh_head = {
        k: v.clone() for k, v in new.state_dict().items() if k.startswith(HEADS[name] + ".")
    }
    assert transfer_weights(new, state) == HEADS[name]
    for k, v in new.state_dict().items():
        if k.startswith(HEADS[name] + "."):
            torch.testing.assert_close(v, fresh_head[k], rtol=0, atol=0)  # the new layer
            assert v.shape[0] == 4
        else:
            torch.testing.assert_close(v, pre.state_dict()[k], rtol=0, atol=0)


def test_checkpoint_loads_by_relative_path_and_rejects_non_state_dicts(tmp_path: Path) -> None:
    save_checkpoint(_build("mlp", 3), tmp_path / "runs" / "a.pt")
    assert "out.weight" in load_checkpoint("runs/a.pt", base_dir=tmp_path)
    torch.save({"model": "mlp", "state": [1, 2]}, tmp_path / "bad.pt")
    with pytest.raises(UserError, match="not a state_dict"):
        load_checkpoint("bad.pt", base_dir=tmp_path)
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_checkpoint("junk.pt", base_dir=tmp_path)
    with pytest.raises(UserError, match="neither a file"):
        load_checkpoint("missing.pt", base_dir=tmp_path)


def test_a_checkpoint_of_another_architecture_is_a_clear_error() -> None:
    state = _build("lenet5", 10, conv1_filters=8).state_dict()
    with pytest.raises(UserError, match=r"does not fit 'lenet5'.*another shape.*conv1"):
        transfer_weights(_build("lenet5", 10), state, model_name="'lenet5'")
    with pytest.raises(UserError, match=r"missing in the checkpoint.*not in the model"):
        transfer_weights(_build("resnet", 10), state)


def _trainable(model: torch.nn.Module) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_backbone_trains_only_the_new_layer() -> None:
    model = _build("lenet5", 10)
    n = set_trainable(model, "freeze_backbone")
    assert _trainable(model) == {"head.out.weight", "head.out.bias"}
    assert n == sum(p.numel() for p in model.head.out.parameters())


def test_fine_tune_last_k_counts_conv_and_linear_layers_from_the_output() -> None:
    model = _build("lenet5", 10)
    set_trainable(model, "fine_tune_last_k", last_k=3)
    assert {n.rsplit(".", 1)[0] for n in _trainable(model)} == {"head.fc1", "head.fc2", "head.out"}
    set_trainable(model, "fine_tune_all")
    assert _trainable(model) == {n for n, _ in model.named_parameters()}
    with pytest.raises(UserError, match="fine_tune_last_k <= 5"):
        set_trainable(model, "fine_tune_last_k", last_k=6)
    with pytest.raises(UserError, match="unknown transfer mode"):
        set_trainable(model, "freeze_everything")


def test_frozen_backbone_keeps_its_weights_through_fit() -> None:
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 3, (64,), generator=g)
    args = {"padding": "same"}
    pre = build_model("lenet5", args, input_shape=(1, 8, 8), num_outputs=10)
    torch.manual_seed(5)
    model = build_model("lenet5", args, input_shape=(1, 8, 8), num_outputs=3)
    apply_transfer(model, pre.state_dict(), mode="freeze_backbone")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=2, batch_size=16, learning_rate=1e-2, l2=1e-3, device="cpu")
    fit(model, TrainData(train=(X, y)), cfg, task="multiclass")
    for k, v in model.state_dict().items():
        if k.startswith("head.out."):
            assert not torch.equal(v, before[k])
        else:
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_train_config_rejects_transfer_settings_that_would_be_ignored() -> None:
    with pytest.raises(ValidationError, match="needs a checkpoint"):
        TrainConfig(transfer="freeze_backbone")
    with pytest.raises(ValidationError, match="fine_tune_last_k is used only"):
        TrainConfig(init_from="a.pt", fine_tune_last_k=2)
    cfg = TrainConfig(init_from="a.pt", transfer="fine_tune_last_k", fine_tune_last_k=2)
    assert cfg.fine_tune_last_k == 2


def test_scratch_keeps_the_fresh_initialization_and_trains_every_layer() -> None:
    pre = _build("lenet5", 10, seed=1)
    model = _build("lenet5", 10, seed=2)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    n = apply_transfer(model, pre.state_dict(), mode="scratch")
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, fresh[k], rtol=0, atol=0)  # the checkpoint is not read
    assert n == sum(p.numel() for p in model.parameters())
    assert _trainable(model) == {name for name, _ in model.named_parameters()}
    apply_transfer(model, {}, mode="scratch")  # not even its keys: a baseline needs no fit


def test_scratch_needs_init_from_to_mean_something() -> None:
    with pytest.raises(ValidationError, match="transfer='scratch' ignores init_from, but"):
        TrainConfig(transfer="scratch")
    assert TrainConfig(init_from="best:pre", transfer="scratch").transfer == "scratch"
