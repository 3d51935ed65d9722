"""logreg and softmax, plus checks every vector model of this file's family must pass."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from sweeplab.errors import UserError
from sweeplab.models import MODELS, build_model

VECTOR_MODELS = ["logreg", "softmax", "mlp"]  # registered by models/_linear.py and _mlp.py


def _build(name: str, **args):
    spec = MODELS.get(name)
    return build_model(name, args, input_shape=spec.example_input, num_outputs=spec.example_outputs)


@pytest.mark.parametrize("name", VECTOR_MODELS)
def test_registered_with_tasks_and_documented_args(name: str) -> None:
    spec = MODELS.get(name)
    assert spec.input_kind == "vector"
    assert set(spec.tasks) <= {"binary", "multiclass", "multilabel"} and spec.tasks
    assert spec.description
    for field_name, info in spec.args.model_fields.items():
        assert info.description, f"{name}.{field_name} has no description for the docs"


@pytest.mark.parametrize("name", VECTOR_MODELS)
def test_unknown_arg_is_rejected(name: str) -> None:
    with pytest.raises(UserError, match="model"):
        _build(name, not_an_arg=1)


@pytest.mark.parametrize("name", VECTOR_MODELS)
def test_output_shape_and_flattened_images(name: str) -> None:
    spec = MODELS.get(name)
    torch.manual_seed(0)
    model = _build(name).eval()
    x = torch.randn(7, *spec.example_input)
    assert model(x).shape == (7, spec.example_outputs)
    # The same features given as an image-shaped tensor give the same logits.
    d = spec.example_input[0]
    model_img = build_model(name, {}, input_shape=(1, 1, d), num_outputs=spec.example_outputs)
    model_img.load_state_dict(model.state_dict())
    model_img.eval()
    torch.testing.assert_close(model_img(x.reshape(7, 1, 1, d)), model(x))


@pytest.mark.parametrize("name", VECTOR_MODELS)
def test_returns_unbounded_logits_not_probabilities(name: str) -> None:
    spec = MODELS.get(name)
    torch.manual_seed(0)
    args = {"init": "he"}
    model = _build(name, **args).eval()
    out = model(100.0 * torch.randn(64, *spec.example_input))
    assert (out.abs() > 1.0).any(), "forward must not squash logits into [0, 1]"


@pytest.mark.parametrize("name", ["logreg", "softmax"])
def test_linear_model_is_affine_map_with_zero_init_by_default(name: str) -> None:
    spec = MODELS.get(name)
    model = _build(name)
    assert torch.count_nonzero(model.linear.weight) == 0
    assert torch.count_nonzero(model.linear.bias) == 0
    torch.manual_seed(1)
    with torch.no_grad():
        model.linear.weight.normal_()
        model.linear.bias.normal_()
    x = torch.randn(5, *spec.example_input)
    expected = x @ model.linear.weight.T + model.linear.bias
    torch.testing.assert_close(model(x), expected)


def test_logreg_has_one_logit_and_rejects_more() -> None:
    assert MODELS.get("logreg").tasks == ("binary",)
    model = build_model("logreg", {}, input_shape=(30,), num_outputs=1)
    assert model(torch.randn(3, 30)).shape == (3, 1)
    with pytest.raises(UserError, match="num_outputs == 1"):
        build_model("logreg", {}, input_shape=(30,), num_outputs=2)


def test_softmax_needs_two_classes() -> None:
    assert MODELS.get("softmax").tasks == ("multiclass",)
    with pytest.raises(UserError, match="num_outputs >= 2"):
        build_model("softmax", {}, input_shape=(30,), num_outputs=1)


def test_linear_args_reject_unknown_init() -> None:
    from sweeplab.models._linear import LinearArgs

    with pytest.raises(ValidationError):
        LinearArgs(init="kaiming")
